package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/customer"
)

// truncatedViews appends the events of raws with time ≤ asOf to a fresh
// log and returns views caught up with it.
func truncatedViews(t testing.TB, raws [][]byte, asOf time.Time) *Views {
	t.Helper()
	var kept [][]byte
	for _, raw := range raws {
		e, err := journey.DecodeStored(raw)
		if err == nil && !e.Time.After(asOf) {
			kept = append(kept, raw)
		}
	}
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, kept)
	v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow)})
	catchUp(t, v)
	return v
}

// TestAsOfPropertyRandomInstants: at random instants T (any time of day),
// every as-of answer of the full log — each export row, each one-customer
// answer, the segment counts — equals the same answer of a log holding
// only the events with time ≤ T, log sequences aside; and the one-customer
// answer equals the export row (RFM included).
func TestAsOfPropertyRandomInstants(t *testing.T) {
	// Fold snapshots every 4 events: the one-customer answers start from them.
	withSnapshotEvery(t, 4)
	raws := simulated(t, 600, simDays, 11)
	_, _, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow)})
	rnd := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	for i := range 4 {
		// Past the first weeks (a population to speak of), before the end.
		asOf := simStart.Add(20*24*time.Hour + time.Duration(rnd.Int64N(int64((simDays-30)*24*time.Hour))))
		if i == 0 {
			asOf = simStart.Add(100*24*time.Hour + 13*time.Hour + 7*time.Minute) // mid-day, always
		}
		t.Run(asOf.Format(time.RFC3339), func(t *testing.T) {
			tv := truncatedViews(t, raws, asOf)
			full, trunc := answers(t, v, asOf, true), answers(t, tv, asOf, true)
			sameAnswers(t, "export as of vs truncated log's export as of", trunc, full)
			withRFM, fromSnapshot := 0, 0
			for id, want := range full {
				c, err := v.Customer(ctx, id, asOf)
				if err != nil {
					t.Fatal(err)
				}
				tc, err := tv.Customer(ctx, id, asOf)
				if err != nil {
					t.Fatal(err)
				}
				if got := render(t, c, true); got != want {
					t.Fatalf("customer %s as of differs from its export row:\n%s\n----\n%s", id, got, want)
				}
				if got, tw := render(t, c, true), render(t, tc, true); got != tw {
					t.Fatalf("customer %s as of differs from the truncated log's:\n%s\n----\n%s", id, got, tw)
				}
				if c.RFM != nil {
					withRFM++
				}
				_, _, read, err := v.foldHistoryN(ctx, v.cur.db, id, v.Checkpoint(), asOf)
				if err != nil {
					t.Fatal(err)
				}
				if read < c.State.Events {
					fromSnapshot++
				}
			}
			if withRFM == 0 {
				t.Fatal("no customer answer carried RFM")
			}
			if fromSnapshot == 0 {
				t.Fatal("no one-customer answer started from a fold snapshot")
			}
			t.Logf("%d of %d one-customer answers started from a fold snapshot", fromSnapshot, len(full))
			sa, err := v.Segmentation(ctx, asOf)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := tv.Segmentation(ctx, asOf)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(sa) != fmt.Sprint(sb) {
				t.Fatalf("segments as of %v\nvs truncated %v", sa, sb)
			}
		})
	}
}

// TestAsOfCustomerHasRFM: a one-customer answer as of T carries the RFM
// score when some stored event is later than T, as export does.
func TestAsOfCustomerHasRFM(t *testing.T) {
	raws := simulated(t, 200, simDays, 12)
	_, _, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow)})
	asOf := simStart.Add(80*24*time.Hour + 5*time.Hour)
	ctx := context.Background()
	rows := map[string]*customer.Answer{}
	if err := v.Customers(ctx, asOf, true, func(c *customer.Answer) error {
		if c.RFM != nil {
			rows[c.State.Customer] = c
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no export row with RFM")
	}
	for id, row := range rows {
		c, err := v.Customer(ctx, id, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if c.RFM == nil || *c.RFM != *row.RFM {
			t.Fatalf("customer %s as of %v: RFM %v, export row %v", id, asOf, c.RFM, *row.RFM)
		}
	}
}

// TestAsOfLeavesGCSettings: as-of reads, population ones included, leave
// the process's GC percent and memory limit alone.
func TestAsOfLeavesGCSettings(t *testing.T) {
	raws := simulated(t, 100, simDays, 13)
	_, _, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow)})
	gc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc)
	lim := debug.SetMemoryLimit(-1)
	asOf := simStart.Add(60 * 24 * time.Hour)
	ctx := context.Background()
	seen := make(chan [2]int64, 1)
	v.opts.Progress = func(done, total uint64) {
		g := debug.SetGCPercent(-1)
		debug.SetGCPercent(g)
		select {
		case seen <- [2]int64{int64(g), debug.SetMemoryLimit(-1)}:
		default:
		}
	}
	if _, err := v.Segmentation(ctx, asOf); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-seen:
		if s[0] != int64(gc) || s[1] != lim {
			t.Fatalf("during an as-of fold GC percent %d, memory limit %d; want %d, %d", s[0], s[1], gc, lim)
		}
	default:
		t.Fatal("the as-of segmentation did not fold the log")
	}
	if _, err := v.Customer(ctx, "nobody", asOf); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown customer as of: %v", err)
	}
}

