package bench

import (
	"context"
	"os"
	"testing"
)

// TestSyncAppend runs the synchronous-append measurement on a few events:
// every event is answered with a sequence (the bench fails on any refusal),
// each run reports rates and latencies beside the raw baseline, and the
// bench leaves nothing behind.
func TestSyncAppend(t *testing.T) {
	dir := t.TempDir()
	rs, err := SyncAppend(context.Background(), AppendConfig{Events: 400, Writers: 16, Customers: 50, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"append-nats", "append-http", "append-nats-plaintext"}
	if len(rs) != len(want) {
		t.Fatalf("%d results, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if r.Bench != want[i] || r.Encrypted != (i < 2) || r.Events != 400 || r.Writers != 16 {
			t.Fatalf("result %d: %+v", i, r)
		}
		if r.EventsPerS <= 0 || r.BaselineEventsPerS <= 0 || r.Ratio <= 0 || r.P50MS <= 0 || r.P99MS < r.P50MS ||
			r.BaselineP99MS < r.BaselineP50MS || r.CPUMicrosPerEvent <= 0 || r.TransportEventsPerS <= 0 || r.TransportRatio <= 0 {
			t.Fatalf("result %d not measured: %+v", i, r)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the bench left %d entries in its directory", len(left))
	}
}
