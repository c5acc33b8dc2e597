package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
)

// withSnapshotEvery sets snapshotEvery to k for the test.
func withSnapshotEvery(t testing.TB, k int) {
	t.Helper()
	old := snapshotEvery
	snapshotEvery = k
	t.Cleanup(func() { snapshotEvery = old })
}

// snapshotPositions lists the stored fold snapshots of customer.
func snapshotPositions(t testing.TB, v *Views, id string) []time.Time {
	t.Helper()
	p := snapPrefix(id)
	it, err := v.cur.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []time.Time
	for it.First(); it.Valid(); it.Next() {
		at, _, ok := decodeSnapKey(p, it.Key())
		if !ok {
			t.Fatalf("bad snapshot key %q", it.Key())
		}
		st := customer.NewState(id)
		if err := st.UnmarshalBinary(it.Value()); err != nil {
			t.Fatal(err)
		}
		if st.ReferredBy != "" {
			t.Fatalf("snapshot of %s at %v holds the referral mark by %s", id, at, st.ReferredBy)
		}
		out = append(out, at)
	}
	return out
}

func TestSnapshotKeyOrder(t *testing.T) {
	times := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Unix(0, 1).UTC(),
		time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	var prev []byte
	for i, at := range times {
		for _, seq := range []uint64{1, 1 << 40} {
			k := snapKey("bob", at, seq)
			if prev != nil && string(k) <= string(prev) {
				t.Fatalf("key of %v/%d sorts before the previous one", at, seq)
			}
			prev = k
			gt, gs, ok := decodeSnapKey(snapPrefix("bob"), k)
			if !ok || !gt.Equal(at) || gs != seq {
				t.Fatalf("time %d: decoded %v/%d/%v", i, gt, gs, ok)
			}
		}
	}
}