// TestAsOfSnapshotFollowsLateEvents: the population snapshot of an
// instant T is computed again when the views fold an event with time ≤ T
// (a late arrival), and kept when they fold only later events.
func TestAsOfSnapshotFollowsLateEvents(t *testing.T) {
	raws := simulated(t, 300, simDays, 14)
	_, log, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow)})
	ctx := context.Background()
	asOf := simStart.Add(70*24*time.Hour + 9*time.Hour)
	ids := map[string]bool{}
	for _, raw := range raws {
		if e, err := journey.DecodeStored(raw); err == nil && !e.Time.After(asOf) {
			ids[e.Subject] = true
		}
	}
	render1 := func(v *Views) map[string]string {
		out := map[string]string{}
		for id := range ids {
			c, err := v.Customer(ctx, id, asOf)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = render(t, c, true)
		}
		return out
	}
	before := render1(v)
	entryCP := func() uint64 {
		v.pops.mu.Lock()
		defer v.pops.mu.Unlock()
		for _, e := range v.pops.entries {
			if e.d == v.cur && e.sec == asOf.Unix() {
				return e.cp
			}
		}
		t.Fatal("no snapshot of asOf in the cache")
		return 0
	}
	cp0 := entryCP()

	// Events later than asOf: the snapshot holds.
	later := [][]byte{purchase("later-1", "later-cust", asOf.Add(time.Hour)), purchase("later-2", "later-cust", asOf.Add(49*time.Hour))}
	appendRaw(t, log, later)
	catchUp(t, v)
	sameAnswers(t, "as of after later events", before, render1(v))
	if got := entryCP(); got != cp0 {
		t.Fatalf("the snapshot was computed again (checkpoint %d, was %d) though no event ≤ asOf came", got, cp0)
	}

	// Late events at or before asOf: buyers with a one-day rhythm move the
	// median gap and the quintiles.
	var late [][]byte
	for i := range 80 {
		c := fmt.Sprintf("late-%02d", i)
		late = append(late, purchase(c+"-a", c, asOf.Add(-48*time.Hour)), purchase(c+"-b", c, asOf.Add(-24*time.Hour)), purchase(c+"-c", c, asOf))
	}
	appendRaw(t, log, late)
	catchUp(t, v)
	after := render1(v)
	tv := truncatedViews(t, append(append(slices.Clone(raws), later...), late...), asOf)
	sameAnswers(t, "as of after late events vs truncated log", render1(tv), after)
	changed := 0
	for id := range before {
		if before[id] != after[id] {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("the late events changed no answer as of T: the test proves nothing")
	}
}

// BenchmarkCustomerAsOf is one customer's answer (1,000 events) as of a
// past instant whose population snapshot is cached: a fold of that
// customer's history.
func BenchmarkCustomerAsOf(b *testing.B) {
	raws := simulated(b, 300, simDays, 15)
	const history = 1000
	for i := range history {
		at := simStart.Add(time.Duration(i) * (simDays * 24 * time.Hour / history))
		if i%2 == 1 {
			raws = append(raws, purchase(fmt.Sprintf("bench-%d", i), "bench-customer", at))
		} else {
			raws = append(raws, ev(fmt.Sprintf("bench-%d", i), "visit", "bench-customer", at, `{"channel":"store","store_id":"store-1"}`))
		}
	}
	_, _, v := loadedViews(b, raws, &Options{Clock: fixedClock(testNow)})
	ctx := context.Background()
	asOf := simStart.Add(140*24*time.Hour + 11*time.Hour)
	if c, err := v.Customer(ctx, "bench-customer", asOf); err != nil || c.RFM == nil || c.State.Events < 900 {
		b.Fatalf("warm-up: %v %+v", err, c)
	}
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := v.Customer(ctx, "bench-customer", asOf); err != nil {
			b.Fatal(err)
		}
	}
	// The process's CPU time per answer (GC included): steadier than the
	// wall time on a shared machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestAsOfSnapshotCacheBounded: concurrent answers at one new instant share
// one population fold, and the cache keeps at most popCacheEntries
// instants.
func TestAsOfSnapshotCacheBounded(t *testing.T) {
	raws := simulated(t, 100, simDays, 16)
	var folds atomic.Int64
	_, _, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow), Progress: func(done, total uint64) { folds.Add(1) }})
	ctx := context.Background()
	id := ""
	for _, raw := range raws {
		if e, err := journey.DecodeStored(raw); err == nil {
			id = e.Subject
			break
		}
	}
	asOf := simStart.Add(100*24*time.Hour + 3*time.Hour)
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for i := range answers {
		wg.Go(func() {
			c, err := v.Customer(ctx, id, asOf)
			if err != nil {
				t.Error(err)
				return
			}
			answers[i] = render(t, c, false)
		})
	}
	wg.Wait()
	if n := folds.Load(); n != 1 {
		t.Fatalf("8 concurrent answers at one new instant ran %d population folds, want 1", n)
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatal("concurrent answers at one instant differ")
		}
	}
	for i := range popCacheEntries + 8 {
		if _, err := v.Customer(ctx, id, asOf.Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	v.pops.mu.Lock()
	n, bytes := len(v.pops.entries), v.pops.bytes
	v.pops.mu.Unlock()
	if n > popCacheEntries || bytes > popCacheBytes || n == 0 {
		t.Fatalf("cache holds %d snapshots, %d bytes; bounds %d, %d", n, bytes, popCacheEntries, popCacheBytes)
	}
}
