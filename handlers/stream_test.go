package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/natstest"
)

// TestProvision: the stream and the durable consumer are created under
// the configured names when missing, and left exactly as an operator tuned
// them when present; a stream that also holds other subjects gets a
// filtered consumer.
func TestProvision(t *testing.T) {
	ctx := context.Background()
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	if err != nil {
		t.Fatal(err)
	}
	o := handlers.StreamOptions{Stream: "TILLS", SubjectPrefix: "shop.events", Consumer: "engine-2",
		DedupeWindow: 5 * time.Minute, AckWait: 20 * time.Second, MaxAckPending: 500}
	cons, err := handlers.Provision(ctx, js, o)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "TILLS")
	if err != nil {
		t.Fatal(err)
	}
	sc := st.CachedInfo().Config
	if len(sc.Subjects) != 1 || sc.Subjects[0] != "shop.events.*" || sc.Storage != jetstream.FileStorage || sc.Duplicates != 5*time.Minute {
		t.Fatalf("stream created as %+v", sc)
	}
	cc := cons.CachedInfo().Config
	if cc.Durable != "engine-2" || cc.AckPolicy != jetstream.AckExplicitPolicy || cc.AckWait != 20*time.Second ||
		cc.MaxAckPending != 500 || cc.FilterSubject != "" || cc.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Fatalf("consumer created as %+v", cc)
	}

	// An operator tunes both; provisioning again (other options) keeps them.
	sc.MaxMsgs, sc.MaxAge = 1_000_000, 90*24*time.Hour
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	cc.AckWait, cc.MaxAckPending = time.Minute, 2000
	if _, err := js.UpdateConsumer(ctx, "TILLS", cc); err != nil {
		t.Fatal(err)
	}
	o.DedupeWindow, o.AckWait, o.MaxAckPending = time.Minute, 5*time.Second, 10
	cons, err = handlers.Provision(ctx, js, o)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = js.Stream(ctx, "TILLS"); err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config; got.MaxMsgs != 1_000_000 || got.MaxAge != 90*24*time.Hour || got.Duplicates != 5*time.Minute {
		t.Fatalf("stream changed by a second Provision: %+v", got)
	}
	if got := cons.CachedInfo().Config; got.AckWait != time.Minute || got.MaxAckPending != 2000 {
		t.Fatalf("consumer changed by a second Provision: %+v", got)
	}

	// An operator's stream with other subjects too: the consumer filters.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MIXED", Subjects: []string{"mixed.events.*", "mixed.audit"}}); err != nil {
		t.Fatal(err)
	}
	cons, err = handlers.Provision(ctx, js, handlers.StreamOptions{Stream: "MIXED", SubjectPrefix: "mixed.events"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.CachedInfo().Config; got.FilterSubject != "mixed.events.*" || got.Durable != handlers.DefaultConsumer {
		t.Fatalf("consumer on a mixed stream: %+v", got)
	}
}
