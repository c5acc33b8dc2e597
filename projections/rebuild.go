package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
	"golang.org/x/sync/errgroup"
)

// RebuildStats describe a rebuild (or an as-of population fold).
type RebuildStats struct {
	Events  uint64 `json:"events"`  // events folded
	Skipped uint64 `json:"skipped"` // events the vocabulary rejects (not folded)
	// Erased counts the records of forgotten customers (journey forget)
	// and their erasure records: in the chain, nothing to fold.
	Erased    uint64 `json:"erased"`
	Customers uint64 `json:"customers"` // customer states written
	Refolded  uint64 `json:"refolded"`  // customers re-folded from history for late events
	// Rounds is the number of rounds the workers needed to fold every
	// customer within Options.MaxStates (1: the log's customers fit).
	Rounds int `json:"rounds"`
	// DeferredBytes is what the first pass wrote to defer files (the
	// data dir needs that much room while the rounds run).
	DeferredBytes int64         `json:"deferred_bytes"`
	Checkpoint    uint64        `json:"checkpoint"` // log sequence the views were built to
	Workers       int           `json:"workers"`
	Duration      time.Duration `json:"duration_ns"`
	// EventsPerSec is Events / Duration (the log scan, fold and writes).
	EventsPerSec float64 `json:"events_per_s"`
	Dir          string  `json:"dir,omitempty"` // the new views directory
	// The phases: the first pass over the log, the passes for the late
	// customers, and (Rebuild) flushing, reopening and catching up the new
	// views before the swap.
	FirstPass time.Duration `json:"first_pass_ns"`
	LatePass  time.Duration `json:"late_pass_ns"`
	Finish    time.Duration `json:"finish_ns,omitempty"`
}

// Rebuild builds fresh views from the log into a new views database, in
// parallel across Options.Workers, then swaps them in atomically: readers
// keep answering from the old views until the swap, and calls in flight on
// the old views finish before it is closed and deleted. The stored churn
// fit is carried over. Updates CatchUp makes while the rebuild runs are
// applied to the new views before the swap.
func (v *Views) Rebuild(ctx context.Context) (RebuildStats, error) {
	v.rebuildMu.Lock()
	defer v.rebuildMu.Unlock()
	d, err := v.acquire()
	if err != nil {
		return RebuildStats{}, err
	}
	oldName, pop := d.name, d.meta.Load().pop
	d.use.RUnlock()

	fs := v.opts.FS
	newName := nextViewsName(oldName)
	newDir := fs.PathJoin(v.dataDir, newName)
	_ = fs.RemoveAll(newDir)
	fail := func(err error) (RebuildStats, error) {
		_ = fs.RemoveAll(newDir)
		return RebuildStats{}, err
	}
	db, err := pebble.Open(newDir, v.pebbleOptions(true))
	if err != nil {
		return fail(err)
	}
	target := v.log.DurableSeq()
	stats, err := v.buildInto(ctx, db, target, time.Time{}, pop.Churn)
	finish := time.Now()
	if err == nil {
		err = db.Flush()
	}
	if err = errors.Join(err, db.Close()); err != nil {
		return fail(err)
	}
	nd, err := v.openDB(newName, false)
	if err != nil {
		return fail(err)
	}
	stats.Dir = newDir

	// Bring the new views to where the current ones are, then swap.
	v.applyMu.Lock()
	defer v.applyMu.Unlock()
	v.mu.RLock()
	old, closed := v.cur, v.closed
	v.mu.RUnlock()
	if closed {
		_ = nd.db.Close()
		return fail(ErrClosed)
	}
	if _, err := v.catchUpTo(ctx, nd, old.checkpoint.Load(), nil); err != nil {
		_ = nd.db.Close()
		return fail(err)
	}
	if err := carryChurn(old, nd); err != nil {
		_ = nd.db.Close()
		return fail(err)
	}
	if err := writePointer(fs, v.dataDir, newName); err != nil {
		_ = nd.db.Close()
		return fail(err)
	}
	v.mu.Lock()
	v.cur = nd
	v.mu.Unlock()
	stats.Finish = time.Since(finish)

	// Readers that pinned the old views finish first.
	old.use.Lock()
	err = old.db.Close()
	old.use.Unlock()
	if rmErr := fs.RemoveAll(fs.PathJoin(v.dataDir, old.name)); rmErr != nil {
		v.opts.Logger.Warn("projections: could not remove the old views", "dir", old.name, "err", rmErr)
	}
	if err != nil {
		v.opts.Logger.Warn("projections: closing the old views", "dir", old.name, "err", err)
	}
	return stats, nil
}

// RebuildLogCacheSize is the block cache (eventstore.Options.CacheSize) to
// open the log with for a rebuild: the scan reads the log once, in order,
// so a large cache only takes memory from the rebuild's customer states.
const RebuildLogCacheSize = 32 << 20

