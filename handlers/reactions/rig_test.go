package reactions

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/natstest"
	"github.com/journey-cdp/journey/projections"
)

// fakeClock is the rig's "now", shared by the log, the views and the
// reactions.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// rig is a data dir with a log, views, an embedded NATS and a subscriber
// on journey.actions.> that counts what it receives by Nats-Msg-Id.
type rig struct {
	t     *testing.T
	dir   string
	clock *fakeClock
	store *eventstore.Store
	views *projections.Views
	srv   *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream

	mu   sync.Mutex
	got  map[string]int     // Nats-Msg-Id → times received
	msgs map[string]Request // by action id
	subj map[string]string  // action id → subject
}

var t0 = time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)

func newRig(t *testing.T) *rig { return newRigSealed(t, nil) }

// newRigSealed is newRig with its log sealed by sealer (nil: plaintext).
func newRigSealed(t *testing.T, sealer eventstore.Sealer) *rig {
	t.Helper()
	g := &rig{t: t, dir: t.TempDir(), clock: &fakeClock{}, got: map[string]int{}, msgs: map[string]Request{}, subj: map[string]string{}}
	g.clock.Set(t0)
	var err error
	g.store, err = eventstore.Open(filepath.Join(g.dir, "log"), &eventstore.Options{Clock: g.clock.Now, NoSync: true, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.store.Close() })
	g.views, err = projections.Open(g.dir, g.store, &projections.Options{Clock: g.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.views.Close() })
	g.srv = natstest.RunServer(t)
	g.nc = natstest.Connect(t, g.srv)
	if g.js, err = jetstream.New(g.nc); err != nil {
		t.Fatal(err)
	}
	sub, err := g.nc.Subscribe(SubjectPrefix+">", func(m *nats.Msg) {
		var req Request
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("action message %q: %v", m.Data, err)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		id := m.Header.Get(jetstream.MsgIDHeader)
		g.got[id]++
		g.msgs[id] = req
		g.subj[id] = m.Subject
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return g
}

// open opens the reactions of the rig's data dir (dispatching when
// dispatch is set).
func (g *rig) open(cfg Config, dispatch bool) *Reactor {
	g.t.Helper()
	o := Options{Store: g.store, Views: g.views, Dir: filepath.Join(g.dir, "reactions"), Config: cfg, Clock: g.clock.Now,
		PollEvery: 5 * time.Millisecond, SweepEvery: time.Hour}
	if dispatch {
		o.JetStream = g.js
	}
	r, err := Open(o)
	if err != nil {
		g.t.Fatal(err)
	}
	return r
}

// start runs r (and the views' Follow) until the returned stop is called.
func (g *rig) start(r *Reactor) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := g.views.Follow(ctx); err != nil && ctx.Err() == nil {
			g.t.Errorf("views: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := r.Run(ctx); err != nil {
			g.t.Errorf("reactions: %v", err)
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		if err := r.Close(); err != nil {
			g.t.Error(err)
		}
	}
}

// ev builds one touchpoint.
func ev(t *testing.T, id string, kind journey.Kind, c string, at time.Time, data map[string]any) *journey.Event {
	t.Helper()
	raw, err := journey.NewEvent(id, "pos/store-1/till-1", kind, c, at, data)
	if err != nil {
		t.Fatal(err)
	}
	e, err := journey.DecodeStored(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func purchase(t *testing.T, id, c string, at time.Time) *journey.Event {
	return ev(t, id, journey.KindPurchase, c, at, map[string]any{"order_id": "o-" + id, "amount": "20.00", "currency": "EUR"})
}

// append appends events as the ingest does, and returns how many were new.
func (g *rig) append(evs ...*journey.Event) int {
	g.t.Helper()
	reqs := make([]eventstore.Request, len(evs))
	for i, e := range evs {
		reqs[i] = eventstore.Request{Event: e, ExpectedVersion: eventstore.AnyVersion}
	}
	res, err := g.store.Append(context.Background(), reqs)
	if err != nil {
		g.t.Fatal(err)
	}
	n := 0
	for _, x := range res {
		if x.Err != nil {
			g.t.Fatal(x.Err)
		}
		if !x.Duplicate {
			n++
		}
	}
	return n
}

// settle drives r by hand: the views catch up, r decides, until nothing
// moves; then the views fold the action records.
func (g *rig) settle(r *Reactor) {
	g.t.Helper()
	ctx := context.Background()
	for {
		if _, err := g.views.CatchUp(ctx); err != nil {
			g.t.Fatal(err)
		}
		n, err := r.Step(ctx)
		if err != nil {
			g.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := g.views.CatchUp(ctx); err != nil {
		g.t.Fatal(err)
	}
}

// received returns a copy of the counts by Nats-Msg-Id.
func (g *rig) received() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.got))
	for k, v := range g.got {
		out[k] = v
	}
	return out
}

// waitReceived waits until n distinct actions arrived, then a little
// longer to catch any repeat, and fails on a repeat.
func (g *rig) waitReceived(n int) map[string]int {
	g.t.Helper()
	natstest.WaitFor(g.t, 10*time.Second, func() error {
		if got := len(g.received()); got < n {
			return fmt.Errorf("%d actions received, want %d", got, n)
		}
		return nil
	})
	g.nc.Flush()
	time.Sleep(50 * time.Millisecond)
	got := g.received()
	if len(got) != n {
		g.t.Fatalf("%d actions received, want %d: %v", len(got), n, got)
	}
	for id, k := range got {
		if k != 1 {
			g.t.Errorf("action %s received %d times", id, k)
		}
	}
	return got
}

// byKind counts the received actions by kind.
func (g *rig) byKind() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int{}
	for _, m := range g.msgs {
		out[m.Kind]++
	}
	return out
}

// dispatchAll runs the dispatcher until it has caught up with the log.
func (g *rig) dispatchAll(r *Reactor) {
	g.t.Helper()
	ctx := context.Background()
	if err := ProvisionStream(ctx, g.js, ""); err != nil {
		g.t.Fatal(err)
	}
	for _, l := range r.lanes {
		for {
			pos, _, err := getSeq(r.db, l.key)
			if err != nil {
				g.t.Fatal(err)
			}
			head := g.store.DurableSeq()
			if pos >= head {
				break
			}
			if err := r.dispatchLane(ctx, l, pos+1, head); err != nil {
				g.t.Fatal(err)
			}
		}
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
