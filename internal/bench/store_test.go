package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

// The go test -bench wrappers of the event store: each times one of
// eventstore's operations alone (Store measures them beside raw Pebble).

var benchStoreFlag = flag.Bool("benchstore", false, "run TestStore at full size and print its results")

// TestStore runs Store small (or at full size with -benchstore) and checks
// that every pair was measured.
func TestStore(t *testing.T) {
	cfg := StoreConfig{Events: 3000, BatchSize: 500, Writers: 8, ConcurrentEvents: 400, HistoryEvents: 100, Customers: 100, Rounds: 1}
	if *benchStoreFlag {
		cfg = StoreConfig{}
	} else if testing.Short() {
		t.Skip("short")
	}
	res, err := Store(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res {
		names = append(names, r.Bench)
	}
	want := []string{"append-batch-500", "append-concurrent-8", "scan", "history-100", "append-batch-500-encrypted", "scan-encrypted"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("results %v, want %v", names, want)
	}
	for _, r := range res {
		if r.Events <= 0 || r.EventsPerS <= 0 || r.BaselineEventsPerS <= 0 || r.Ratio <= 0 || r.Baseline == "" {
			t.Fatalf("incomplete result %+v", r)
		}
		b, _ := json.Marshal(r)
		t.Logf("%s", b)
	}
}

var (
	benchEventsOnce sync.Once
	benchEvents     []*journey.Event
)

// benchEventPool is a shared pool of pre-generated events; benchmarks that
// need more than it holds cycle through fresh stores.
func benchEventPool(b testing.TB) []*journey.Event {
	benchEventsOnce.Do(func() {
		evs, err := StoreEvents(200_000, 20_000, 1000, 42)
		if err != nil {
			panic(err)
		}
		benchEvents = evs
	})
	return benchEvents
}

func benchOpen(b *testing.B) *eventstore.Store {
	b.Helper()
	s, err := eventstore.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAppend appends synced batches of n events on disk.
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			pool := benchEventPool(b)
			s := benchOpen(b)
			defer s.Close()
			ctx := context.Background()
			reqs := make([]eventstore.Request, n)
			next, events, size := 0, 0, int64(0)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if next+n > len(pool) {
					b.StopTimer()
					s.Close()
					s = benchOpen(b)
					next = 0
					b.StartTimer()
				}
				for i := range reqs {
					ev := pool[next+i]
					reqs[i] = eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion}
					size += int64(len(ev.Raw))
				}
				next += n
				if _, err := s.Append(ctx, reqs); err != nil {
					b.Fatal(err)
				}
				events += n
			}
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
			b.SetBytes(size / int64(max(1, b.N)))
		})
	}
}

