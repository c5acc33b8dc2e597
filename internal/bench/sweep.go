package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers/reactions"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// SweepConfig sizes Sweep.
type SweepConfig struct {
	Customers int          // customers in the due index, all due (default 1,000,000)
	Logger    *slog.Logger // nil: discard
	Progress  func(stage string, done, total uint64)
}

// SweepResult is the `journey bench sweep` measurement: one full sweep of
// the reactions over Customers customers all due (every one a lapsed
// buyer: a win-back with its report each), beside a plain read of every
// customer's answer from the views; and the ingest's durable append rate
// alone and while a second sweep of the same size runs.
type SweepResult struct {
	Result
	Customers int `json:"customers"`
	// Swept is how many customers the sweeps re-evaluated, Sweeps how many
	// Sweep calls (each bounded by reactions.Options.MaxPerSweep) that took,
	// Winbacks the win-backs recorded in the log.
	Swept    int `json:"swept"`
	Sweeps   int `json:"sweeps"`
	Winbacks int `json:"winbacks"`
	// Seconds is the full sweep's wall time, CPUUsPerCustomer its process
	// CPU time per customer.
	Seconds          float64 `json:"seconds"`
	CPUUsPerCustomer float64 `json:"cpu_us_per_customer"`
	// IngestEventsPerS is the log append rate (synced batches of 100, as
	// the ingest writes) alone; IngestDuringSweepEventsPerS the same while
	// a sweep runs; IngestRatio the second over the first.
	IngestEventsPerS            float64 `json:"ingest_events_per_s"`
	IngestDuringSweepEventsPerS float64 `json:"ingest_during_sweep_events_per_s"`
	IngestRatio                 float64 `json:"ingest_ratio"`
	// The first sweep runs unpaced (its Seconds: the sweep's own speed);
	// the second, beside the ingest, at the engine's default SweepShare of
	// a core, and took PacedSeconds.
	SweepShare   float64 `json:"sweep_share"`
	PacedSeconds float64 `json:"paced_seconds"`
	// FillS is the whole setup's wall time: LogS writing the log, ViewsS
	// building the views from it, SeedS seeding both due indexes.
	FillS  float64 `json:"fill_s"`
	LogS   float64 `json:"log_s"`
	ViewsS float64 `json:"views_s"`
	SeedS  float64 `json:"seed_s"`
}

// ingestAloneMax bounds how long the ingest rate alone is measured.
const ingestAloneMax = 10 * time.Second

var sweepT0 = time.Date(2024, 1, 8, 10, 0, 0, 0, time.UTC)

// sweepClock is the shared "now" of the log, the views and the reactions.
type sweepClock struct{ ns atomic.Int64 }

