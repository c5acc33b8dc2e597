package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/engine"
	"github.com/journey-cdp/journey/internal/natsconn"
)

// IngestConfig says what Ingest measures. Zero fields take defaults.
type IngestConfig struct {
	Events    int    // events published (0: 200,000)
	Customers int    // customers they belong to (0: Events/10)
	Seed      uint64 // event generator seed
	BatchSize int    // ingest batch / raw Pebble batch (0: 1000)
	// Dir holds the servers' and stores' files ("": a temporary directory,
	// removed at the end). Put it on the disk you mean to measure.
	Dir string
	// Logger (nil: discard).
	Logger *slog.Logger
	// EngineTCP connects the engine to the server over TCP loopback
	// instead of in process (net.Pipe), for comparison.
	EngineTCP bool
	// Profile, when set, is called around the end-to-end run only (start
	// true, then false), e.g. to start and stop a CPU profile.
	Profile func(start bool)
	// Batch is the events per message of the batched end-to-end run
	// (handlers.PublishOptions.Batch); 0: 100.
	Batch int
}

// IngestResult is one ingest measurement: the engine end to end beside a
// baseline measured in the same run on the same events.
type IngestResult struct {
	Bench              string  `json:"bench"`
	Events             int     `json:"events"`
	EventsPerS         float64 `json:"events_per_s"`
	Baseline           string  `json:"baseline"`
	BaselineEventsPerS float64 `json:"baseline_events_per_s"`
	Ratio              float64 `json:"ratio"`
	Seconds            float64 `json:"seconds"`
	// CPUMicrosPerEvent is the process CPU time (user+system, every
	// goroutine: publisher, NATS server, engine) per event of the engine
	// run, and BaselineCPUMicrosPerEvent the same of the baseline: on a
	// shared machine, where wall-clock rates vary with the neighbours'
	// load, these say what the pipeline itself costs.
	CPUMicrosPerEvent         float64 `json:"cpu_us_per_event"`
	BaselineCPUMicrosPerEvent float64 `json:"baseline_cpu_us_per_event"`
}

