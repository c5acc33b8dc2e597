package bench

import (
	"context"
	"encoding/json"
	"os"
	"testing"
)

// TestAsOf runs `journey bench asof` small: one measurement, every field
// filled, the answers read fewer records than the history holds (the
// fold snapshots), and nothing left in its directory.
func TestAsOf(t *testing.T) {
	dir := t.TempDir()
	res, err := AsOf(context.Background(), dir, 2000, 30, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("%d results", len(res))
	}
	r := res[0]
	j, _ := json.Marshal(r)
	t.Logf("%s", j)
	if r.Bench != "asof" || r.Events != AsOfHistory || r.LogEvents != 2000+AsOfHistory || r.Requests != 30 || r.Instants != 8 ||
		!(r.P50MS > 0) || r.P99MS < r.P50MS || !(r.ColdMS > 0) || !(r.BaselineEventsPerS > 0) || r.Customers < 2 {
		t.Fatalf("result %s", j)
	}
	if !(r.RecordsRead > 0) || r.RecordsRead >= AsOfHistory {
		t.Fatalf("an answer reads %.0f of the %d records on average", r.RecordsRead, AsOfHistory)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the bench left %d entries in its directory", len(left))
	}
	if _, err := AsOf(context.Background(), dir, 0, 1, nil); err == nil {
		t.Fatal("no error for 0 events")
	}
}
