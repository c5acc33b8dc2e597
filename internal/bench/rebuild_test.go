package bench

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
)

var (
	rebuildEvents    = flag.Int("rebuild.events", 0, "events of TestRebuild (0: 20000, a quick check); e.g. 1000000 or 5000000 for the soak")
	rebuildMaxStates = flag.Int("rebuild.maxstates", 0, "projections.Options.MaxStates of TestRebuild (0: the default)")
)

// TestRebuild runs `journey bench rebuild` on a small log (a larger one
// with -rebuild.events=N) and reports throughput and peak memory, the
// encrypted log's rebuild beside the plaintext one.
func TestRebuild(t *testing.T) {
	n := *rebuildEvents
	if n == 0 {
		n = 20000
	}
	res, err := Rebuild(context.Background(), t.TempDir(), n, &Options{Rounds: 1 + min(1, n/100000), MaxStates: *rebuildMaxStates})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Bench != "rebuild" || res[1].Bench != "rebuild-encrypted" {
		t.Fatalf("results %+v, want rebuild and rebuild-encrypted", res)
	}
	for _, r := range res {
		j, _ := json.Marshal(r)
		t.Logf("%s", j)
		if r.Events != n || !(r.EventsPerS > 0) || !(r.BaselineEventsPerS > 0) || r.Ratio != r.EventsPerS/r.BaselineEventsPerS || r.Customers == 0 {
			t.Fatalf("result %s", j)
		}
		if *rebuildEvents > 0 && r.PeakRSSMiB > 1024 {
			t.Fatalf("peak RSS %.0f MiB, want < 1 GiB", r.PeakRSSMiB)
		}
	}
	// The encrypted rebuild folds the same customers; its baseline is the
	// plaintext rebuild of this run.
	if res[1].Customers != res[0].Customers || res[1].BaselineEventsPerS != res[0].EventsPerS {
		t.Fatalf("encrypted %+v beside plaintext %+v", res[1], res[0])
	}
}

// BenchmarkRebuild rebuilds the views of a simulated log of 100,000 events.
func BenchmarkRebuild(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	logDir := filepath.Join(dir, "log")
	if _, _, err := fillLog(context.Background(), logDir, n, (&Options{}).withDefaults()); err != nil {
		b.Fatal(err)
	}
	if err := compactDir(logDir, slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	log, err := eventstore.Open(logDir, &eventstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	v, err := projections.Open(dir, log, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	b.ReportAllocs()
	start := time.Now()
	rounds := 0
	for b.Loop() {
		if _, err := v.Rebuild(context.Background()); err != nil {
			b.Fatal(err)
		}
		rounds++
	}
	b.ReportMetric(float64(n*rounds)/time.Since(start).Seconds(), "events/s")
}
