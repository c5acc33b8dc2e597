package reactions

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/keystore"
)

// A customer forgotten while a dispatch pass holds their decided action
// (read from the log, not yet published) is not dispatched: the pass
// publishes A's thank-you, B is forgotten (the log's key destroyed, then
// the reactions' Forget, as privacy.Engine.Forget does), and B's
// thank-you, next in the same pass, is neither published nor stored in
// the actions stream; a later pass skips it too. (Before, the pass sent
// what it had read: B's id and message reached the stream after the
// forget had erased it.)
func TestForgetDuringDispatch(t *testing.T) {
	ks, err := keystore.OpenDataDir(t.TempDir(), keystore.DataDirOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	g := newRigSealed(t, ks)
	g.clock.Set(t0.Add(2 * time.Hour))
	r := g.open(journeyConfig, true)
	defer r.Close()
	g.append(purchase(t, "a1", "A", t0), purchase(t, "a2", "A", t0.Add(time.Hour)))
	g.append(purchase(t, "b1", "B", t0), purchase(t, "b2", "B", t0.Add(time.Hour)))
	g.settle(r) // A's thank-you, then B's, in the log; none dispatched
	ctx := context.Background()
	forgot := false
	afterPublish = func(id string) error {
		if id != ActionID("a2", KindThankYou) || forgot {
			return nil
		}
		forgot = true
		if _, err := g.store.Forget(ctx, "B", "art. 17"); err != nil {
			return err
		}
		return r.Forget(ctx, "B")
	}
	defer func() { afterPublish = nil }()
	g.dispatchAll(r)
	afterPublish = nil
	if !forgot {
		t.Fatal("A's thank-you was not dispatched")
	}
	g.dispatchAll(r) // nothing left
	got := g.waitReceived(1)
	if got[ActionID("b2", KindThankYou)] != 0 {
		t.Fatalf("B's thank-you was dispatched after B was forgotten: %v", got)
	}
	s, err := g.js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if strings.Contains(string(m.Data()), `"B"`) {
			t.Errorf("the actions stream holds a message of the forgotten B: %s", m.Data())
		}
	}
	if n != 1 {
		t.Fatalf("the actions stream holds %d messages, want 1 (A's)", n)
	}
	if _, d, err := r.Positions(); err != nil || d != g.store.DurableSeq() {
		t.Fatalf("dispatched position %d (%v), want the log's head %d", d, err, g.store.DurableSeq())
	}
}
