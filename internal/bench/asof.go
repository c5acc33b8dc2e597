package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/simulate"
	"github.com/journey-cdp/journey/projections"
)

// AsOfResult is the `journey bench asof` measurement: one customer's
// answer as of past instants (projections.Views.Customer with asOf, the
// read behind `journey customer --as-of`, HTTP and NATS) beside reading
// that customer's history from the log alone, in the same run.
type AsOfResult struct {
	Result
	// LogEvents and Customers are the size of the log and population.
	LogEvents int `json:"log_events"`
	Customers int `json:"customers"`
	// Instants are the distinct past instants asked; Requests the answers
	// timed (each at one of the instants, once its snapshot is cached).
	Instants int `json:"instants"`
	Requests int `json:"requests"`
	// P50MS and P99MS are the answer's latency (LatencyMS is P50MS);
	// BaselineP99MS is the history read's.
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	BaselineP99MS float64 `json:"baseline_p99_ms"`
	// ColdMS is the mean first answer at a new instant (the population
	// snapshot at it: a scratch fold of the log up to it); ColdMaxMS the
	// slowest.
	ColdMS    float64 `json:"cold_ms"`
	ColdMaxMS float64 `json:"cold_max_ms"`
	// CPUMS is the process's CPU time per answer (GC included), which
	// depends less on what else the machine runs than the latencies;
	// LoadAvg is the 1-minute load average at the end (0 where /proc is
	// not available).
	CPUMS   float64 `json:"cpu_ms"`
	LoadAvg float64 `json:"load_avg,omitempty"`
	// RecordsRead is the mean number of the customer's log records one
	// answer reads over the instants (projections.Views.AsOfRecords): the
	// events after the fold snapshot it starts from (the whole history up
	// to T without one).
	RecordsRead float64 `json:"records_read"`
}

// AsOfHistory is the history length of the customer AsOf asks about.
const AsOfHistory = 1000

// AsOfCustomer is the customer AsOf asks about.
const AsOfCustomer = "bench-asof-customer"

// asOfHistory is that customer's history: AsOfHistory generated events of
// every kind spread evenly over the year from start, in time order.
func asOfHistory(seed uint64, start time.Time) ([]eventstore.Request, error) {
	raws, err := Generate(Spec{Events: AsOfHistory, Seed: seed, Start: start, Step: 365 * 24 * time.Hour / AsOfHistory,
		History: AsOfHistory, HistoryCustomer: AsOfCustomer})
	if err != nil {
		return nil, err
	}
	evs, err := Decoded(raws)
	if err != nil {
		return nil, err
	}
	return appendReqs(evs), nil
}

