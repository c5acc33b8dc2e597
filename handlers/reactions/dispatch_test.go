package reactions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Killed between deciding and dispatching: the actions are in the log,
// the dispatcher has published none; after a restart every decided action
// is dispatched exactly once (by Nats-Msg-Id at the subscriber). Killed
// again after JetStream acknowledged some but before the position was
// written: they are published again and JetStream's dedupe stores each
// once.
func TestKillBetweenDecideAndDispatch(t *testing.T) {
	g := newRig(t)
	g.clock.Set(t0.Add(11 * day))
	r := g.open(journeyConfig, false) // the dispatcher never ran
	g.append(journeyEvents(t)...)
	g.settle(r)
	if err := r.Close(); err != nil { // the "kill"
		t.Fatal(err)
	}
	if got := g.received(); len(got) != 0 {
		t.Fatalf("dispatched before the restart: %v", got)
	}
	r = g.open(journeyConfig, true)
	stop := g.start(r)
	g.waitReceived(4)
	stop()

	// Four more decided; the dispatcher dies after two acks.
	for _, c := range []string{"F", "G", "H", "I"} {
		g.append(purchase(t, c+"1", c, t0.Add(11*day)), purchase(t, c+"2", c, t0.Add(11*day+time.Hour)))
	}
	r = g.open(journeyConfig, true)
	g.settle(r)
	n := 0
	afterPublish = func(string) error {
		if n++; n == 2 {
			return errors.New("killed")
		}
		return nil
	}
	ctx := context.Background()
	if err := ProvisionStream(ctx, g.js, ""); err != nil {
		t.Fatal(err)
	}
	pos, _, _ := getSeq(r.db, keyDispatched)
	if err := r.dispatch(ctx, pos+1, g.store.DurableSeq()); err == nil {
		t.Fatal("the killed pass wrote its position")
	}
	afterPublish = nil
	r.Close()
	r = g.open(journeyConfig, true)
	defer r.Close()
	g.dispatchAll(r)
	natstest_wait(t, g, 8)
	s, err := g.js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 8 {
		t.Fatalf("the stream holds %d actions, want 8 (each once)", info.State.Msgs)
	}
	// A JetStream consumer sees each id once.
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(100, jetstream.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for m := range batch.Messages() {
		ids[m.Headers().Get(jetstream.MsgIDHeader)]++
	}
	if len(ids) != 8 {
		t.Fatalf("consumer saw %d ids: %v", len(ids), ids)
	}
	for id, k := range ids {
		if k != 1 {
			t.Errorf("consumer saw %s %d times", id, k)
		}
	}
}

// natstest_wait waits until n distinct ids arrived at the core subscriber.
func natstest_wait(t *testing.T, g *rig, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(g.received()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(g.received()); got != n {
		t.Fatalf("%d ids received, want %d", got, n)
	}
}
