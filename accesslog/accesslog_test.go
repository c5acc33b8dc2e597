package accesslog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *fakeClock    { c := &fakeClock{}; c.ns.Store(t.UnixNano()); return c }
func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// value is a counter's value.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func open(t *testing.T, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func all(t *testing.T, l *Log, f Filter) []Entry {
	t.Helper()
	var got []Entry
	if err := l.Export(context.Background(), f, func(e Entry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func entry(i int, customer string) Entry {
	return Entry{Time: t0.Add(time.Duration(i) * time.Minute), Token: fmt.Sprintf("tablet-%03d", i%3),
		Role: "reader", Customer: customer, Route: "GET /v1/customers/{id}"}
}

func TestRecordExportRoundTrip(t *testing.T) {
	l := open(t, t.TempDir(), Options{Clock: newClock(t0).Now})
	defer l.Close()
	var want []Entry
	// Recorded out of time order: the export is in time order.
	for _, i := range []int{3, 1, 4, 0, 2} {
		e := entry(i, fmt.Sprintf("c%d", i))
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	// Two at the same instant keep the order recorded; a zero Time is the clock's.
	same := []Entry{{Token: "a", Role: "auditor", Customer: "x", Route: "GET /v1/customers/{id}/events"},
		{Token: "b", Role: "auditor", Customer: "x", Route: "GET /v1/customers/{id}/events"}}
	for _, e := range same {
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
		e.Time = t0
		want = append(want, e)
	}
	slices.SortStableFunc(want, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	got := all(t, l, Filter{})
	if !slices.Equal(got, want) {
		t.Fatalf("export:\n got %v\nwant %v", got, want)
	}
}

func TestExportFilter(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	defer l.Close()
	for i := range 10 {
		if err := l.Record(entry(i, []string{"alice", "bob"}[i%2])); err != nil {
			t.Fatal(err)
		}
	}
	customers := func(es []Entry) (s []string) {
		for _, e := range es {
			s = append(s, fmt.Sprintf("%s@%d", e.Customer, int(e.Time.Sub(t0)/time.Minute)))
		}
		return s
	}
	for _, c := range []struct {
		f    Filter
		want []string
	}{
		{Filter{Customer: "bob"}, []string{"bob@1", "bob@3", "bob@5", "bob@7", "bob@9"}},
		{Filter{Since: t0.Add(7 * time.Minute)}, []string{"bob@7", "alice@8", "bob@9"}},
		{Filter{Until: t0.Add(2 * time.Minute)}, []string{"alice@0", "bob@1"}}, // Until is exclusive
		{Filter{Customer: "alice", Since: t0.Add(2 * time.Minute), Until: t0.Add(7 * time.Minute)}, []string{"alice@2", "alice@4", "alice@6"}},
		{Filter{Customer: "nobody"}, nil},
		{Filter{Since: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, customers(all(t, l, Filter{}))},
	} {
		if got := customers(all(t, l, c.f)); !slices.Equal(got, c.want) {
			t.Errorf("%+v: got %v, want %v", c.f, got, c.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := l.Export(context.Background(), Filter{}, func(Entry) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn's error: got %v after %d entries, want stop after 1", err, n)
	}
}

func TestRetentionPruning(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(t0)
	o := Options{Retention: 30 * 24 * time.Hour, Clock: clock.Now}
	l := open(t, dir, o)
	for i := range 3 {
		// days 0, 10 and 20
		e := entry(0, fmt.Sprint("c", i))
		e.Time = t0.Add(time.Duration(i) * 10 * 24 * time.Hour)
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	clock.Add(35 * 24 * time.Hour) // day 35: the entry of day 0 is past 30 days
	if err := l.Prune(); err != nil {
		t.Fatal(err)
	}
	if got := all(t, l, Filter{}); len(got) != 2 || got[0].Customer != "c1" {
		t.Fatalf("after pruning at day 35: %v, want c1 and c2", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Open prunes too: at day 45 the entry of day 10 goes.
	clock.Add(10 * 24 * time.Hour)
	l = open(t, dir, o)
	defer l.Close()
	if got := all(t, l, Filter{}); len(got) != 1 || got[0].Customer != "c2" {
		t.Fatalf("after reopening at day 45: %v, want c2", got)
	}
}

func TestPeriodicPruning(t *testing.T) {
	clock := newClock(t0)
	l := open(t, t.TempDir(), Options{Retention: time.Hour, PruneEvery: 10 * time.Millisecond, Clock: clock.Now})
	defer l.Close()
	if err := l.Record(entry(0, "old")); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for len(all(t, l, Filter{})) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the entry past retention was not pruned by the flusher within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReopenKeepsWhatWasFlushed(t *testing.T) {
	fs := vfs.NewCrashableMem()
	dir := "access"
	// FlushEvery 1 s: nothing is written by the ticker during the test.
	l := open(t, dir, Options{FS: fs, FlushEvery: time.Second})
	if err := l.Record(entry(1, "flushed")); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(entry(2, "buffered")); err != nil {
		t.Fatal(err)
	}
	// A power loss now: only what was fsynced survives.
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := open(t, dir, Options{FS: crashed})
	got := all(t, l2, Filter{})
	if len(got) != 1 || got[0] != entry(1, "flushed") {
		t.Fatalf("after a crash: %v, want only the flushed entry", got)
	}
	// A new entry after the reopen does not overwrite the old one.
	if err := l2.Record(entry(1, "again")); err != nil {
		t.Fatal(err)
	}
	if got := all(t, l2, Filter{}); len(got) != 2 {
		t.Fatalf("after recording at the same instant: %v, want both", got)
	}
	l2.Close()
	// The clean close wrote the buffered entry.
	l3 := open(t, dir, Options{FS: fs, ReadOnly: true})
	defer l3.Close()
	if got := all(t, l3, Filter{}); len(got) != 2 || got[1] != entry(2, "buffered") {
		t.Fatalf("after a clean close: %v, want both entries", got)
	}
	if err := l3.Record(entry(3, "x")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Record read-only: %v, want ErrReadOnly", err)
	}
}

func TestCloseFlushes(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{FlushEvery: time.Second})
	for i := range 100 {
		if err := l.Record(entry(i, "c")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(entry(0, "c")); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close: %v, want ErrClosed", err)
	}
	ro := open(t, dir, Options{ReadOnly: true})
	defer ro.Close()
	if got := all(t, ro, Filter{}); len(got) != 100 {
		t.Fatalf("read-only after Close: %d entries, want 100", len(got))
	}
}

func TestReadOnlyNoLog(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "access"), Options{ReadOnly: true})
	if !errors.Is(err, ErrNoLog) {
		t.Fatalf("read-only open of no log: %v, want ErrNoLog", err)
	}
}

func TestFlushedWithinFlushEvery(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := open(t, t.TempDir(), Options{FlushEvery: 20 * time.Millisecond, Registerer: reg})
	defer l.Close()
	if err := l.Record(entry(0, "c")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for value(l.written) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the entry was not written by the flusher within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "journey_access_log_entries_total" {
			found = mf.GetMetric()[0].GetCounter().GetValue() == 1
		}
	}
	if !found {
		t.Error("journey_access_log_entries_total 1 not on the registry")
	}
}

func TestConcurrentRecord(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{FlushEvery: 5 * time.Millisecond, MaxPending: 256})
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := l.Record(Entry{Token: fmt.Sprint("t", w), Role: "reader", Customer: fmt.Sprint("c", i), Route: "r"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Exports while recording.
	for range 5 {
		all(t, l, Filter{Customer: "c1"})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, Options{})
	defer l.Close()
	got := all(t, l, Filter{})
	if len(got) != workers*each {
		t.Fatalf("%d entries, want %d", len(got), workers*each)
	}
	if !slices.IsSortedFunc(got, func(a, b Entry) int { return a.Time.Compare(b.Time) }) {
		t.Error("export not in time order")
	}
}

// A disk that does not take the writes: Record blocks up to MaxWait, then
// gives up loudly (ErrFull, counted); once the disk takes writes again a
// blocked Record goes through.
func TestFullBufferBlocksThenCounts(t *testing.T) {
	l := open(t, t.TempDir(), Options{MaxPending: 4, MaxWait: 50 * time.Millisecond, FlushEvery: 5 * time.Millisecond})
	defer l.Close()
	l.flushMu.Lock() // the disk is stuck
	for i := range 4 {
		if err := l.Record(entry(i, "c")); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := l.Record(entry(9, "c")); !errors.Is(err, ErrFull) {
		t.Fatalf("Record on a full buffer: %v, want ErrFull", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %s, before MaxWait", d)
	}
	if n := value(l.droppedC); n != 1 {
		t.Errorf("dropped counter %v, want 1", n)
	}
	done := make(chan error)
	go func() { done <- l.Record(entry(5, "c")) }()
	time.Sleep(10 * time.Millisecond)
	l.flushMu.Unlock() // the disk is back
	if err := <-done; err != nil {
		t.Fatalf("Record once the disk is back: %v", err)
	}
	if got := all(t, l, Filter{}); len(got) != 5 {
		t.Fatalf("%d entries, want the 5 not dropped", len(got))
	}
}

// A registry that has the metrics already is an error at Open, not a panic.
func TestMetricsTwiceIsAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := open(t, t.TempDir(), Options{Registerer: reg})
	defer l.Close()
	if l2, err := Open(t.TempDir(), Options{Registerer: reg}); err == nil {
		l2.Close()
		t.Fatal("a second log on the same registry opened")
	}
}
