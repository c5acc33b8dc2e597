package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/engine"
)

// AppendConfig sizes SyncAppend. Zero fields take the defaults.
type AppendConfig struct {
	Events    int          // events per measurement; default 30,000
	Writers   int          // concurrent clients, each one event at a time; default 64
	Customers int          // customers the events are spread over; default 20,000
	Dir       string       // parent of the run's fresh directory ("": the system's)
	Logger    *slog.Logger // nil: discard
	Seed      uint64       // event generation seed; 0: 1
}

// AppendResult is one synchronous-append measurement beside its baseline.
type AppendResult struct {
	Bench              string  `json:"bench"`
	Events             int     `json:"events"`
	Writers            int     `json:"writers"`
	Encrypted          bool    `json:"encrypted"`
	EventsPerS         float64 `json:"events_per_s"`
	P50MS              float64 `json:"p50_ms"`
	P99MS              float64 `json:"p99_ms"`
	CPUMicrosPerEvent  float64 `json:"cpu_us_per_event"`
	Baseline           string  `json:"baseline"`
	BaselineEventsPerS float64 `json:"baseline_events_per_s"`
	BaselineP50MS      float64 `json:"baseline_p50_ms"`
	BaselineP99MS      float64 `json:"baseline_p99_ms"`
	Ratio              float64 `json:"ratio"`
	LoadAvg            float64 `json:"load_avg"`
}

