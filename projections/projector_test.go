package projections

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/customer"
)

// The clock of the tests: shortly after the simulated period.
const simDays = 150

var testNow = simStart.Add((simDays + 10) * 24 * time.Hour)

func TestLiveProjectionEqualsRebuild(t *testing.T) {
	raws := simulated(t, 400, simDays, 7)
	if lateCount(t, raws) == 0 {
		t.Fatal("the simulation has no late events; the test would not exercise re-folds")
	}
	dir := t.TempDir()
	log := openLog(t, dir)
	// Live: the log grows while the projector follows it, batch by batch.
	v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow), BatchEvents: 97})
	for i := 0; i < len(raws); i += 1000 {
		appendRaw(t, log, raws[i:min(i+1000, len(raws))])
		catchUp(t, v)
	}
	if got, want := v.Checkpoint(), log.DurableSeq(); got != want {
		t.Fatalf("Checkpoint()=%d, want %d", got, want)
	}
	live := answers(t, v, time.Time{}, false)
	livePop, _ := v.Population()

	oldDir := v.Dir()
	st, err := v.Rebuild(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != log.DurableSeq() || st.Customers != uint64(len(live)) {
		t.Fatalf("rebuild stats %+v: want %d events, %d customers", st, log.DurableSeq(), len(live))
	}
	if v.Dir() == oldDir {
		t.Fatalf("rebuild did not swap the views dir (%s)", oldDir)
	}
	if _, err := os.Stat(oldDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old views dir %s still there (%v)", oldDir, err)
	}
	t.Logf("%d events (%d late), %d customers, rebuild %+v", len(raws), lateCount(t, raws), len(live), st)
	rebuilt := answers(t, v, time.Time{}, false)
	sameAnswers(t, "live vs rebuild", live, rebuilt)
	pop, _ := v.Population()
	if pop.MedianGap != livePop.MedianGap || pop.MedianGap == 0 {
		t.Fatalf("median gap live %v, rebuilt %v", livePop.MedianGap, pop.MedianGap)
	}

	// A rebuild with a small state bound folds in rounds, and without a
	// reorder window re-folds the late customers; same answers.
	v.opts.MaxStates = 7
	v.opts.Workers = 3
	v.opts.ReorderWindow = -1
	if st, err = v.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.Refolded == 0 || st.Rounds < 2 || st.Customers != uint64(len(live)) {
		t.Fatalf("rebuild stats %+v: want re-folds, rounds and %d customers", st, len(live))
	}
	sameAnswers(t, "live vs rebuild in rounds", live, answers(t, v, time.Time{}, false))

	// Reopening finds the rebuilt views through the pointer file.
	dirNow := v.Dir()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v2 := openViews(t, dir, log, &Options{Clock: fixedClock(testNow)})
	if v2.Dir() != dirNow || v2.Checkpoint() != log.DurableSeq() {
		t.Fatalf("reopened %s at %d, want %s at %d", v2.Dir(), v2.Checkpoint(), dirNow, log.DurableSeq())
	}
	sameAnswers(t, "live vs reopened", live, answers(t, v2, time.Time{}, false))
}

func TestArrivalOrderDoesNotMatter(t *testing.T) {
	raws := simulated(t, 200, simDays, 11)
	var ref map[string]string
	for i, order := range [][][]byte{raws, shuffled(raws, 1), shuffled(raws, 2)} {
		dir := t.TempDir()
		log := openLog(t, dir)
		appendRaw(t, log, order)
		v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow), BatchEvents: 64})
		catchUp(t, v)
		got := answers(t, v, time.Time{}, true)
		if i == 0 {
			ref = got
			continue
		}
		sameAnswers(t, fmt.Sprintf("arrival order %d", i), ref, got)
		if _, err := v.Rebuild(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameAnswers(t, fmt.Sprintf("arrival order %d rebuilt", i), ref, answers(t, v, time.Time{}, true))
	}
}

