package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/ingestbench"
	"github.com/journey-cdp/journey/internal/natstest"
)

// withJetStream lets the rig's ingester provision again (as serve's does).
func withJetStream(r *rig, o *handlers.IngestOptions) { o.JetStream = r.js }

// publishN publishes evs through journey's publisher, all acknowledged.
func (r *rig) publishN(t *testing.T, evs [][]byte) {
	t.Helper()
	sum, err := handlers.Publish(context.Background(), r.nc, bytes.NewReader(ingestbench.JSONL(evs)), handlers.PublishOptions{})
	if err != nil || sum.Published != len(evs) || sum.Failed != 0 {
		t.Fatalf("publish: %+v %v", sum, err)
	}
}

// TestIngestConsumerDeleted deletes the consumer under a running
// ingester: it recreates it (logged, journey_ingest_recoveries_total), from
// just after what it had acked, and the events published after the
// deletion reach the log, once; the consumer deleted and the stream too,
// it recreates both. Without JetStream to provision with, Run stops with
// ErrConsumerGone instead of running on without ingesting.
func TestIngestConsumerDeleted(t *testing.T) {
	ctx := context.Background()
	evs, err := ingestbench.Events(30, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("recreated", func(t *testing.T) {
		r := newRigWith(t, rigConfig{ingest: withJetStream})
		r.publishN(t, evs[:10])
		r.settle(t, 10)
		time.Sleep(200 * time.Millisecond) // a poll reads the ack floor
		if err := r.js.DeleteConsumer(ctx, handlers.DefaultStream, handlers.DefaultConsumer); err != nil {
			t.Fatal(err)
		}
		r.publishN(t, evs[10:20])
		r.settle(t, 20)
		if v := value(t, r.metrics.Recoveries.WithLabelValues("consumer_recreated")); v != 1 {
			t.Fatalf("consumer_recreated=%v, want 1", v)
		}
		info, err := r.cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || info.Config.OptStartSeq != 11 ||
			info.Config.AckPolicy != jetstream.AckExplicitPolicy {
			t.Fatalf("recreated consumer %+v, want explicit acks from stream seq 11", info.Config)
		}
		if v := value(t, r.metrics.Duplicates); v != 0 {
			t.Fatalf("%v duplicates: the recreated consumer redelivered what was acked", v)
		}

		// The stream too: both are recreated, the new stream from seq 1.
		if err := r.js.DeleteStream(ctx, handlers.DefaultStream); err != nil {
			t.Fatal(err)
		}
		natstest.WaitFor(t, 30*time.Second, func() error {
			if v := value(t, r.metrics.Recoveries.WithLabelValues("stream_recreated")); v != 1 {
				return fmt.Errorf("stream_recreated=%v", v)
			}
			return nil
		})
		r.publishN(t, evs[20:])
		r.settle(t, 30)
		rep, err := r.store.Verify(ctx, nil)
		if err != nil || !rep.OK || rep.Events != 30 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		if err := r.in.Ready(); err != nil {
			t.Fatalf("Ready after the recovery: %v", err)
		}
	})
	t.Run("no JetStream: Run stops", func(t *testing.T) {
		r := newRig(t)
		r.expectErr = true
		r.publishN(t, evs[:5])
		r.settle(t, 5)
		if err := r.js.DeleteConsumer(ctx, handlers.DefaultStream, handlers.DefaultConsumer); err != nil {
			t.Fatal(err)
		}
		r.wantRunErr(t, handlers.ErrConsumerGone)
	})
}

// TestIngestStopHandsBack stops an ingester in the middle of a backlog:
// what it had fetched and not appended is nak'ed without delay on the way
// out, so that a new ingester takes all of it at once instead of after
// AckWait (30s).
func TestIngestStopHandsBack(t *testing.T) {
	const n = 5000
	evs, err := ingestbench.Events(n, 300, 11)
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, rigConfig{ingest: func(_ *rig, o *handlers.IngestOptions) { o.BatchSize = 50 }})
	r.publishN(t, evs)
	natstest.WaitFor(t, 30*time.Second, func() error {
		if got := r.store.DurableSeq(); got < 500 {
			return fmt.Errorf("durable seq %d", got)
		}
		return nil
	})
	r.stop()
	stoppedAt := r.store.DurableSeq()
	if stoppedAt == n {
		t.Skip("the ingester finished before the stop")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- handlers.NewIngester(r.store, r.nc, r.cons, handlers.IngestOptions{BatchSize: 50}).Run(ctx)
	}()
	t0 := time.Now()
	deadline := t0.Add(10 * time.Second) // AckWait is 30s
	for {
		info, err := r.cons.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.store.DurableSeq() == n && info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart (stopped at %d): durable %d of %d, pending %d, ack pending %d after %v",
				stoppedAt, r.store.DurableSeq(), n, info.NumPending, info.NumAckPending, time.Since(t0))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("stopped at %d of %d; the rest ingested %v after the restart", stoppedAt, n, time.Since(t0))
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	rep, err := r.store.Verify(context.Background(), nil)
	if err != nil || !rep.OK || rep.Events != n {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