// BenchmarkAppendConcurrent has 64 goroutines each appending one event at
// a time through the group commit.
func BenchmarkAppendConcurrent(b *testing.B) {
	b.Run("writers=64", func(b *testing.B) {
		pool := benchEventPool(b)
		s := benchOpen(b)
		defer s.Close()
		ctx := context.Background()
		b.SetParallelism(32) // 2 CPUs × 32 = 64 goroutines
		var mu sync.Mutex
		next := 0
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				i := next % len(pool)
				next++
				mu.Unlock()
				// Past the pool the ids repeat: duplicates, still one round trip.
				if _, err := s.Append(ctx, []eventstore.Request{{Event: pool[i], ExpectedVersion: eventstore.AnyVersion}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
}

// benchFilled returns a store holding the first n pool events.
func benchFilled(b *testing.B, n int) *eventstore.Store {
	pool := benchEventPool(b)
	s := benchOpen(b)
	reqs := make([]eventstore.Request, 0, 1000)
	for i := 0; i < n; i += 1000 {
		reqs = reqs[:0]
		for _, ev := range pool[i:min(i+1000, n)] {
			reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
		}
		if _, err := s.Append(context.Background(), reqs); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkScan reads the whole log.
func BenchmarkScan(b *testing.B) {
	const n = 200_000
	s := benchFilled(b, n)
	defer s.Close()
	b.ReportAllocs()
	start := time.Now()
	var total int
	for b.Loop() {
		if err := s.Scan(context.Background(), 1, 0, func(rec *eventstore.Record) error { total += len(rec.Raw); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(total / b.N))
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkCustomerEvents reads the history of a customer with 1,000
// events spread over a 200,000-event log.
func BenchmarkCustomerEvents(b *testing.B) {
	s := benchFilled(b, 200_000)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.CustomerEvents(context.Background(), HistoryCustomer, 0, 0)
		if err != nil || len(recs) != 1000 {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
}

// BenchmarkAppendCPU isolates the CPU cost of appending (no fsync, files in
// memory): the engine's batched Append against a raw Pebble batch of the
// baseline's three keys per event (rawSet).
// (vfs.NewMem is slower than a real disk here, so this runs on TempDir.)
func BenchmarkAppendCPU(b *testing.B) {
	const n = 1000
	pool := benchEventPool(b)
	set := newEventSet(pool)
	b.Run("engine", func(b *testing.B) {
		var s *eventstore.Store
		next := len(pool)
		reqs := make([]eventstore.Request, n)
		for b.Loop() {
			if next+n > len(pool) {
				b.StopTimer()
				if s != nil {
					s.Close()
				}
				var err error
				if s, err = eventstore.Open(b.TempDir(), &eventstore.Options{NoSync: true}); err != nil {
					b.Fatal(err)
				}
				next = 0
				b.StartTimer()
			}
			for i := range reqs {
				reqs[i] = eventstore.Request{Event: pool[next+i], ExpectedVersion: eventstore.AnyVersion}
			}
			next += n
			if _, err := s.Append(context.Background(), reqs); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("raw", func(b *testing.B) {
		var db *pebble.DB
		next := len(pool)
		var key []byte
		for b.Loop() {
			if next+n > len(pool) {
				b.StopTimer()
				if db != nil {
					db.Close()
				}
				var err error
				if db, err = pebble.Open(b.TempDir(), eventstore.PebbleOptions(nil, nil)); err != nil {
					b.Fatal(err)
				}
				next = 0
				b.StartTimer()
			}
			batch := db.NewBatch()
			for i := next; i < next+n; i++ {
				key = rawSet(batch, set, i, key)
			}
			next += n
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			batch.Close()
		}
		db.Close()
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// TestOnFresh: each run of onFresh opens its own fresh directory, write
// sees the open store, its error comes back, and the directory is removed
// after the run (open errors too).
func TestOnFresh(t *testing.T) {
	cfg := StoreConfig{}
	b := &storeBench{cfg: cfg.withDefaults(), dir: t.TempDir()}
	var dirs []string
	open := func(name string) (*eventstore.Store, string, error) {
		s, d, err := b.openStore(name)
		dirs = append(dirs, d)
		return s, d, err
	}
	boom := errors.New("boom")
	ctx := context.Background()
	evs, err := StoreEvents(1, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	run := onFresh(open, "fresh", func(s *eventstore.Store) error {
		if _, err := s.Append(ctx, appendReqs(evs)); err != nil {
			return err
		}
		if _, err := os.Stat(dirs[len(dirs)-1]); err != nil {
			t.Errorf("store directory missing during write: %v", err)
		}
		return boom
	})
	for range 2 {
		d, err := run()
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want %v", err, boom)
		}
		if d <= 0 {
			t.Fatalf("duration %v", d)
		}
	}
	if len(dirs) != 2 || dirs[0] == dirs[1] {
		t.Fatalf("runs used directories %q, want two fresh ones", dirs)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("%s still there after the run (stat: %v)", d, err)
		}
	}
	openErr := errors.New("cannot open")
	_, err = onFresh(func(string) (*eventstore.Store, string, error) { return nil, "", openErr }, "x",
		func(*eventstore.Store) error { t.Fatal("write ran without a store"); return nil })()
	if !errors.Is(err, openErr) {
		t.Fatalf("open error %v, want %v", err, openErr)
	}
}
