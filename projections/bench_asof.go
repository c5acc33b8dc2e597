package projections

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/simulate"
)

// AsOfBenchResult is the `journey bench asof` measurement: one customer's
// answer as of past instants (Views.Customer with asOf, the read behind
// `journey customer --as-of`, HTTP and NATS) beside reading that
// customer's history from the log alone, in the same run.
type AsOfBenchResult struct {
	eventstore.BenchResult
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
	// answer reads over the instants: the events after the fold snapshot
	// it starts from (the whole history up to T without one).
	RecordsRead float64 `json:"records_read"`
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg reads the 1-minute load average (0 when unavailable).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.SplitN(string(b), " ", 2)[0], 64)
	return f
}

// BenchAsOfHistory is the history length of the customer BenchAsOf asks about.
const BenchAsOfHistory = 1000

// BenchAsOf fills a fresh log under dir with events simulated journeys
// plus one customer with BenchAsOfHistory events over the simulated year,
// catches the views up, then asks that customer's answer as of 8 random
// past instants (each first once, cold) and times requests more answers
// at those instants, then as many reads of the customer's history
// (eventstore.CustomerEvents). dir's contents are removed afterwards.
func BenchAsOf(ctx context.Context, dir string, events, requests int, bo *BenchOptions) ([]AsOfBenchResult, error) {
	if events <= 0 || requests <= 0 {
		return nil, fmt.Errorf("projections: bench asof needs positive events and requests, got %d and %d", events, requests)
	}
	o := BenchOptions{}
	if bo != nil {
		o = *bo
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
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
	const id = benchAsOfCustomer
	start := simulate.DefaultStart()
	rnd := rand.New(rand.NewPCG(o.Seed, 7))
	reqs, err := benchAsOfHistory(rnd, start)
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
	if err := compactLog(logDir); err != nil {
		return nil, err
	}
	if log, err = eventstore.Open(logDir, &eventstore.Options{NoSync: true, Logger: o.Logger}); err != nil {
		return nil, err
	}
	defer log.Close()
	v, err := Open(data, log, &Options{Logger: o.Logger, Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if _, err := v.CatchUp(ctx); err != nil {
		return nil, err
	}
	// Settle the views too: the catch-up's compactions would otherwise run
	// during the timed answers.
	if err := v.cur.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		return nil, err
	}
	customers, err := v.CustomerCount(ctx)
	if err != nil {
		return nil, err
	}

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
		_, _, n, err := v.foldHistoryN(ctx, v.cur.db, id, v.Checkpoint(), at)
		if err != nil {
			return nil, err
		}
		read += n
	}
	runtime.GC()
	lat := make([]time.Duration, 0, requests)
	cpu0 := processCPU()
	for i := range requests {
		at := instants[rnd.IntN(len(instants))]
		t0 := time.Now()
		c, err := v.Customer(ctx, id, at)
		if err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		if i == 0 && c.RFM == nil {
			return nil, fmt.Errorf("projections: bench asof: the answer at %v has no RFM", at)
		}
	}
	cpu := (processCPU() - cpu0) / time.Duration(requests)
	base := make([]time.Duration, 0, requests)
	for range requests {
		t0 := time.Now()
		h, err := log.CustomerEvents(ctx, id, 0, 0)
		if err != nil {
			return nil, err
		}
		base = append(base, time.Since(t0))
		if len(h) != BenchAsOfHistory {
			return nil, fmt.Errorf("projections: bench asof: history of %d events, want %d", len(h), BenchAsOfHistory)
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
	r := AsOfBenchResult{
		BenchResult: eventstore.BenchResult{
			Bench:              "asof",
			Events:             BenchAsOfHistory,
			EventsPerS:         BenchAsOfHistory / mean(lat).Seconds(),
			Baseline:           "eventstore CustomerEvents of the same 1,000 events (read, no fold)",
			BaselineEventsPerS: BenchAsOfHistory / mean(base).Seconds(),
			LatencyMS:          ms(q(lat, 0.5)),
			BaselineLatencyMS:  ms(q(base, 0.5)),
		},
		LogEvents:     n + BenchAsOfHistory,
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
	return []AsOfBenchResult{r}, nil
}

// benchAsOfCustomer is the customer BenchAsOf asks about.
const benchAsOfCustomer = "bench-asof-customer"

// benchAsOfHistory is that customer's history: BenchAsOfHistory visits,
// purchases and feedback spread evenly over the year from start (each up
// to an hour late in the day), in time order.
func benchAsOfHistory(rnd *rand.Rand, start time.Time) ([]eventstore.Request, error) {
	const id = benchAsOfCustomer
	year := 365 * 24 * time.Hour
	reqs := make([]eventstore.Request, 0, BenchAsOfHistory)
	for i := range BenchAsOfHistory {
		// (year / BenchAsOfHistory first: i·year overflows a Duration from i = 293.)
		at := start.Add(time.Duration(i) * (year / BenchAsOfHistory)).Add(time.Duration(rnd.Int64N(int64(time.Hour))))
		var raw string
		switch i % 4 {
		case 0, 2:
			raw = fmt.Sprintf(`{"specversion":"1.0","id":"bench-asof-%d","source":"web/store-1","type":"visit","subject":%q,"time":%q,"data":{"channel":"store","store_id":"store-1"}}`, i, id, at.Format(time.RFC3339Nano))
		case 1:
			raw = fmt.Sprintf(`{"specversion":"1.0","id":"bench-asof-%d","source":"pos/store-1/till-1","type":"purchase","subject":%q,"time":%q,"data":{"order_id":"o-%d","amount":"%d.50","currency":"EUR","items":2}}`, i, id, at.Format(time.RFC3339Nano), i, 10+i%40)
		default:
			raw = fmt.Sprintf(`{"specversion":"1.0","id":"bench-asof-%d","source":"survey","type":"feedback","subject":%q,"time":%q,"data":{"nps":%d}}`, i, id, at.Format(time.RFC3339Nano), i%11)
		}
		ev, err := journey.Decode([]byte(raw), start.Add(2*year))
		if err != nil {
			return nil, fmt.Errorf("projections: bench asof event %d: %w", i, err)
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
	}
	return reqs, nil
}