// buildInto folds the log up to target (events with time ≤ asOf when asOf
// is not zero) into the empty database db and writes its metadata, with
// churn as the population's churn fit.
func (v *Views) buildInto(ctx context.Context, db *pebble.DB, target uint64, asOf time.Time, churn *customer.ChurnFit) (RebuildStats, error) {
	start := time.Now()
	res, err := v.build(ctx, db, target, asOf)
	if err != nil {
		return RebuildStats{}, err
	}
	if asOf.IsZero() {
		// Fold snapshots for as-of answers (snapshot.go); an as-of
		// scratch fold needs none.
		if err := v.backfillSnapshots(ctx, db, target); err != nil {
			return RebuildStats{}, err
		}
	}
	m := &dbMeta{pop: customer.Population{MedianGap: res.gaps.Median(), Churn: churn}, gaps: res.gaps, maxTime: res.maxTime}
	b := db.NewBatch()
	defer b.Close()
	if err := errors.Join(writeMeta(b, target, res.hash, m), b.Set(keyFormat, []byte(formatVersion), nil),
		b.Set(keyTraitIndex, nil, nil)); err != nil { // every state was written with its trait keys
		return RebuildStats{}, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return RebuildStats{}, err
	}
	st := res.stats
	st.Checkpoint = target
	st.Duration = time.Since(start)
	if s := st.Duration.Seconds(); s > 0 {
		st.EventsPerSec = float64(st.Events+st.Skipped+st.Erased) / s
	}
	return st, nil
}

// buildResult is what build folded.
type buildResult struct {
	stats   RebuildStats
	bytes   uint64 // event bytes folded
	gaps    customer.GapHistogram
	maxTime time.Time
	hash    [32]byte // log hash at target
}

// build is the parallel fold of the log into db. One goroutine scans the
// log and deals the records out to workers by customer hash, so each
// customer's events reach one worker in log order; referral events are
// decoded by the scanner too, to deal a mark to the referred customer's
// worker. A worker folds up to Options.MaxStates customers a round and
// defers the others' events to files that later rounds replay (see
// Rounds in rebuild_defer.go); each round's states go into an sstable
// ingested into db. An event older than its customer's newest makes the
// worker drop the customer ("late"); after the first pass, further scans
// of the log collect the late customers' events (in groups whose events
// fit lateBudget), which the workers sort by (time, seq) and fold.
func (v *Views) build(ctx context.Context, db *pebble.DB, target uint64, asOf time.Time) (buildResult, error) {
	if v.opts.MemoryLimit >= 0 && asOf.IsZero() {
		// A rebuild, not an as-of fold answering a request: those leave
		// the process's settings alone.
		defer limitMemory(v.opts.MemoryLimit)()
	}
	nw := v.opts.Workers
	dbBefore, err := hasStates(db)
	if err != nil {
		return buildResult{}, err
	}
	fs := v.opts.FS
	spool := fs.PathJoin(v.dataDir, fmt.Sprintf("%s%d-%d.defer", rebuildFilePrefix, os.Getpid(), time.Now().UnixNano()))
	prog := &buildProgress{fn: v.opts.Progress, total: target}
	maxStates := v.stateBudget(nw)
	po := v.pebbleOptions(true)
	po.EnsureDefaults()
	sstOpts := po.MakeWriterOptions(0, db.FormatMajorVersion().MaxTableFormat())
	workers := make([]*foldWorker, nw)
	for i := range nw {
		workers[i] = &foldWorker{v: v, db: db, b: db.NewBatch(), states: map[uint64]*entry{}, coll: map[string]*entry{}, dbBefore: dbBefore, late: map[string]int{}, lateH: map[uint64]struct{}{}, gaps: customer.GapHistogram{}, asOf: asOf, target: target, maxStates: maxStates, id: i, spool: spool, sstOpts: sstOpts, round: 1}
		if v.opts.Progress != nil {
			workers[i].progress = prog.add
		}
	}
	defer func() {
		for _, w := range workers {
			_ = w.b.Close()
			if w.def != nil {
				w.def.discard()
			}
			for _, f := range w.queue {
				_ = fs.Remove(f)
			}
		}
	}()
	for _, w := range workers {
		w.def = newDeferSet(fs, fmt.Sprintf("%s.w%d.r1", spool, w.id), deferParts)
	}
	seed := maphash.MakeSeed()
	res := buildResult{gaps: customer.GapHistogram{}}
	start := time.Now()
	if err := v.pass(ctx, target, seed, workers, newFirstPass(v, target, asOf, &res)); err != nil {
		return buildResult{}, err
	}
	// The rounds for the customers the workers could not hold: each
	// worker replays its own defer files.
	var deferred uint64
	for _, w := range workers {
		deferred += w.deferred
		res.stats.DeferredBytes += w.deferredBytes
	}
	if deferred > 0 {
		prog.grow(deferred)
		g, gctx := errgroup.WithContext(ctx)
		for _, w := range workers {
			g.Go(func() error { return w.rounds(gctx) })
		}
		if err := g.Wait(); err != nil {
			return buildResult{}, err
		}
	}
	for _, w := range workers {
		res.stats.Rounds = max(res.stats.Rounds, w.round)
	}
	res.stats.FirstPass = time.Since(start)
	start = time.Now()
	if err := v.refoldLate(ctx, target, asOf, seed, workers, res.bytes); err != nil {
		return buildResult{}, err
	}
	res.stats.LatePass = time.Since(start)
	for _, w := range workers {
		res.gaps.Add(w.gaps)
		res.stats.Events += w.events
		res.stats.Skipped += w.skipped
		res.stats.Customers += w.customers
		res.stats.Refolded += uint64(len(w.late))
	}
	res.gaps.Clean()
	res.stats.Workers = nw
	return res, nil
}

