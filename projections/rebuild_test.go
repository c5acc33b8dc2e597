package projections

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

// TestRebuildPaths drives the rebuild's less common paths against the live
// projection: customers re-folded from their histories (events far later
// than the reorder window), the encoded tier compacted and written out.
func TestRebuildPaths(t *testing.T) {
	raws := simulated(t, 300, simDays, 23)
	// Three customers get a purchase 40 days older than their newest
	// event, appended at the end: beyond the reorder window.
	newest := map[string]time.Time{}
	for _, raw := range raws {
		if ev, err := journey.DecodeStored(raw); err == nil && ev.Time.After(newest[ev.Subject]) {
			newest[ev.Subject] = ev.Time
		}
	}
	// Customers whose newest event is well before the log's newest, so that
	// it has left the reorder window when the late purchase arrives (in a
	// fixed order: the test must not depend on map iteration).
	var all time.Time
	for _, at := range newest {
		all = maxTime(all, at)
	}
	var late []string
	for _, c := range slices.Sorted(maps.Keys(newest)) {
		if at := newest[c]; at.After(simStart.Add(60*24*time.Hour)) && at.Before(all.Add(-30*24*time.Hour)) {
			late = append(late, c)
			raws = append(raws, purchase(fmt.Sprintf("late-%d", len(late)), c, at.Add(-40*24*time.Hour)))
		}
		if len(late) == 3 {
			break
		}
	}
	if len(late) != 3 {
		t.Fatalf("%d customers fit for a late purchase, want 3", len(late))
	}
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, raws)
	v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow)})
	catchUp(t, v)
	live := answers(t, v, time.Time{}, false)

	st, err := v.Rebuild(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Refolded != uint64(len(late)) {
		t.Fatalf("rebuild re-folded %d customers, want %d", st.Refolded, len(late))
	}
	sameAnswers(t, "live vs rebuild with re-folds", live, answers(t, v, time.Time{}, false))

	defer func(n int) { coldMax = n }(coldMax)
	for _, cm := range []int{3000, 9000, 30000} {
		coldMax = cm
		v.opts.MaxStates = 16
		if _, err := v.Rebuild(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameAnswers(t, fmt.Sprintf("live vs rebuild with a %d-byte arena", cm), live, answers(t, v, time.Time{}, false))
	}
}

func TestArenaCompact(t *testing.T) {
	a := arena{idx: map[uint64]arenaRef{}}
	want := map[uint64]string{}
	const n = 12000 // a few blocks
	for i := range n {
		st := NewState(fmt.Sprintf("cust-%05d", i))
		st.Apply(&journey.Event{ID: "x", Type: journey.KindVisit, Subject: st.Customer, Time: simStart.Add(time.Duration(i) * time.Hour), Data: journey.Data{CSAT: -1, NPS: -1}}, uint64(i+1))
		e := &entry{st: st, last: st.LastTime, stored: noGap, h: uint64(i)}
		if ok, err := a.add(e); !ok || err != nil {
			t.Fatalf("add %d: %v %v", i, ok, err)
		}
		b, err := encodeEntry(e, gapBucket(st))
		if err != nil {
			t.Fatal(err)
		}
		want[uint64(i)] = st.Customer + string(b)
	}
	// A second customer with a taken hash is refused.
	if ok, _ := a.add(&entry{st: NewState("other"), h: 7}); ok {
		t.Fatal("a taken hash was accepted")
	}
	if len(a.blocks) < 2 {
		t.Fatalf("%d records in %d block(s), want several", n, len(a.blocks))
	}
	for i := 0; i < n; i += 3 { // as get does
		a.live -= int(a.idx[uint64(i)].n)
		delete(a.idx, uint64(i))
		delete(want, uint64(i))
	}
	before := a.size
	a.compact()
	if a.size != a.live || a.size >= before {
		t.Fatalf("compacted to %d bytes (live %d, before %d)", a.size, a.live, before)
	}
	for h, ref := range a.idx {
		c, b := a.record(ref)
		if got := string(c) + string(b); got != want[h] {
			t.Fatalf("record %d after compaction: %q, want %q", h, got, want[h])
		}
	}
	if len(a.idx) != len(want) {
		t.Fatalf("%d records, want %d", len(a.idx), len(want))
	}
}