// SyncAppend measures the synchronous append — a client sends one event
// and waits for the reply that follows its fsync — at Writers concurrent
// clients, over NATS (journey.append) and HTTP (POST /v1/events) against a
// running engine (embedded NATS, default settings: an encrypted log), and
// over NATS against a plaintext one; beside Writers raw Pebble writers
// each committing one synced event (three keys, like the store bench's
// raw baseline), in the same run. The clients run on the same cores; the
// CPU per event is the whole process's (engine, server and clients).
func SyncAppend(ctx context.Context, cfg AppendConfig) ([]AppendResult, error) {
	if cfg.Events <= 0 {
		cfg.Events = 30_000
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 64
	}
	if cfg.Customers <= 0 {
		cfg.Customers = 20_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	dir, err := os.MkdirTemp(cfg.Dir, "journey-bench-append-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	raws, err := Generate(Spec{Events: cfg.Events, Customers: cfg.Customers, Seed: cfg.Seed, Step: 7 * time.Second})
	if err != nil {
		return nil, err
	}
	evs, err := Decoded(raws)
	if err != nil {
		return nil, err
	}
	set := newEventSet(evs)

	raw := func(name string) (lat []time.Duration, d time.Duration, err error) {
		db, err := pebble.Open(filepath.Join(dir, name), eventstore.PebbleOptions(nil, cfg.Logger))
		if err != nil {
			return nil, 0, err
		}
		defer db.Close()
		lat, d, err = clients(cfg.Events, cfg.Writers, func(i int) error {
			b := db.NewBatch()
			rawSet(b, set, i, nil)
			err := b.Commit(pebble.Sync)
			_ = b.Close()
			return err
		})
		return lat, d, err
	}
	// The baseline before and after the engine runs; the faster is kept.
	rawLat, rawD, err := raw("raw-1")
	if err != nil {
		return nil, fmt.Errorf("bench: append: raw pebble: %w", err)
	}
	var out []AppendResult
	for _, run := range []struct {
		name      string
		plaintext bool
		http      bool
	}{{"append-nats", false, false}, {"append-http", false, true}, {"append-nats-plaintext", true, false}} {
		c0 := cpuTime()
		lat, d, err := engineAppend(ctx, filepath.Join(dir, run.name), raws, cfg, run.plaintext, run.http)
		cpu := cpuTime() - c0
		if err != nil {
			return out, fmt.Errorf("bench: %s: %w", run.name, err)
		}
		r := AppendResult{Bench: run.name, Events: cfg.Events, Writers: cfg.Writers, Encrypted: !run.plaintext,
			EventsPerS: rate(cfg.Events, d), CPUMicrosPerEvent: float64(cpu.Microseconds()) / float64(cfg.Events),
			LoadAvg: loadAvg()}
		r.P50MS, r.P99MS = quantileMS(lat, 0.5), quantileMS(lat, 0.99)
		out = append(out, r)
	}
	lat2, d2, err := raw("raw-2")
	if err != nil {
		return out, fmt.Errorf("bench: append: raw pebble: %w", err)
	}
	if d2 < rawD {
		rawLat, rawD = lat2, d2
	}
	for i := range out {
		out[i].Baseline = fmt.Sprintf("raw pebble, %d writers each committing one synced event", cfg.Writers)
		out[i].BaselineEventsPerS = rate(cfg.Events, rawD)
		out[i].BaselineP50MS, out[i].BaselineP99MS = quantileMS(rawLat, 0.5), quantileMS(rawLat, 0.99)
		out[i].Ratio = out[i].EventsPerS / out[i].BaselineEventsPerS
	}
	return out, nil
}

// engineAppend runs an engine in dir and sends every event through
// Writers clients, NATS request/reply or HTTP, each checking its answer.
func engineAppend(ctx context.Context, dir string, raws [][]byte, cfg AppendConfig, plaintext, overHTTP bool) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan engine.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- engine.Run(ctx, engine.Config{DataDir: dir, NATSListen: "127.0.0.1:0", HTTP: "127.0.0.1:0",
			Plaintext: plaintext, NoViews: false, Logger: cfg.Logger, CheckpointEvery: -1,
			Reactions: engine.Reactions{Off: true},
			OnReady:   func(i engine.Info) { ready <- i }})
	}()
	var info engine.Info
	select {
	case info = <-ready:
	case err := <-done:
		return nil, 0, fmt.Errorf("engine: %w", err)
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { cancel(); <-done }()

	var send func(i int) error
	if overHTTP {
		tr := &http.Transport{MaxIdleConnsPerHost: cfg.Writers, MaxConnsPerHost: cfg.Writers}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		url := "http://" + info.HTTPAddr + "/v1/events"
		send = func(i int) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raws[i]))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/cloudevents+json")
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("event %d: HTTP %d: %.200s", i, resp.StatusCode, body)
			}
			return nil
		}
	} else {
		// Eight connections shared by the clients, as tills share a few.
		conns := make([]*nats.Conn, 8)
		for j := range conns {
			nc, err := nats.Connect(info.NATSURL)
			if err != nil {
				return nil, 0, err
			}
			defer nc.Close()
			conns[j] = nc
		}
		send = func(i int) error {
			m, err := conns[i%len(conns)].RequestWithContext(ctx, handlers.DefaultAppendSubject, raws[i])
			if err != nil {
				return err
			}
			var reply struct {
				Seq   uint64          `json:"seq"`
				Error json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(m.Data, &reply); err != nil {
				return fmt.Errorf("event %d: reply: %w", i, err)
			}
			if len(reply.Error) > 0 || reply.Seq == 0 {
				return fmt.Errorf("event %d: refused: %.200s", i, m.Data)
			}
			return nil
		}
	}
	// A warm-up request: the first one pays for connection set-up.
	if err := send(0); err != nil {
		return nil, 0, err
	}
	lat, d, err := clients(len(raws)-1, cfg.Writers, func(i int) error { return send(i + 1) })
	return lat, d, err
}

// clients runs n operations through w goroutines, each one at a time,
// and returns every operation's latency and the total time.
func clients(n, w int, op func(i int) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	var mu sync.Mutex
	var errs []error
	start := time.Now()
	err := fanOut(n, w, func(i int) error {
		t0 := time.Now()
		err := op(i)
		lat[i] = time.Since(t0)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		return err
	})
	d := time.Since(start)
	if err != nil {
		return nil, 0, errors.Join(errs...)
	}
	return lat, d, nil
}

// quantileMS is the q-quantile of ds in milliseconds.
func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
}
