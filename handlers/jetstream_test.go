package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"

	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/journey-cdp/journey/internal/natstest"
)

// withJetStream lets the rig's ingester provision again (as serve's does).
func withJetStream(r *rig, o *handlers.IngestOptions) { o.JetStream = r.js }

// publishN publishes evs through journey's publisher, all acknowledged.
func (r *rig) publishN(t *testing.T, evs [][]byte) {
	t.Helper()
	sum, err := handlers.Publish(context.Background(), r.nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{})
	if err != nil || sum.Published != len(evs) || sum.Failed != 0 {
		t.Fatalf("publish: %+v %v", sum, err)
	}
}

// TestIngestConsumerDeleted deletes the consumer under a running
// ingester: it recreates it (logged, journey_ingest_recoveries_total), from
// just after the last message it took, and the events published after the
// deletion reach the log, once; the consumer deleted and the stream too,
// it recreates both. Without JetStream to provision with, a deleted
// consumer is still recreated (it is the ingester's own cursor), but a
// deleted stream stops Run with ErrStreamGone instead of running on
// without ingesting.
func TestIngestConsumerDeleted(t *testing.T) {
	ctx := context.Background()
	evs, err := bench.Events(30, 10, 3)
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
			info.Config.AckPolicy != jetstream.AckNonePolicy {
			t.Fatalf("recreated consumer %+v, want no acks from stream seq 11", info.Config)
		}
		if got := r.in.Position(); got != 20 {
			t.Fatalf("position %d, want 20", got)
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
	t.Run("no JetStream: a deleted stream stops Run", func(t *testing.T) {
		r := newRig(t)
		r.expectErr = true
		r.publishN(t, evs[:5])
		r.settle(t, 5)
		if err := r.js.DeleteConsumer(ctx, handlers.DefaultStream, handlers.DefaultConsumer); err != nil {
			t.Fatal(err)
		}
		r.publishN(t, evs[5:10])
		r.settle(t, 10)
		if err := r.js.DeleteStream(ctx, handlers.DefaultStream); err != nil {
			t.Fatal(err)
		}
		r.wantRunErr(t, handlers.ErrStreamGone)
	})
}

// TestIngestStopHandsBack stops an ingester in the middle of a backlog:
// a new ingester takes the rest at once, from the position in the log (no
// redelivery timeout to wait for), each event once.
func TestIngestStopHandsBack(t *testing.T) {
	const n = 5000
	evs, err := bench.Events(n, 300, 11)
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
	m := handlers.NewMetrics()
	go func() {
		done <- handlers.NewIngester(r.store, r.nc, r.cons, handlers.IngestOptions{BatchSize: 50, Metrics: m}).Run(ctx)
	}()
	t0 := time.Now()
	deadline := t0.Add(10 * time.Second)
	for {
		info, err := r.cons.Info(context.Background())
		if errors.Is(err, jetstream.ErrConsumerNotFound) && time.Now().Before(deadline) {
			// The new ingester replaces the consumer by one that starts
			// right after the log's position: between its delete and its
			// create there is none.
			time.Sleep(20 * time.Millisecond)
			continue
		}
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
	if d := value(t, m.Duplicates); d != 0 {
		t.Fatalf("%v duplicates after the restart: it read again what the log had", d)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	rep, err := r.store.Verify(context.Background(), nil)
	if err != nil || !rep.OK || rep.Events != n {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// logBuf is a slog destination a test can count lines of.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// jsServer starts a NATS server with JetStream storing under storeDir,
// its server-wide file storage limited to maxStore bytes.
func jsServer(t *testing.T, storeDir string, maxStore int64) (*server.Server, *server.Options) {
	t.Helper()
	opts := &server.Options{ServerName: "full", Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: storeDir, JetStreamMaxStore: maxStore, NoLog: true, NoSigs: true}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv, opts
}

// publishUntil publishes evs one at a time, as a till would (MsgID), until
// JetStream refuses or does not answer one within timeout; it returns how
// many were acknowledged and the error.
func (r *rig) publishUntil(t *testing.T, evs [][]byte, timeout time.Duration) (int, error) {
	t.Helper()
	for i, raw := range evs {
		ev, err := journey.Decode(raw, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg("journey.events." + ev.Subject)
		m.Data = raw
		m.Header.Set(jetstream.MsgIDHeader, handlers.MsgID(ev.ID, raw))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err = r.js.PublishMsg(ctx, m)
		cancel()
		if err != nil {
			return i, err
		}
	}
	return len(evs), nil
}

// wantLogOnce checks that each event of evs is in the log exactly once.
func (r *rig) wantLogOnce(t *testing.T, evs [][]byte) {
	t.Helper()
	seen := map[string]int{}
	if err := r.store.Scan(context.Background(), 1, 0, func(rec *eventstore.Record) error {
		seen[rec.ID]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, raw := range evs {
		id, _, _ := journey.Route(raw)
		if seen[id] != 1 {
			t.Fatalf("event %s is %d times in the log, want once", id, seen[id])
		}
	}
	if len(seen) != len(evs) {
		t.Fatalf("the log holds %d events, want %d", len(seen), len(evs))
	}
}

// waitReady waits until the ingester's Ready is nil (want "") or an error
// containing want.
func (r *rig) waitReady(t *testing.T, want string) {
	t.Helper()
	natstest.WaitFor(t, 30*time.Second, func() error {
		err := r.in.Ready()
		switch {
		case want == "" && err != nil:
			return fmt.Errorf("Ready: %v, want nil", err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			return fmt.Errorf("Ready: %v, want %q", err, want)
		}
		return nil
	})
}

// TestIngestJetStreamFull fills the embedded server's JetStream (its
// max_file_store): publishes are refused ("insufficient resources"), the
// ingester reports storage_full on Ready and journey_jetstream_ok, logs it
// once, and keeps ingesting what the stream holds; once the limit is
// raised it reports ok again (logged once) and every acknowledged event,
// including those published after, is in the log once.
func TestIngestJetStreamFull(t *testing.T) {
	srv, opts := jsServer(t, t.TempDir(), 256<<10)
	logs := &logBuf{}
	r := newRigWith(t, rigConfig{srv: srv, ingest: func(r *rig, o *handlers.IngestOptions) {
		o.JetStream = r.js
		o.ServerCheck = handlers.EmbeddedServerCheck(srv)
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}})
	evs, err := bench.Events(3000, 100, 4)
	if err != nil {
		t.Fatal(err)
	}
	acked, err := r.publishUntil(t, evs, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "insufficient resources") {
		t.Fatalf("published %d of %d, then %v; want the stream full", acked, len(evs), err)
	}
	r.waitReady(t, handlers.ProblemStorageFull)
	r.settle(t, uint64(acked)) // what the stream holds is still ingested
	if v := value(t, r.metrics.JetStreamOK); v != 0 {
		t.Fatalf("journey_jetstream_ok=%v while full", v)
	}
	if n, err := r.publishUntil(t, evs[acked:acked+5], 5*time.Second); n != 0 || err == nil {
		t.Fatalf("published %d more while full (%v)", n, err)
	}
	time.Sleep(300 * time.Millisecond) // several polls
	if n := logs.count("jetstream problem"); n != 1 {
		t.Fatalf("%d log lines about the problem, want 1:\n%s", n, logs.b.String())
	}
	if v := value(t, r.metrics.Problems.WithLabelValues(handlers.ProblemStorageFull)); v != 1 {
		t.Fatalf("problems{storage_full}=%v, want 1", v)
	}

	// Room again: the operator raises the limit.
	more := *opts
	more.JetStreamMaxStore = 64 << 20
	if err := srv.ReloadOptions(&more); err != nil {
		t.Fatal(err)
	}
	r.waitReady(t, "")
	if v := value(t, r.metrics.JetStreamOK); v != 1 {
		t.Fatalf("journey_jetstream_ok=%v after the recovery", v)
	}
	if n, err := r.publishUntil(t, evs[acked:], 5*time.Second); err != nil {
		t.Fatalf("after the limit was raised: published %d, then %v", n, err)
	}
	r.settle(t, uint64(len(evs)))
	r.wantLogOnce(t, evs)
	if n := logs.count("jetstream ok again"); n != 1 {
		t.Fatalf("%d log lines about the recovery, want 1", n)
	}
}

// TestIngestStreamGap: messages the engine never took expire from the
// stream (its max age) while the engine is stopped; the next start reports
// the missing stream sequences (Ready, journey_ingest_stream_lost_total),
// ingests what comes next, and counts nothing twice.
func TestIngestStreamGap(t *testing.T) {
	ctx := context.Background()
	evs, err := bench.Events(11, 5, 8)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t)
	r.publishN(t, evs[:5])
	r.settle(t, 5)
	r.stop()
	r.publishN(t, evs[5:10])
	st, err := r.js.Stream(ctx, handlers.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxAge, cfg.Duplicates = time.Second, time.Second
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, 10*time.Second, func() error {
		si, err := st.Info(ctx)
		if err != nil {
			return err
		}
		if si.State.Msgs != 0 {
			return fmt.Errorf("%d messages not expired yet", si.State.Msgs)
		}
		return nil
	})
	cfg.MaxAge, cfg.Duplicates = handlers.DefaultStreamMaxAge, handlers.DefaultDedupeWindow
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	m := handlers.NewMetrics()
	var logs logBuf
	in := handlers.NewIngester(r.store, r.nc, r.cons, handlers.IngestOptions{Metrics: m, LagEvery: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	natstest.WaitFor(t, 10*time.Second, func() error {
		err := in.Ready()
		if err == nil || !strings.Contains(err.Error(), handlers.ProblemStreamGap) || !strings.Contains(err.Error(), "sequences 6..10 (5 messages)") {
			return fmt.Errorf("Ready = %v, want the stream gap 6..10", err)
		}
		return nil
	})
	if v := value(t, m.StreamLost); v != 5 {
		t.Fatalf("stream lost %v, want 5", v)
	}
	if logs.count("from_seq=6 to_seq=10") != 1 {
		t.Fatalf("log: %s", logs.b.String())
	}
	r.publishN(t, evs[10:])
	natstest.WaitFor(t, 10*time.Second, func() error {
		if got := r.store.DurableSeq(); got != 6 || in.Position() != 11 {
			return fmt.Errorf("durable %d, position %d; want 6, 11", got, in.Position())
		}
		return nil
	})
	time.Sleep(150 * time.Millisecond) // polls see the same stream: nothing reported twice
	if v := value(t, m.StreamLost); v != 5 {
		t.Fatalf("stream lost %v after more polls, want 5", v)
	}
}