// Ingest measures, on the same generated events:
//
//   - end to end: JSONL published (handlers.Publish, over a TCP loopback
//     connection as a till would) to an embedded JetStream, pulled by the
//     engine's Ingester (in-process connection, as `journey serve` does),
//     decoded and validated, appended with hash chain and indexes and the
//     stream position, fsynced — timed from the first publish to the last
//     event durable and the consumer drained;
//   - end to end batched (bench "ingest_batch"): the same with Batch events
//     per message (application/cloudevents-batch+json), compared with
//     JetStream publish alone of single events;
//   - JetStream publish alone: the same publisher into a stream nobody consumes;
//   - raw Pebble append: the raw bytes set under a sequence key (the
//     baseline's own key, not the log's layout), one fsynced Pebble batch
//     per BatchSize events, no decoding, no indexes;
//   - engine consume only: the same engine draining a stream the events
//     were published to beforehand (the consuming half of end to end,
//     without the publisher and the server's storing of new messages);
//   - bare pipeline consume: the reference pipeline of issue 3 draining
//     such a stream in one goroutine: fetch BatchSize, encoding/json into
//     the envelope, one Pebble batch with the event and its id and
//     customer index keys (the baseline's own layout), fsync, ack each — no validation, no hash
//     chain, no versions, no quarantine, no overlap of stages.
//
// It returns one IngestResult per baseline.
func Ingest(ctx context.Context, cfg IngestConfig) ([]IngestResult, error) {
	if cfg.Events <= 0 {
		cfg.Events = 200000
	}
	if cfg.Customers <= 0 {
		cfg.Customers = max(1, cfg.Events/10)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = handlers.DefaultBatchSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	// A fresh directory under cfg.Dir (or the system's), removed at the
	// end: a stream or log left by an earlier run would be "ingested" at
	// once.
	dir, err := os.MkdirTemp(cfg.Dir, "journey-bench-ingest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	evs, err := Events(cfg.Events, cfg.Customers, cfg.Seed)
	if err != nil {
		return nil, err
	}
	file := JSONL(evs)

	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(cfg.Events) }
	c0 := cpuTime()
	pubEPS, err := publishOnly(ctx, filepath.Join(dir, "publish"), file, cfg)
	pubCPU := perEvent(cpuTime() - c0)
	if err != nil {
		return nil, fmt.Errorf("bench: ingest: publish baseline: %w", err)
	}
	c0 = cpuTime()
	rawEPS, err := rawPebble(filepath.Join(dir, "raw"), evs, cfg.BatchSize)
	rawCPU := perEvent(cpuTime() - c0)
	if err != nil {
		return nil, fmt.Errorf("bench: ingest: pebble baseline: %w", err)
	}
	if cfg.Profile != nil {
		cfg.Profile(true)
	}
	e2e, secs, cpu, err := endToEnd(ctx, filepath.Join(dir, "e2e"), file, cfg, false, 1)
	e2eCPU := perEvent(cpu)
	if cfg.Profile != nil {
		cfg.Profile(false)
	}
	if err != nil {
		return nil, fmt.Errorf("bench: ingest: end to end: %w", err)
	}
	batchEPS, batchSecs, cpu, err := endToEnd(ctx, filepath.Join(dir, "e2e-batch"), file, cfg, false, cfg.Batch)
	batchCPU := perEvent(cpu)
	if err != nil {
		return nil, fmt.Errorf("bench: ingest: end to end batched: %w", err)
	}
	consEPS, _, cpu, err := endToEnd(ctx, filepath.Join(dir, "consume"), file, cfg, true, 1)
	consCPU := perEvent(cpu)
	if err != nil {
		return nil, fmt.Errorf("bench: ingest: consume only: %w", err)
	}
	bareEPS, cpu, err := barePipeline(ctx, filepath.Join(dir, "bare"), file, cfg)
	bareCPU := perEvent(cpu)
	if err != nil {
		return nil, fmt.Errorf("bench: ingest: bare pipeline: %w", err)
	}
	res := func(baseline string, beps, bcpu float64) IngestResult {
		return IngestResult{Bench: "ingest", Events: cfg.Events, EventsPerS: e2e, Baseline: baseline,
			BaselineEventsPerS: beps, Ratio: e2e / beps, Seconds: secs,
			CPUMicrosPerEvent: e2eCPU, BaselineCPUMicrosPerEvent: bcpu}
	}
	batched := IngestResult{Bench: fmt.Sprintf("ingest_batch%d", cfg.Batch), Events: cfg.Events, EventsPerS: batchEPS,
		Baseline: "jetstream_publish", BaselineEventsPerS: pubEPS, Ratio: batchEPS / pubEPS, Seconds: batchSecs,
		CPUMicrosPerEvent: batchCPU, BaselineCPUMicrosPerEvent: pubCPU}
	return []IngestResult{res("jetstream_publish", pubEPS, pubCPU), res("pebble_raw_append", rawEPS, rawCPU),
		res("engine_consume_only", consEPS, consCPU), res("bare_pipeline_consume", bareEPS, bareCPU), batched}, nil
}

// startServer starts an embedded JetStream server on a random loopback port.
func startServer(dir string, log *slog.Logger) (*server.Server, error) {
	return natsconn.Start(natsconn.Embedded{StoreDir: dir, Listen: "127.0.0.1:0", Logger: log})
}

func stopServer(s *server.Server) { s.Shutdown(); s.WaitForShutdown() }

// publish connects like a till (TCP) and publishes file, returning the
// duration.
func publish(ctx context.Context, s *server.Server, file []byte, n, batch int) (time.Duration, error) {
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	t0 := time.Now()
	sum, err := handlers.Publish(ctx, nc, bytes.NewReader(file), handlers.PublishOptions{Batch: batch})
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if sum.Published != n || sum.Failed != 0 {
		return 0, fmt.Errorf("published %d of %d (%d failed: %v)", sum.Published, n, sum.Failed, sum.Errors)
	}
	return d, nil
}

func publishOnly(ctx context.Context, dir string, file []byte, cfg IngestConfig) (float64, error) {
	s, err := startServer(dir, cfg.Logger)
	if err != nil {
		return 0, err
	}
	defer stopServer(s)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: handlers.DefaultStream,
		Subjects: []string{handlers.DefaultSubjectPrefix + ".*"}, Storage: jetstream.FileStorage, Duplicates: handlers.DefaultDedupeWindow})
	if err != nil {
		return 0, err
	}
	_ = st
	d, err := publish(ctx, s, file, cfg.Events, 1)
	if err != nil {
		return 0, err
	}
	return float64(cfg.Events) / d.Seconds(), nil
}

func rawPebble(dir string, evs [][]byte, batch int) (float64, error) {
	db, err := pebble.Open(dir, servePebbleOptions(slog.New(slog.DiscardHandler)))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	t0 := time.Now()
	var key []byte
	for i := 0; i < len(evs); i += batch {
		b := db.NewBatch()
		for j := i; j < min(i+batch, len(evs)); j++ {
			key = rawEventKey(key[:0], uint64(j+1))
			if err := b.Set(key, evs[j], nil); err != nil {
				return 0, err
			}
		}
		if err := b.Commit(pebble.Sync); err != nil {
			return 0, err
		}
		_ = b.Close()
	}
	return float64(len(evs)) / time.Since(t0).Seconds(), nil
}

