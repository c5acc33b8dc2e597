package projections

import (
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

// TestRebuildPaths drives the rebuild's less common paths against the live
// projection: customers re-folded from their histories (events far later
// than the reorder window), customers deferred to later rounds.
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
	dir, log, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow)})
	live := answers(t, v, time.Time{}, false)

	st, err := v.Rebuild(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Refolded != uint64(len(late)) {
		t.Fatalf("rebuild re-folded %d customers, want %d", st.Refolded, len(late))
	}
	sameAnswers(t, "live vs rebuild with re-folds", live, answers(t, v, time.Time{}, false))

	// Rounds: with a few states per worker, the customers beyond them are
	// deferred to later rounds through the defer files; same answers,
	// with and without late customers among them, and no file left.
	for _, tc := range []struct{ maxStates, workers int }{{16, 2}, {5, 3}, {1, 1}} {
		v.opts.MaxStates, v.opts.Workers = tc.maxStates, tc.workers
		// Progress: the total grows by the deferred records after the
		// first pass and done never passes it.
		var calls, grown int
		var lastTotal uint64
		v.opts.Progress = func(done, total uint64) {
			calls++
			if done > total || total < lastTotal {
				t.Errorf("progress %d of %d after a total of %d", done, total, lastTotal)
			}
			if lastTotal != 0 && total > lastTotal {
				grown++
			}
			lastTotal = total
		}
		st, err := v.Rebuild(context.Background())
		v.opts.Progress = nil
		if err != nil {
			t.Fatal(err)
		}
		if calls == 0 || grown == 0 || lastTotal <= log.DurableSeq() {
			t.Fatalf("progress: %d calls, total grew %d times to %d (log %d)", calls, grown, lastTotal, log.DurableSeq())
		}
		perRound := tc.maxStates * tc.workers
		if min := (len(live) + perRound - 1) / perRound; st.Rounds < min || st.DeferredBytes <= 0 || st.Customers != uint64(len(live)) || st.Refolded != uint64(len(late)) {
			t.Fatalf("max states %d × %d workers: stats %+v, want at least %d rounds, %d customers, %d re-folded", tc.maxStates, tc.workers, st, min, len(live), len(late))
		}
		sameAnswers(t, fmt.Sprintf("live vs rebuild in %d rounds", st.Rounds), live, answers(t, v, time.Time{}, false))
		left, err := filepath.Glob(filepath.Join(dir, "*.defer*"))
		if err != nil || len(left) > 0 {
			t.Fatalf("defer files left: %v %v", left, err)
		}
	}
}

// TestStaleRebuildFilesRemoved: the defer and states files of a rebuild
// killed mid-way are removed when the views are opened again.
func TestStaleRebuildFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	log := openLog(t, dir)
	stale := filepath.Join(dir, rebuildFilePrefix+"123-456.defer.w0.r1.p3")
	if err := os.WriteFile(stale, []byte("left by a killed rebuild"), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	openViews(t, dir, log, nil)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale rebuild file still there (%v)", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("a file that is not the engine's was removed: %v", err)
	}
}

// TestRebuildReorderWindowBound: when the reorder window holds more chunks
// than maxPinned, its oldest minutes are released early; events that then
// arrive out of order make their customers re-fold, and the answers are
// those of the live projection.
func TestRebuildReorderWindowBound(t *testing.T) {
	raws := simulated(t, 300, simDays, 29)
	_, _, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow), Workers: 2})
	live := answers(t, v, time.Time{}, false)
	before, err := v.Rebuild(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Small chunks, none kept: the window holds only the chunk at hand.
	defer func(n, c int) { maxPinned, chunkItems = n, c }(maxPinned, chunkItems)
	maxPinned, chunkItems = 0, 8
	st, err := v.Rebuild(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Refolded <= before.Refolded || st.Customers != uint64(len(live)) {
		t.Fatalf("with no chunk kept: %+v, unbounded: %+v; want more re-folds and %d customers", st, before, len(live))
	}
	sameAnswers(t, "live vs rebuild with an early-released window", live, answers(t, v, time.Time{}, false))
}

// TestRebuildFailureKeepsViews: a rebuild that fails half-way (here the
// disk refuses the defer files) returns the error and leaves the current
// views answering, and removes its new views dir and its files; the next
// rebuild, once the disk is back, succeeds.
func TestRebuildFailureKeepsViews(t *testing.T) {
	raws := simulated(t, 120, simDays, 31)
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, raws)
	refuse := errors.New("disk refuses the write")
	var broken atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if broken.Load() && strings.Contains(op.Path, ".defer") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return refuse
		}
		return nil
	}))
	v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow), FS: fs, MaxStates: 4, Workers: 2})
	catchUp(t, v)
	live := answers(t, v, time.Time{}, false)
	before := v.Dir()

	broken.Store(true)
	if _, err := v.Rebuild(context.Background()); !errors.Is(err, refuse) {
		t.Fatalf("rebuild on a refusing disk: %v, want the disk's error", err)
	}
	if v.Dir() != before {
		t.Fatalf("views moved to %s after a failed rebuild", v.Dir())
	}
	sameAnswers(t, "live vs after a failed rebuild", live, answers(t, v, time.Time{}, false))
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n.Name(), rebuildFilePrefix) || (strings.HasPrefix(n.Name(), "views-") && filepath.Join(dir, n.Name()) != before) {
			t.Fatalf("a failed rebuild left %s", n.Name())
		}
	}

	broken.Store(false)
	st, err := v.Rebuild(context.Background())
	if err != nil || st.Rounds < 2 {
		t.Fatalf("rebuild after the disk is back: %+v, %v", st, err)
	}
	sameAnswers(t, "live vs rebuilt", live, answers(t, v, time.Time{}, false))
}