// TestAsOfSnapshotsLateEventsAndMarks: with fold snapshots every 3 events,
// a customer whose events arrive out of order and who is named by
// referrals arriving before, between and after their events answers, at
// every instant, what a log holding only the events up to that instant
// answers; late events drop the snapshots they invalidate, snapshots hold
// no referral mark, and the as-of folds read fewer events than the
// history.
func TestAsOfSnapshotsLateEventsAndMarks(t *testing.T) {
	withSnapshotEvery(t, 3)
	day := func(d float64) time.Time { return simStart.Add(time.Duration(d * float64(24*time.Hour))) }
	var bob [][]byte
	for i := 1; i <= 30; i++ {
		id := fmt.Sprintf("b%02d", i)
		switch i % 3 {
		case 0:
			bob = append(bob, purchase(id, "bob", day(float64(i))))
		case 1:
			bob = append(bob, ev(id, "visit", "bob", day(float64(i)), `{"channel":"store","store_id":"store-1"}`))
		default:
			bob = append(bob, ev(id, "feedback", "bob", day(float64(i)), fmt.Sprintf(`{"nps":%d}`, i%11)))
		}
	}
	refAnn := ev("ra", "referral", "ann", day(20.5), `{"referred":"bob"}`)
	refCarl := ev("rc", "referral", "carl", day(8.5), `{"referred":"bob"}`)
	refDan := ev("rd", "referral", "dan", day(3.5), `{"referred":"bob"}`)
	others := [][]byte{
		purchase("a1", "ann", day(1)), purchase("a2", "ann", day(15)),
		purchase("c1", "carl", day(2)), purchase("d1", "dan", day(3)), purchase("d2", "dan", day(29)),
	}
	// Arrival: a referral of day 20.5 before bob's events, bob's days 1–12
	// in order, the referral of day 8.5, days 16–24, then late: days 13–15,
	// days 25–30 with day 26 held back, the referral of day 3.5, day 26.
	var arrival [][]byte
	arrival = append(arrival, others[:3]...)
	arrival = append(arrival, refAnn)
	arrival = append(arrival, bob[0:12]...)
	arrival = append(arrival, refCarl)
	arrival = append(arrival, bob[15:24]...)
	arrival = append(arrival, bob[12:15]...) // late: re-folds, drops snapshots ≥ day 13
	arrival = append(arrival, others[3:]...)
	arrival = append(arrival, bob[24], bob[26], bob[27], bob[28], bob[29])
	arrival = append(arrival, refDan, bob[25]) // day 26 late
	// Then in order again: new snapshots.
	for i := 31; i <= 36; i++ {
		arrival = append(arrival, purchase(fmt.Sprintf("b%02d", i), "bob", day(float64(i))))
	}
	ctx := context.Background()
	truth := map[string]*customer.Answer{} // the truncated logs' answers
	for _, batch := range []int{1, 4, 1000} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			dir := t.TempDir()
			log := openLog(t, dir)
			v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow), BatchEvents: batch})
			step := func(raws ...[]byte) {
				appendRaw(t, log, raws)
				catchUp(t, v)
			}
			// check compares bob's as-of answers with those of the log of
			// raws truncated at each instant, and the records each fold read
			// with maxRead (0: no bound); it returns how many folds started
			// from a snapshot.
			check := func(raws [][]byte, maxRead int) int {
				fewer := 0
				for d := 0.25; d <= 37; d++ {
					asOf := day(d)
					key := fmt.Sprint(len(raws), d)
					want, ok := truth[key]
					if !ok {
						// The truncated log's answer does not depend on the batch size.
						want, _ = truncatedViews(t, raws, asOf).Customer(ctx, "bob", asOf)
						truth[key] = want
					}
					werr := error(nil)
					if want == nil {
						werr = ErrNotFound
					}
					got, gerr := v.Customer(ctx, "bob", asOf)
					if (werr == nil) != (gerr == nil) {
						t.Fatalf("as of day %v: %v, truncated log: %v", d, gerr, werr)
					}
					if werr != nil {
						continue
					}
					if a, b := render(t, got, true), render(t, want, true); a != b {
						t.Fatalf("bob as of day %v:\n%s\n----\ntruncated log:\n%s", d, a, b)
					}
					_, _, read, err := v.foldHistoryN(ctx, v.cur.db, "bob", v.Checkpoint(), asOf)
					if err != nil {
						t.Fatal(err)
					}
					if maxRead > 0 && read > maxRead {
						t.Fatalf("as of day %v: the fold read %d events, want at most %d", d, read, maxRead)
					}
					if read < want.State.Events {
						fewer++
					}
				}
				return fewer
			}
			lateAt := 3 + 1 + 12 + 1 + 9
			if batch == 1 {
				for _, raw := range arrival[:lateAt] {
					step(raw)
				}
			} else {
				step(arrival[:lateAt]...)
			}
			if got := snapshotPositions(t, v, "bob"); len(got) != 7 || !got[6].Equal(day(24)) {
				t.Fatalf("bob's snapshots before the late events at %v, want 7 up to day 24", got)
			}
			// In order so far: every fold reads one span of 3 events at most.
			if check(arrival[:lateAt], 3) == 0 {
				t.Fatal("no as-of fold started from a snapshot")
			}
			step(arrival[lateAt])
			for _, at := range snapshotPositions(t, v, "bob") {
				if !at.Before(day(13)) {
					t.Fatalf("a snapshot at %v survived the late event of day 13", at)
				}
			}
			step(arrival[lateAt+1:]...)
			if got := snapshotPositions(t, v, "bob"); len(got) < 5 {
				t.Fatalf("bob's snapshots at the end at %v, want those up to day 12 and new ones", got)
			}
			if check(arrival, 0) == 0 {
				t.Fatal("no as-of fold started from a snapshot")
			}
			if batch != 1000 {
				return
			}
			// A rebuild writes snapshots too, where the events folded in
			// time order are those up to the snapshot's seq.
			if _, err := v.Rebuild(ctx); err != nil {
				t.Fatal(err)
			}
			want := []time.Time{day(3), day(6), day(9), day(12), day(24), day(30), day(33), day(36)}
			if got := snapshotPositions(t, v, "bob"); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("bob's snapshots after a rebuild at %v, want %v", got, want)
			}
			if check(arrival, 0) == 0 {
				t.Fatal("no as-of fold after the rebuild started from a snapshot")
			}
			// The referral marks as of instants between them.
			for _, c := range []struct {
				d  float64
				by string
			}{{3, ""}, {4, "dan"}, {25, "dan"}} {
				got, err := v.Customer(ctx, "bob", day(c.d))
				if err != nil || got.State.ReferredBy != c.by {
					t.Fatalf("bob as of day %v referred by %q (%v), want %q", c.d, got.State.ReferredBy, err, c.by)
				}
			}
		})
	}
}
