package reactions

import (
	"context"
	"testing"
	"time"
)

// TestSweepPacer: a sweep at share s pauses after each slice for its work
// times (1-s)/s, so that over the sweep work / (work + pauses) is s; at
// share 1 it never pauses; a cancelled context ends a pause.
func TestSweepPacer(t *testing.T) {
	for _, share := range []float64{0.25, 0.5, 1} {
		clock := time.Unix(1e9, 0)
		var paused time.Duration
		p := newSweepPacer(share)
		p.since, p.now = clock, func() time.Time { return clock }
		p.sleep = func(_ context.Context, d time.Duration) error {
			paused += d
			clock = clock.Add(d)
			return nil
		}
		const n, perCustomer = 10 * sweepSlice, time.Millisecond
		for i := range n {
			if err := p.step(context.Background(), i); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(perCustomer) // the customer's work
		}
		work := time.Duration(n-sweepSlice) * perCustomer // the last slice ends unpaused
		if share == 1 {
			if paused != 0 {
				t.Fatalf("share 1 paused %v", paused)
			}
			continue
		}
		if got := float64(work) / float64(work+paused); got < share-0.001 || got > share+0.001 {
			t.Fatalf("share %.2f: work %v, paused %v: the sweep took %.3f of its time", share, work, paused, got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); err == nil {
		t.Fatal("a cancelled sweep's pause did not end")
	}
}
