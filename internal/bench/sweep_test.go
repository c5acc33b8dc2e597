package bench

import (
	"context"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

// TestSweep runs the sweep benchmark tiny and checks that the sweep
// re-evaluated every customer, asked each one win-back, and that every
// rate is measured.
func TestSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 3000
	rs, err := Sweep(context.Background(), t.TempDir(), SweepConfig{Customers: n})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1", len(rs))
	}
	r := rs[0]
	if r.Bench != "sweep" || r.Events != n || r.Customers != n || r.Swept != n || r.Winbacks != n || r.Sweeps < 1 {
		t.Fatalf("incomplete sweep: %+v", r)
	}
	if !(r.EventsPerS > 0) || !(r.BaselineEventsPerS > 0) || !(r.Seconds > 0) || !(r.CPUUsPerCustomer > 0) ||
		!(r.IngestEventsPerS > 0) || !(r.IngestDuringSweepEventsPerS > 0) || !(r.IngestRatio > 0) ||
		r.SweepShare != 0.25 || !(r.PacedSeconds > 0) {
		t.Fatalf("a rate is missing: %+v", r)
	}
}

// benchPurchase writes the bytes journey.NewEvent writes.
func TestBenchPurchaseIsNewEvent(t *testing.T) {
	at := sweepT0.Add(90 * time.Minute)
	got, err := benchPurchase("c00000007-p1", "c00000007", at)
	if err != nil {
		t.Fatal(err)
	}
	want, err := journey.NewEvent("c00000007-p1", "pos/store-1/till-1", journey.KindPurchase, "c00000007", at,
		map[string]any{"order_id": "o-c00000007-p1", "amount": "20.00", "currency": "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Raw) != string(want) {
		t.Fatalf("benchPurchase:\n%s\nNewEvent:\n%s", got.Raw, want)
	}
}
