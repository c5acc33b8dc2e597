package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/natstest"
)

// rig is a real engine core for a test: an in-process NATS server with
// JetStream, a store on disk, the stream and consumer, and a running
// Ingester, all torn down when the test ends (ingester first).
type rig struct {
	srv     *server.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	store   *eventstore.Store
	cons    jetstream.Consumer
	metrics *handlers.Metrics
	in      *handlers.Ingester
	stop    func()
	done    chan error // Run's result
	// expectErr: the test makes Run fail on purpose.
	expectErr bool
}

func newRig(t *testing.T) *rig { t.Helper(); return newRigStore(t, t.TempDir(), nil) }

// newRigStore is newRig with the store in dir opened with opts.
func newRigStore(t *testing.T, dir string, opts *eventstore.Options) *rig {
	t.Helper()
	return newRigWith(t, rigConfig{dir: dir, opts: opts})
}

// rigConfig varies a rig: its server (nil: natstest.RunServer), the
// store's dir ("": t.TempDir()) and options, and the ingester's options,
// which ingest may edit before the ingester starts.
type rigConfig struct {
	srv    *server.Server
	dir    string
	opts   *eventstore.Options
	ingest func(r *rig, o *handlers.IngestOptions)
}

func newRigWith(t *testing.T, c rigConfig) *rig {
	t.Helper()
	r := &rig{srv: c.srv}
	if r.srv == nil {
		r.srv = natstest.RunServer(t)
	}
	dir, opts := c.dir, c.opts
	if dir == "" {
		dir = t.TempDir()
	}
	r.nc = natstest.Connect(t, r.srv)
	var err error
	if r.js, err = jetstream.New(r.nc); err != nil {
		t.Fatal(err)
	}
	if r.store, err = eventstore.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.store.Close(); err != nil && !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("store close: %v", err)
		}
	})
	ctx := context.Background()
	if r.cons, err = handlers.Provision(ctx, r.js, handlers.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	r.metrics = handlers.NewMetrics()
	io := handlers.IngestOptions{Metrics: r.metrics, LagEvery: 50 * time.Millisecond}
	if c.ingest != nil {
		c.ingest(r, &io)
	}
	in := handlers.NewIngester(r.store, r.nc, r.cons, io)
	r.in = in
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(rctx) }()
	r.done = done
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !r.expectErr {
			t.Errorf("ingester Run: %v", err)
		}
	}
	t.Cleanup(r.stop)
	return r
}

// settle waits until the consumer has nothing pending or unacked and the
// log's durable head is want.
func (r *rig) settle(t *testing.T, want uint64) {
	t.Helper()
	natstest.WaitFor(t, 60*time.Second, func() error {
		info, err := r.cons.Info(context.Background())
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer pending=%d ack_pending=%d", info.NumPending, info.NumAckPending)
		}
		if got := r.store.DurableSeq(); got != want {
			return fmt.Errorf("durable seq %d, want %d", got, want)
		}
		return nil
	})
}

// value reads a counter or gauge.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("not a counter or gauge: %v", c.Desc())
	return 0
}

// publishOne publishes one event as a till would: to its customer's
// subject, with handlers.MsgID (id and digest) as Nats-Msg-Id.
func (r *rig) publishOne(t *testing.T, raw []byte) {
	t.Helper()
	ev, err := journey.Decode(raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.js.Publish(context.Background(), "journey.events."+ev.Subject, raw, jetstream.WithMsgID(handlers.MsgID(ev.ID, raw))); err != nil {
		t.Fatal(err)
	}
}

// wantPosition checks the stream position committed in the log at dir
// (the store closed), reopening it.
func wantPosition(t *testing.T, dir string, want uint64) {
	t.Helper()
	s, err := eventstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Position("nats:" + handlers.DefaultStream); err != nil || got != want {
		t.Fatalf("stream position in the log %d (%v), want %d", got, err, want)
	}
}

// wantRunErr waits for the ingester's Run to stop with an error that is
// target.
func (r *rig) wantRunErr(t *testing.T, target error) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup, which expects it (expectErr)
		if !errors.Is(err, target) {
			t.Fatalf("Run returned %v, want %v", err, target)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run went on; want it to stop with %v", target)
	}
}