// rebuildFilePrefix starts the names of a rebuild's defer and states files
// in the data dir (removed when it ends, and by Open after a crash).
const rebuildFilePrefix = "rebuild-"

// buildProgress sums the workers' progress for Options.Progress.
type buildProgress struct {
	mu          sync.Mutex
	fn          func(done, total uint64)
	done, total uint64
}

// grow adds n records to the total (the first pass's deferred records).
func (p *buildProgress) grow(n uint64) {
	p.mu.Lock()
	p.done = p.total // the first pass reports through the scanner
	p.total += n
	p.mu.Unlock()
}

func (p *buildProgress) add(n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = min(p.total, p.done+n)
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
}

// carryChurn copies the churn and CLV fits of from into to (a fit made while the
// rebuild ran). The caller holds applyMu.
func carryChurn(from, to *viewsDB) error {
	fit, clv := from.meta.Load().pop.Churn, from.meta.Load().pop.CLV
	m := to.meta.Load()
	if fit == m.pop.Churn && clv == m.pop.CLV {
		return nil
	}
	nm := &dbMeta{pop: m.pop, gaps: m.gaps, maxTime: m.maxTime}
	nm.pop.Churn, nm.pop.CLV = fit, clv
	pj, err := json.Marshal(nm.pop)
	if err != nil {
		return err
	}
	if err := to.db.Set(keyPopulation, pj, pebble.Sync); err != nil {
		return err
	}
	to.meta.Store(nm)
	return nil
}

// Builds in flight share one soft memory limit (see Options.MemoryLimit).
var memLimit struct {
	sync.Mutex
	users     int
	set       bool
	gcPercent int // to restore
}

// limitMemory sets the Go soft memory limit for a build, unless one is
// set already (GOMEMLIMIT), and returns the function that lifts it when
// the last build in flight ends.
func limitMemory(limit int64) func() {
	memLimit.Lock()
	defer memLimit.Unlock()
	memLimit.users++
	if memLimit.users == 1 && debug.SetMemoryLimit(-1) == math.MaxInt64 {
		if limit == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			limit = int64(ms.HeapAlloc) + defaultBuildMemory
		}
		debug.SetMemoryLimit(limit)
		// Under the limit, collect less often than GOGC=100 would: the
		// build's garbage is short-lived and the limit caps the heap.
		memLimit.gcPercent = debug.SetGCPercent(400)
		memLimit.set = true
	}
	return func() {
		memLimit.Lock()
		defer memLimit.Unlock()
		if memLimit.users--; memLimit.users == 0 && memLimit.set {
			debug.SetMemoryLimit(math.MaxInt64)
			debug.SetGCPercent(memLimit.gcPercent)
			memLimit.set = false
		}
	}
}

// defaultBuildMemory is the Go memory a build may add to the heap in use
// when it starts, under the default soft limit.
const defaultBuildMemory = 512 << 20

// stateBytes is a generous estimate of the memory of one customer's
// decoded state in a rebuild (about 1.6 KB measured on a year of simulated
// journeys, with its map entry).
const stateBytes = 2 << 10

// stateShare is the part of a build's memory the workers' states share:
// the rest is for the reorder windows, the chunks in flight, the new
// database's memtables and the collector's headroom.
const stateShare = 0.6

// stateBudget is the bound on the states each of nw workers holds in a
// round: Options.MaxStates when set, else stateShare of the build's
// memory (Options.MemoryLimit less the heap in use, or
// defaultBuildMemory) at stateBytes each, at least 1024.
func (v *Views) stateBudget(nw int) int {
	if v.opts.MaxStates > 0 {
		return v.opts.MaxStates
	}
	mem := int64(defaultBuildMemory)
	if l := v.opts.MemoryLimit; l > 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mem = max(64<<20, l-int64(ms.HeapAlloc))
	}
	return max(1024, int(float64(mem)*stateShare)/stateBytes/max(1, nw))
}

// hasStates reports whether db holds any customer state.
func hasStates(db *pebble.DB) (bool, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefixState, UpperBound: prefixEnd(prefixState)})
	if err != nil {
		return false, err
	}
	found := it.First()
	return found, errors.Join(it.Error(), it.Close())
}