// AsOf fills a fresh log under dir with events of simulated journeys plus
// one customer with AsOfHistory events over the simulated year, catches
// the views up, then asks that customer's answer as of 8 random past
// instants (each first once, cold) and times requests more answers at
// those instants, then as many reads of the customer's history
// (eventstore.Store.CustomerEvents). dir's contents are removed afterwards.
func AsOf(ctx context.Context, dir string, events, requests int, bo *Options) ([]AsOfResult, error) {
	if events <= 0 || requests <= 0 {
		return nil, fmt.Errorf("bench: asof needs positive events and requests, got %d and %d", events, requests)
	}
	o := bo.withDefaults()
	data, err := os.MkdirTemp(dir, "bench-asof-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	logDir := filepath.Join(data, "log")
	n, _, err := fillLog(ctx, logDir, events, o)
	if err != nil {
		return nil, err
	}
	log, err := eventstore.Open(logDir, &eventstore.Options{NoSync: true, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	const id = AsOfCustomer
	start := simulate.DefaultStart()
	reqs, err := asOfHistory(o.Seed, start)
	if err != nil {
		_ = log.Close()
		return nil, err
	}
	if _, err := log.Append(ctx, reqs); err != nil {
		_ = log.Close()
		return nil, err
	}
	// Settle the log (compact it), as a log that has been served a while.
	if err := log.Close(); err != nil {
		return nil, err
	}
	if err := compactDir(logDir, o.Logger); err != nil {
		return nil, err
	}
	if log, err = eventstore.Open(logDir, &eventstore.Options{NoSync: true, Logger: o.Logger}); err != nil {
		return nil, err
	}
	defer log.Close()
	v, err := projections.Open(data, log, &projections.Options{Logger: o.Logger, Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if _, err := v.CatchUp(ctx); err != nil {
		return nil, err
	}
	// Settle the views too: the catch-up's compactions would otherwise run
	// during the timed answers.
	if err := v.Compact(ctx); err != nil {
		return nil, err
	}
	customers, err := v.CustomerCount(ctx)
	if err != nil {
		return nil, err
	}

	rnd := rand.New(rand.NewPCG(o.Seed, 7))
	instants := make([]time.Time, 8)
	for i := range instants {
		instants[i] = start.Add(30*24*time.Hour + time.Duration(rnd.Int64N(int64(300*24*time.Hour))))
	}
	var cold []time.Duration
	for _, at := range instants {
		t0 := time.Now()
		if _, err := v.Customer(ctx, id, at); err != nil {
			return nil, err
		}
		cold = append(cold, time.Since(t0))
	}
	read := 0
	for _, at := range instants {
		n, err := v.AsOfRecords(ctx, id, at)
		if err != nil {
			return nil, err
		}
		read += n
	}
	runtime.GC()
	lat := make([]time.Duration, 0, requests)
	cpu0 := cpuTime()
	for i := range requests {
		at := instants[rnd.IntN(len(instants))]
		t0 := time.Now()
		c, err := v.Customer(ctx, id, at)
		if err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		if i == 0 && c.RFM == nil {
			return nil, fmt.Errorf("bench: asof: the answer at %v has no RFM", at)
		}
	}
	cpu := (cpuTime() - cpu0) / time.Duration(requests)
	base := make([]time.Duration, 0, requests)
	for range requests {
		t0 := time.Now()
		h, err := log.CustomerEvents(ctx, id, 0, 0)
		if err != nil {
			return nil, err
		}
		base = append(base, time.Since(t0))
		if len(h) != AsOfHistory {
			return nil, fmt.Errorf("bench: asof: history of %d events, want %d", len(h), AsOfHistory)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	mean := func(ds []time.Duration) time.Duration {
		var s time.Duration
		for _, d := range ds {
			s += d
		}
		return s / time.Duration(len(ds))
	}
	q := func(ds []time.Duration, p float64) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[min(len(s)-1, int(p*float64(len(s))))]
	}
	r := AsOfResult{
		Result: Result{
			Bench:              "asof",
			Events:             AsOfHistory,
			EventsPerS:         AsOfHistory / mean(lat).Seconds(),
			Baseline:           "eventstore CustomerEvents of the same 1,000 events (read, no fold)",
			BaselineEventsPerS: AsOfHistory / mean(base).Seconds(),
			LatencyMS:          ms(q(lat, 0.5)),
			BaselineLatencyMS:  ms(q(base, 0.5)),
		},
		LogEvents:     n + AsOfHistory,
		Customers:     customers,
		Instants:      len(instants),
		Requests:      requests,
		P50MS:         ms(q(lat, 0.5)),
		P99MS:         ms(q(lat, 0.99)),
		BaselineP99MS: ms(q(base, 0.99)),
		ColdMS:        ms(mean(cold)),
		ColdMaxMS:     ms(slices.Max(cold)),
		CPUMS:         ms(cpu),
		LoadAvg:       loadAvg(),
		RecordsRead:   float64(read) / float64(len(instants)),
	}
	r.Ratio = r.EventsPerS / r.BaselineEventsPerS
	return []AsOfResult{r}, nil
}