// ev builds a raw event.
func ev(id, typ, subject string, at time.Time, data string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"pos/store-1/till-1","type":%q,"subject":%q,"time":%q,"data":%s}`,
		id, typ, subject, at.Format(time.RFC3339Nano), data)
}

func purchase(id, subject string, at time.Time) []byte {
	return ev(id, "purchase", subject, at, fmt.Sprintf(`{"order_id":%q,"amount":"10.00","currency":"EUR"}`, id))
}

func TestLateEventRefoldsAndReferralMarks(t *testing.T) {
	day := func(d int) time.Time { return simStart.Add(time.Duration(d) * 24 * time.Hour) }
	inOrder := [][]byte{
		purchase("p1", "bob", day(1)),
		ev("r1", "referral", "ann", day(2), `{"referred":"bob"}`),
		purchase("p2", "bob", day(3)),
		ev("f1", "feedback", "bob", day(4), `{"nps":10}`),
		purchase("p3", "bob", day(10)),
		ev("r2", "referral", "ann", day(11), `{"referred":"cid"}`),
	}
	// Arrival order: bob's day-3 purchase and the referral of bob arrive
	// last, cid never has an event of their own.
	arrival := [][]byte{inOrder[0], inOrder[3], inOrder[4], inOrder[5], inOrder[2], inOrder[1]}
	var changes []Change
	var results []map[string]string
	for _, order := range [][][]byte{inOrder, arrival} {
		dir := t.TempDir()
		log := openLog(t, dir)
		changes = nil
		v := openViews(t, dir, log, &Options{Clock: fixedClock(day(20)), OnChange: func(c Change) { changes = append(changes, c) }})
		for _, raw := range order { // one event per batch: the late ones re-fold
			appendRaw(t, log, [][]byte{raw})
			catchUp(t, v)
		}
		got := answers(t, v, time.Time{}, true)
		results = append(results, got)
		bob, err := v.Customer(context.Background(), "bob", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if bob.State.Purchases != 3 || bob.State.ReferredBy != "ann" || !bob.HasType(customer.TypeReferred) {
			t.Fatalf("bob: %d purchases, referred by %q, types %v", bob.State.Purchases, bob.State.ReferredBy, bob.Types)
		}
		cid, err := v.Customer(context.Background(), "cid", time.Time{})
		if err != nil || cid.State.ReferredBy != "ann" || cid.Stage != customer.StageProspect {
			t.Fatalf("cid: %+v, %v", cid, err)
		}
		// As of day 2.5 bob was referred and had one purchase; cid unknown.
		b25, err := v.Customer(context.Background(), "bob", day(2).Add(12*time.Hour))
		if err != nil || b25.State.Purchases != 1 || b25.State.ReferredBy != "ann" {
			t.Fatalf("bob as of day 2.5: %+v, %v", b25, err)
		}
		if _, err := v.Customer(context.Background(), "cid", day(5)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cid as of day 5: %v, want ErrNotFound", err)
		}
		// One change per event, plus one per referral for the referred.
		if len(changes) != len(order)+2 {
			t.Fatalf("%d changes, want %d", len(changes), len(order)+2)
		}
		if changes[0].Before != nil || changes[0].After == nil || changes[0].Seq != 1 {
			t.Fatalf("first change %+v", changes[0])
		}
		if _, err := v.Rebuild(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameAnswers(t, "live vs rebuild", got, answers(t, v, time.Time{}, true))
	}
	sameAnswers(t, "in order vs late arrival", results[0], results[1])
	// In the late arrival, bob's day-3 purchase re-folded him.
	refolded := false
	for _, c := range changes {
		if c.Customer == "bob" && c.Event.ID == "p2" {
			refolded = c.Refolded
			if c.Before.State.Purchases != 2 || c.After.State.Purchases != 3 {
				t.Fatalf("p2 change: %d → %d purchases", c.Before.State.Purchases, c.After.State.Purchases)
			}
		}
	}
	if !refolded {
		t.Fatal("the late purchase did not re-fold bob")
	}
}

func TestAsOfEqualsTruncatedLog(t *testing.T) {
	// Fold snapshots every 4 events: the one-customer answers start from them.
	withSnapshotEvery(t, 4)
	raws := simulated(t, 300, simDays, 5)
	// End of day 90: the population median counts whole days.
	asOf := simStart.Add(91*24*time.Hour - time.Nanosecond)
	var truncated [][]byte
	for _, raw := range raws {
		e, err := journey.DecodeStored(raw)
		if err == nil && !e.Time.After(asOf) {
			truncated = append(truncated, raw)
		}
	}
	_, _, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow)})

	tdir := t.TempDir()
	tlog := openLog(t, tdir)
	appendRaw(t, tlog, truncated)
	tv := openViews(t, tdir, tlog, &Options{Clock: fixedClock(asOf)})
	catchUp(t, tv)

	// The population at asOf (scratch fold) equals the truncated log's.
	sameAnswers(t, "population as of vs truncated log", answers(t, tv, time.Time{}, true), answers(t, v, asOf, true))
	// One customer as of = the truncated log's, RFM included (scored
	// against the population at asOf).
	want := answers(t, tv, time.Time{}, true)
	n := 0
	for id := range want {
		c, err := v.Customer(context.Background(), id, asOf)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tv.Customer(context.Background(), id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := render(t, c, true), render(t, tc, true); a != b {
			t.Fatalf("customer %s as of:\n%s\n----\n%s", id, a, b)
		}
		if n++; n == 60 {
			break
		}
	}
	sa, err := v.Segmentation(context.Background(), asOf)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := tv.Segmentation(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Fatalf("segments as of %v\nvs truncated %v", sa, sb)
	}
	// A customer whose first event is after asOf is not found.
	for _, raw := range raws {
		e, _ := journey.DecodeStored(raw)
		if e != nil && e.Time.After(asOf) {
			if _, ok := want[e.Subject]; !ok {
				if _, err := v.Customer(context.Background(), e.Subject, asOf); !errors.Is(err, ErrNotFound) {
					t.Fatalf("customer %s as of %v: %v, want ErrNotFound", e.Subject, asOf, err)
				}
				break
			}
		}
	}
}

func TestDeletedViewsCatchUp(t *testing.T) {
	raws := simulated(t, 150, simDays, 3)
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, raws)
	v, err := Open(dir, log, &Options{Clock: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	catchUp(t, v)
	want := answers(t, v, time.Time{}, false)
	vdir := v.Dir()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(vdir); err != nil {
		t.Fatal(err)
	}
	v2 := openViews(t, dir, log, &Options{Clock: fixedClock(testNow)})
	if v2.Checkpoint() != 0 {
		t.Fatalf("deleted views reopen at %d, want 0", v2.Checkpoint())
	}
	if _, err := v2.Customer(context.Background(), "nobody", time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Customer(nobody)=%v, want ErrNotFound", err)
	}
	if n := catchUp(t, v2); n != log.DurableSeq() {
		t.Fatalf("caught up %d events, want %d", n, log.DurableSeq())
	}
	sameAnswers(t, "before delete vs caught up", want, answers(t, v2, time.Time{}, false))

	// Deleted again, with the parallel catch-up of fresh views.
	vdir = v2.Dir()
	if err := v2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(vdir); err != nil {
		t.Fatal(err)
	}
	defer func(n uint64) { parallelCatchUpMin = n }(parallelCatchUpMin)
	parallelCatchUpMin = 1
	v3 := openViews(t, dir, log, &Options{Clock: fixedClock(testNow)})
	if n := catchUp(t, v3); n != log.DurableSeq() || v3.Checkpoint() != log.DurableSeq() {
		t.Fatalf("parallel catch-up: %d events, checkpoint %d, want %d", n, v3.Checkpoint(), log.DurableSeq())
	}
	sameAnswers(t, "before delete vs parallel catch-up", want, answers(t, v3, time.Time{}, false))
	if n := catchUp(t, v3); n != 0 {
		t.Fatalf("second catch-up applied %d", n)
	}
}

func TestViewsOfAnotherLogStartAfresh(t *testing.T) {
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, simulated(t, 30, 30, 1))
	v := openViews(t, dir, log, nil)
	catchUp(t, v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	// A different log in another data dir, same views.
	other := t.TempDir()
	log2 := openLog(t, other)
	appendRaw(t, log2, simulated(t, 30, 30, 2))
	v2 := openViews(t, dir, log2, nil)
	if v2.Checkpoint() != 0 {
		t.Fatalf("views of another log kept checkpoint %d", v2.Checkpoint())
	}
	catchUp(t, v2)
	n, err := v2.CustomerCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ref := openViews(t, t.TempDir(), log2, nil)
	catchUp(t, ref)
	if m, _ := ref.CustomerCount(context.Background()); m != n {
		t.Fatalf("%d customers, want %d", n, m)
	}
}

func TestRebuildSwapWhileReading(t *testing.T) {
	raws := simulated(t, 200, simDays, 9)
	_, _, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow)})
	want := answers(t, v, time.Time{}, false)
	var ids []string
	for id := range want {
		ids = append(ids, id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 8)
	for g := range 3 {
		wg.Go(func() {
			for i := g; ctx.Err() == nil; i++ {
				id := ids[i%len(ids)]
				c, err := v.Customer(ctx, id, time.Time{})
				if err != nil {
					errs <- err
					return
				}
				if got := render(t, c, false); got != want[id] {
					errs <- fmt.Errorf("customer %s changed during rebuild", id)
					return
				}
				if i%50 == 0 {
					if _, err := v.Segments(ctx, ByStage, time.Time{}); err != nil {
						errs <- err
						return
					}
				}
				reads.Add(1)
			}
		})
	}
	// A follower keeps applying while rebuilds run.
	wg.Go(func() {
		if err := v.Follow(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- err
		}
	})
	dirs := map[string]bool{v.Dir(): true}
	for range 3 {
		if _, err := v.Rebuild(context.Background()); err != nil {
			t.Fatal(err)
		}
		dirs[v.Dir()] = true
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(dirs) != 4 || reads.Load() == 0 {
		t.Fatalf("%d views dirs, %d reads", len(dirs), reads.Load())
	}
	sameAnswers(t, "before vs after rebuilds", want, answers(t, v, time.Time{}, false))
}

func TestFollowAppliesNewEvents(t *testing.T) {
	raws := simulated(t, 60, 60, 4)
	dir := t.TempDir()
	log := openLog(t, dir)
	v := openViews(t, dir, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Follow(ctx) }()
	appendRaw(t, log, raws[:len(raws)/2])
	appendRaw(t, log, raws[len(raws)/2:])
	deadline := time.Now().Add(10 * time.Second)
	for v.Checkpoint() != log.DurableSeq() {
		if time.Now().After(deadline) {
			t.Fatalf("Follow at %d, log at %d", v.Checkpoint(), log.DurableSeq())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v", err)
	}
}
