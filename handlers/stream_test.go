package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/natstest"
)

// TestProvision: the stream (limits retention, a max age: 7 days by
// default) and the durable consumer (acking nothing) are created under the
// configured names when missing, and the stream left exactly as an
// operator tuned it when present; a stream that also holds other subjects
// gets a filtered consumer.
func TestProvision(t *testing.T) {
	ctx := context.Background()
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	if err != nil {
		t.Fatal(err)
	}
	o := handlers.StreamOptions{Stream: "TILLS", SubjectPrefix: "shop.events", Consumer: "engine-2",
		DedupeWindow: 5 * time.Minute}
	cons, err := handlers.Provision(ctx, js, o)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "TILLS")
	if err != nil {
		t.Fatal(err)
	}
	sc := st.CachedInfo().Config
	if len(sc.Subjects) != 1 || sc.Subjects[0] != "shop.events.*" || sc.Storage != jetstream.FileStorage || sc.Duplicates != 5*time.Minute ||
		sc.Retention != jetstream.LimitsPolicy || sc.MaxAge != handlers.DefaultStreamMaxAge {
		t.Fatalf("stream created as %+v", sc)
	}
	cc := cons.CachedInfo().Config
	if cc.Durable != "engine-2" || cc.AckPolicy != jetstream.AckNonePolicy || cc.FilterSubject != "" || cc.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Fatalf("consumer created as %+v", cc)
	}

	// An operator tunes the stream; provisioning again (other options) keeps it.
	sc.MaxMsgs, sc.MaxAge = 1_000_000, 90*24*time.Hour
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	o.DedupeWindow, o.MaxAge = time.Minute, time.Hour
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
	if got := cons.CachedInfo().Config; got.Durable != "engine-2" {
		t.Fatalf("consumer after a second Provision: %+v", got)
	}
	// MaxAge negative: no limit.
	if _, err := handlers.Provision(ctx, js, handlers.StreamOptions{Stream: "FOREVER", SubjectPrefix: "forever.events", MaxAge: -1}); err != nil {
		t.Fatal(err)
	}
	if st, err = js.Stream(ctx, "FOREVER"); err != nil || st.CachedInfo().Config.MaxAge != 0 {
		t.Fatalf("stream with MaxAge -1: %v %v", st, err)
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
