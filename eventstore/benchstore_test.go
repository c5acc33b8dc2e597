package eventstore

import (
	"context"
	"encoding/json"
	"flag"
	"testing"
)

var benchStoreFlag = flag.Bool("benchstore", false, "run BenchStore at full size and print its results")

// TestBenchStore runs BenchStore small (or at full size with -benchstore)
// and checks that every pair was measured.
func TestBenchStore(t *testing.T) {
	cfg := BenchConfig{Events: 3000, BatchSize: 500, Writers: 8, ConcurrentEvents: 400, HistoryEvents: 100, Customers: 100, Rounds: 1}
	if *benchStoreFlag {
		cfg = BenchConfig{}
	} else if testing.Short() {
		t.Skip("short")
	}
	res, err := BenchStore(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	for _, r := range res {
		if r.Events <= 0 || r.EventsPerS <= 0 || r.BaselineEventsPerS <= 0 || r.Ratio <= 0 || r.Baseline == "" {
			t.Fatalf("incomplete result %+v", r)
		}
		b, _ := json.Marshal(r)
		t.Logf("%s", b)
	}
}