func (c *sweepClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *sweepClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// benchPurchase is a 20 EUR purchase, written as journey.NewEvent writes
// it (the ids and customers are plain ASCII: nothing to quote) and
// decoded once (NewEvent's map marshal and check cost as much again).
func benchPurchase(id, c string, at time.Time) (*journey.Event, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"specversion":"1.0","id":"`...)
	b = append(b, id...)
	b = append(b, `","source":"pos/store-1/till-1","type":"purchase","subject":"`...)
	b = append(b, c...)
	b = append(b, `","time":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","datacontenttype":"application/json","data":{"amount":"20.00","currency":"EUR","order_id":"o-`...)
	b = append(b, id...)
	b = append(b, `"}}`...)
	return journey.DecodeStored(b)
}

func appendAll(ctx context.Context, log *eventstore.Store, evs []*journey.Event) error {
	reqs := make([]eventstore.Request, len(evs))
	for i, e := range evs {
		reqs[i] = eventstore.Request{Event: e, ExpectedVersion: eventstore.AnyVersion}
	}
	res, err := log.Append(ctx, reqs)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// Sweep fills a log with two purchases 30 days apart for each of
// cfg.Customers customers, rebuilds the views from it, opens the reactions
// (which seed their due index from the views, as at start-up), moves the
// clock 400 days on so that every customer is due, and times the sweeps
// until the due index holds no one due. Then it measures the ingest's
// append rate alone and while a second reactions database, seeded the
// same, sweeps (it re-evaluates every customer and finds each win-back
// already asked: the reads of a sweep without its appends). dir's contents are removed afterwards.
func Sweep(ctx context.Context, dir string, cfg SweepConfig) ([]SweepResult, error) {
	n := cfg.Customers
	if n == 0 {
		n = 1_000_000
	}
	if n < 0 {
		return nil, fmt.Errorf("bench: sweep needs a positive number of customers, got %d", n)
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	data, err := os.MkdirTemp(dir, "bench-sweep-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	clock := &sweepClock{}
	clock.Set(sweepT0.Add(31 * 24 * time.Hour))
	fillStart := time.Now()
	logDir := filepath.Join(data, "log")
	log, err := eventstore.Open(logDir, &eventstore.Options{NoSync: true, Clock: clock.Now, Logger: lg})
	if err != nil {
		return nil, err
	}
	const batch = 4096
	var evs []*journey.Event
	for i := range n {
		c := fmt.Sprintf("c%08d", i)
		for j, at := range []time.Time{sweepT0, sweepT0.Add(30 * 24 * time.Hour)} {
			e, err := benchPurchase(fmt.Sprintf("%s-p%d", c, j), c, at)
			if err != nil {
				return nil, errors.Join(err, log.Close())
			}
			evs = append(evs, e)
		}
		if len(evs) >= batch || i == n-1 {
			if err := appendAll(ctx, log, evs); err != nil {
				return nil, errors.Join(err, log.Close())
			}
			evs = evs[:0]
			if cfg.Progress != nil {
				cfg.Progress("fill", uint64(i+1), uint64(n))
			}
		}
	}
	if err := log.Close(); err != nil {
		return nil, err
	}
	logS := time.Since(fillStart).Seconds()
	if err := compactDir(logDir, lg); err != nil {
		return nil, err
	}
	// The product's setting from here on: synced appends.
	log, err = eventstore.Open(logDir, &eventstore.Options{Clock: clock.Now, Logger: lg})
	if err != nil {
		return nil, err
	}
	defer log.Close()
	views, err := projections.Open(data, log, &projections.Options{Clock: clock.Now, Logger: lg})
	if err != nil {
		return nil, err
	}
	defer views.Close()
	if _, err := views.Rebuild(ctx); err != nil {
		return nil, err
	}
	if _, err := views.CatchUp(ctx); err != nil {
		return nil, err
	}
	viewsS := time.Since(fillStart).Seconds() - logS
	open := func(name string, share float64) (*reactions.Reactor, error) {
		r, err := reactions.Open(reactions.Options{Store: log, Views: views, Dir: filepath.Join(data, name),
			Config: reactions.Config{ThankYou: reactions.Policy{Off: true}}, Clock: clock.Now, Logger: lg, SweepShare: share})
		if err != nil {
			return nil, err
		}
		if err := r.Seed(ctx); err != nil {
			return nil, errors.Join(err, r.Close())
		}
		return r, nil
	}
	// One seed from the views, then a copy of the closed database for the
	// second sweep (seeded, it does not seed again).
	ra, err := open("reactions-a", 1)
	if err != nil {
		return nil, err
	}
	if err := ra.Close(); err != nil {
		return nil, err
	}
	if err := os.CopyFS(filepath.Join(data, "reactions-b"), os.DirFS(filepath.Join(data, "reactions-a"))); err != nil {
		return nil, fmt.Errorf("bench: copy the seeded reactions: %w", err)
	}
	if ra, err = open("reactions-a", 1); err != nil {
		return nil, err
	}
	defer ra.Close()
	// The second sweep, beside the ingest, at the engine's default share
	// of a core.
	rb, err := open("reactions-b", reactions.DefaultSweepShare)
	if err != nil {
		return nil, err
	}
	defer rb.Close()
	fillS := time.Since(fillStart).Seconds()
	clock.Set(sweepT0.Add(430 * 24 * time.Hour))

	// The baseline: every customer's answer read from the views.
	start := time.Now()
	seen := 0
	if err := views.Customers(ctx, time.Time{}, false, func(*customer.Answer) error { seen++; return nil }); err != nil {
		return nil, err
	}
	scan := time.Since(start)
	if seen != n {
		return nil, fmt.Errorf("bench: the views hold %d customers, want %d", seen, n)
	}

	sweepAll := func(r *reactions.Reactor) (swept, sweeps int, err error) {
		for {
			k, err := r.Sweep(ctx)
			if err != nil {
				return swept, sweeps, err
			}
			if k == 0 {
				return swept, sweeps, nil
			}
			swept += k
			sweeps++
			if cfg.Progress != nil {
				cfg.Progress("sweep", uint64(swept), uint64(n))
			}
		}
	}
	head := log.DurableSeq()
	cpu0 := cpuTime()
	start = time.Now()
	swept, sweeps, err := sweepAll(ra)
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	cpu := cpuTime() - cpu0
	winbacks := int(log.DurableSeq() - head)
	if swept != n || winbacks != n {
		return nil, fmt.Errorf("bench: the sweep re-evaluated %d and asked %d win-backs of %d customers", swept, winbacks, n)
	}

	// The views fold the win-backs, so that the second sweep finds the
	// customers' answers current (a customer whose answer lags the log
	// waits for the next sweep) and each win-back already asked.
	if _, err := views.CatchUp(ctx); err != nil {
		return nil, err
	}

	// The ingest: synced appends of 100 new purchases, for as long as the
	// sweep took (at least a second), then while the second sweep runs.
	next := 0
	ingestBatch := func() error {
		evs := make([]*journey.Event, 100)
		for i := range evs {
			c := fmt.Sprintf("i%08d", next)
			e, err := benchPurchase(c+"-p", c, sweepT0.Add(400*24*time.Hour))
			if err != nil {
				return err
			}
			evs[i] = e
			next++
		}
		return appendAll(ctx, log, evs)
	}
	ingestFor := func(done func() bool) (float64, error) {
		start, k := time.Now(), 0
		for !done() {
			if err := ingestBatch(); err != nil {
				return 0, err
			}
			k += 100
		}
		return rate(k, time.Since(start)), nil
	}
	// The rate alone needs no more than a few seconds of appends.
	deadline := time.Now().Add(min(max(took, time.Second), ingestAloneMax))
	alone, err := ingestFor(func() bool { return time.Now().After(deadline) })
	if err != nil {
		return nil, err
	}
	var sweepDone atomic.Bool
	errc := make(chan error, 1)
	var pacedTook time.Duration
	go func() {
		t0 := time.Now()
		_, _, err := sweepAll(rb)
		pacedTook = time.Since(t0)
		sweepDone.Store(true)
		errc <- err
	}()
	during, err := ingestFor(sweepDone.Load)
	if serr := <-errc; serr != nil {
		return nil, serr
	}
	if err != nil {
		return nil, err
	}
	if during == 0 { // the second sweep ended before a batch: one batch's rate
		during = alone
	}
	res := SweepResult{
		Result: Result{
			Bench:              "sweep",
			Events:             n,
			EventsPerS:         rate(n, took),
			Baseline:           "every customer's answer read from the views",
			BaselineEventsPerS: rate(n, scan),
		},
		Customers:                   n,
		Swept:                       swept,
		Sweeps:                      sweeps,
		Winbacks:                    winbacks,
		Seconds:                     took.Seconds(),
		CPUUsPerCustomer:            float64(cpu.Microseconds()) / float64(n),
		IngestEventsPerS:            alone,
		IngestDuringSweepEventsPerS: during,
		SweepShare:                  reactions.DefaultSweepShare,
		PacedSeconds:                pacedTook.Seconds(),
		FillS:                       fillS,
		LogS:                        logS,
		ViewsS:                      viewsS,
		SeedS:                       fillS - logS - viewsS,
	}
	res.Ratio = res.EventsPerS / res.BaselineEventsPerS
	if alone > 0 {
		res.IngestRatio = during / alone
	}
	return []SweepResult{res}, nil
}
