package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	// Transport is the same clients against a responder that answers at
	// once (no engine: what NATS request/reply or HTTP alone reaches here).
	TransportEventsPerS float64 `json:"transport_events_per_s"`
	TransportP50MS      float64 `json:"transport_p50_ms"`
	TransportRatio      float64 `json:"transport_ratio"` // EventsPerS / TransportEventsPerS
	LoadAvg             float64 `json:"load_avg"`
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
	// The transport alone, over the same clients: a responder that answers
	// every request at once.
	transport := map[bool][2]float64{}
	for _, overHTTP := range []bool{false, true} {
		lat, d, err := echoAppend(ctx, filepath.Join(dir, fmt.Sprint("echo-", overHTTP)), raws, cfg, overHTTP)
		if err != nil {
			return out, fmt.Errorf("bench: append: transport alone: %w", err)
		}
		transport[overHTTP] = [2]float64{rate(cfg.Events, d), quantileMS(lat, 0.5)}
	}
	for i := range out {
		tr := transport[out[i].Bench == "append-http"]
		out[i].TransportEventsPerS, out[i].TransportP50MS = tr[0], tr[1]
		out[i].TransportRatio = out[i].EventsPerS / tr[0]
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

	send, closeSend, err := senders(ctx, info.HTTPAddr, info.NATSURL, raws, cfg.Writers, overHTTP, true)
	if err != nil {
		return nil, 0, err
	}
	defer closeSend()
	return timedSends(send, len(raws), cfg.Writers)
}

// echoAppend is the transport alone: the same clients against a NATS
// responder (an embedded server, the append subject) or an HTTP handler
// that reads the event and answers at once.
func echoAppend(ctx context.Context, dir string, raws [][]byte, cfg AppendConfig, overHTTP bool) ([]time.Duration, time.Duration, error) {
	var httpAddr, natsURL string
	if overHTTP {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, 0, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"seq":1,"version":1,"duplicate":false}`))
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		httpAddr = ln.Addr().String()
	} else {
		s, err := startServer(dir, cfg.Logger)
		if err != nil {
			return nil, 0, err
		}
		defer stopServer(s)
		nc, err := nats.Connect(s.ClientURL())
		if err != nil {
			return nil, 0, err
		}
		defer nc.Close()
		reply := []byte(`{"seq":1,"version":1,"duplicate":false}`)
		if _, err := nc.QueueSubscribe(handlers.DefaultAppendSubject, handlers.DefaultAppendQueue, func(m *nats.Msg) {
			_ = m.Respond(reply)
		}); err != nil {
			return nil, 0, err
		}
		if err := nc.Flush(); err != nil {
			return nil, 0, err
		}
		natsURL = s.ClientURL()
	}
	send, closeSend, err := senders(ctx, httpAddr, natsURL, raws, cfg.Writers, overHTTP, false)
	if err != nil {
		return nil, 0, err
	}
	defer closeSend()
	return timedSends(send, len(raws), cfg.Writers)
}

// timedSends sends event 0 (the first pays for connection set-up), then
// the others through w clients, timed.
func timedSends(send func(i int) error, n, w int) ([]time.Duration, time.Duration, error) {
	if err := send(0); err != nil {
		return nil, 0, err
	}
	return clients(n-1, w, func(i int) error { return send(i + 1) })
}

// senders returns the clients' send of event i: an HTTP POST /v1/events
// to httpAddr, or a NATS request on the append subject over eight
// connections to natsURL (as tills share a few); each checks its answer
// (checkSeq: that it names a sequence).
func senders(ctx context.Context, httpAddr, natsURL string, raws [][]byte, writers int, overHTTP, checkSeq bool) (func(i int) error, func(), error) {
	if overHTTP {
		tr := &http.Transport{MaxIdleConnsPerHost: writers, MaxConnsPerHost: writers}
		hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		url := "http://" + httpAddr + "/v1/events"
		return func(i int) error {
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
		}, tr.CloseIdleConnections, nil
	}
	conns := make([]*nats.Conn, 8)
	closeAll := func() {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
	}
	for j := range conns {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns[j] = nc
	}
	return func(i int) error {
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
		if len(reply.Error) > 0 || (checkSeq && reply.Seq == 0) {
			return fmt.Errorf("event %d: refused: %.200s", i, m.Data)
		}
		return nil
	}, closeAll, nil
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