// endToEnd runs the engine on an embedded server: timed from the first
// publish to the last ack, or (prefill) with every event published first
// and timed from the engine's start to the last ack. It returns the rate,
// the seconds and the process CPU time of the timed part.
func endToEnd(ctx context.Context, dir string, file []byte, cfg IngestConfig, prefill bool, batch int) (eps, secs float64, cpu time.Duration, err error) {
	s, err := startServer(filepath.Join(dir, "nats"), cfg.Logger)
	if err != nil {
		return 0, 0, 0, err
	}
	defer stopServer(s)
	// The log as journey serve opens it (the engine's memtable).
	store, err := eventstore.Open(filepath.Join(dir, "log"), &eventstore.Options{Logger: cfg.Logger, MemTableSize: engine.DefaultLogMemTableSize})
	if err != nil {
		return 0, 0, 0, err
	}
	defer store.Close()
	ncc := natsconn.Client{InProcess: s, Logger: cfg.Logger}
	if cfg.EngineTCP {
		ncc = natsconn.Client{URL: s.ClientURL(), Logger: cfg.Logger}
	}
	nc, err := natsconn.Connect(ncc)
	if err != nil {
		return 0, 0, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, 0, 0, err
	}
	cons, err := handlers.Provision(ctx, js, handlers.StreamOptions{})
	if err != nil {
		return 0, 0, 0, err
	}
	n := uint64(cfg.Events)
	if prefill {
		if _, err := publish(ctx, s, file, cfg.Events, batch); err != nil {
			return 0, 0, 0, err
		}
	}
	in := handlers.NewIngester(store, nc, cons, handlers.IngestOptions{BatchSize: cfg.BatchSize, Logger: cfg.Logger})
	t0, c0 := time.Now(), cpuTime()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(rctx) }()
	defer func() {
		cancel()
		if rerr := <-done; rerr != nil && err == nil {
			err = rerr
		}
	}()

	pubErr := make(chan error, 1)
	if prefill {
		pubErr = nil
	} else {
		go func() { _, err := publish(ctx, s, file, cfg.Events, batch); pubErr <- err }()
	}
	for store.DurableSeq() < n {
		select {
		case err := <-pubErr:
			if err != nil {
				return 0, 0, 0, err
			}
			pubErr = nil
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	// Durable; now wait for the consumer to be drained.
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, 0, 0, err
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	d, cpu := time.Since(t0), cpuTime()-c0
	if pubErr != nil {
		if err := <-pubErr; err != nil {
			return 0, 0, 0, err
		}
	}
	if got := store.DurableSeq(); got != n {
		return 0, 0, 0, errors.New("bench: ingest: log holds more events than published")
	}
	return float64(n) / d.Seconds(), d.Seconds(), cpu, nil
}

// barePipeline drains a filled stream with the bare pipeline (see Run)
// and returns its rate and process CPU time.
func barePipeline(ctx context.Context, dir string, file []byte, cfg IngestConfig) (float64, time.Duration, error) {
	s, err := startServer(filepath.Join(dir, "nats"), cfg.Logger)
	if err != nil {
		return 0, 0, err
	}
	defer stopServer(s)
	nc, err := natsconn.Connect(natsconn.Client{InProcess: s, Logger: cfg.Logger})
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, 0, err
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: handlers.DefaultStream,
		Subjects: []string{handlers.DefaultSubjectPrefix + ".*"}, Storage: jetstream.FileStorage, Duplicates: handlers.DefaultDedupeWindow})
	if err != nil {
		return 0, 0, err
	}
	// The reference pipeline acks each message (as the engine did before
	// its stream position moved into the log).
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bare", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20000})
	if err != nil {
		return 0, 0, err
	}
	if _, err := publish(ctx, s, file, cfg.Events, 1); err != nil {
		return 0, 0, err
	}
	db, err := pebble.Open(filepath.Join(dir, "log"), servePebbleOptions(cfg.Logger))
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()

	var ev struct {
		ID      string          `json:"id"`
		Source  string          `json:"source"`
		Type    string          `json:"type"`
		Subject string          `json:"subject"`
		Time    time.Time       `json:"time"`
		Data    json.RawMessage `json:"data"`
	}
	t0, c0 := time.Now(), cpuTime()
	var seq uint64
	key := make([]byte, 0, 256)
	for seq < uint64(cfg.Events) {
		msgs, err := cons.Fetch(cfg.BatchSize, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return 0, 0, err
		}
		b := db.NewBatch()
		var taken []jetstream.Msg
		for m := range msgs.Messages() {
			ev.Data = nil
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				return 0, 0, fmt.Errorf("bare pipeline: %w", err)
			}
			seq++
			key = rawEventKey(key[:0], seq)
			_ = b.Set(key, m.Data(), nil)
			key = rawIDKey(key[:0], ev.ID)
			_ = b.Set(key, binary.BigEndian.AppendUint64(nil, seq), nil)
			key = rawCustomerKey(key[:0], ev.Subject, seq)
			_ = b.Set(key, nil, nil)
			taken = append(taken, m)
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return 0, 0, err
		}
		if err := b.Commit(pebble.Sync); err != nil {
			return 0, 0, err
		}
		_ = b.Close()
		for _, m := range taken {
			if err := m.Ack(); err != nil {
				return 0, 0, err
			}
		}
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	d, cpu := time.Since(t0), cpuTime()-c0
	return float64(cfg.Events) / d.Seconds(), cpu, nil
}

// servePebbleOptions are the log's Pebble options with the engine's
// memtable: the raw baselines run on what journey serve's log runs on.
func servePebbleOptions(log *slog.Logger) *pebble.Options {
	o := eventstore.PebbleOptions(nil, log)
	o.MemTableSize = engine.DefaultLogMemTableSize
	return o
}
