package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
	"golang.org/x/sync/errgroup"
)

// RebuildStats describe a rebuild (or an as-of population fold).
type RebuildStats struct {
	Events    uint64 `json:"events"`    // events folded
	Skipped   uint64 `json:"skipped"`   // events the vocabulary rejects (not folded)
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
	if err := errors.Join(writeMeta(b, target, res.hash, m), b.Set(keyFormat, []byte(formatVersion), nil)); err != nil {
		return RebuildStats{}, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return RebuildStats{}, err
	}
	st := res.stats
	st.Checkpoint = target
	st.Duration = time.Since(start)
	if s := st.Duration.Seconds(); s > 0 {
		st.EventsPerSec = float64(st.Events+st.Skipped) / s
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

// scanItem is one unit of work for a rebuild worker: an event (raw bytes in
// the chunk's buffer) or a referral mark naming the worker's customer.
type scanItem struct {
	seq      uint64
	h        uint64 // maphash of the customer (event) or the referred (mark)
	off, end int    // event: raw = chunk.buf[off:end]
	sec      int64  // event: its time
	nsec     int32
	markFor  string // mark: the referred customer ("" for an event)
	markBy   string
	markTime time.Time
}

// scanChunk is a batch of scanItems the scanner deals to one foldWorker,
// with the raw events they point into.
type scanChunk struct {
	items []scanItem
	buf   []byte
	// refs counts the chunk's events waiting in the worker's reorder
	// window (they alias buf): the chunk is reused when it drops to 0.
	refs   int
	pinned bool // counted in foldWorker.pinned
}

// unref drops one reference to c, putting it back in the pool at the last.
func (w *foldWorker) unref(c *scanChunk) {
	if c.refs--; c.refs == 0 {
		if c.pinned {
			c.pinned = false
			w.pinned--
		}
		c.items, c.buf = c.items[:0], c.buf[:0]
		chunkPool.Put(c)
	}
}

// maxPinned bounds the chunks a worker's reorder window keeps (about
// maxPinned × chunkBytes of memory): beyond it the oldest minutes are
// released early, as when the window exceeds reorderMaxBytes. A variable
// for tests.
var maxPinned = 96

// chunkItems and chunkBytes bound a chunk the scanner deals to a worker
// (chunkItems is a variable for tests).
var chunkItems = 512

const chunkBytes = 256 << 10

var chunkPool = sync.Pool{New: func() any {
	return &scanChunk{items: make([]scanItem, 0, chunkItems), buf: make([]byte, 0, chunkBytes+journey.MaxEventBytes)}
}}

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
	// The late customers, in groups of about lateBudget bytes of events.
	var lateEvents int
	var folded uint64
	for _, w := range workers {
		for _, n := range w.late {
			lateEvents += n
		}
		folded += w.events
	}
	if lateEvents > 0 && lateEvents*64 < int(folded) {
		// Few: read their histories by customer.
		g, gctx := errgroup.WithContext(ctx)
		for _, w := range workers {
			g.Go(func() error { return w.refoldFromLog(gctx) })
		}
		if err := g.Wait(); err != nil {
			return buildResult{}, err
		}
	} else if lateEvents > 0 {
		perEvent := 512 + 2*int(res.bytes/max(1, folded))
		groups := max(1, (lateEvents*perEvent+lateBudget-1)/lateBudget)
		for g := range groups {
			only := map[string]struct{}{}
			for _, w := range workers {
				for c := range w.late {
					if groups == 1 || int(maphash.String(seed, c)>>32)%groups == g {
						only[c] = struct{}{}
					}
				}
			}
			if err := v.pass(ctx, target, seed, workers, &latePass{only: only, after: afterAsOf(asOf)}); err != nil {
				return buildResult{}, err
			}
		}
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

// lateBudget bounds the memory of the late customers' events collected
// in one pass.
const lateBudget = 128 << 20

// pass scans the log up to target into the workers: p says which records
// are dealt, whether referral marks are, what happens when the scan ends
// and how each worker folds what it is dealt.
func (v *Views) pass(ctx context.Context, target uint64, seed maphash.Seed, workers []*foldWorker, p scanPass) error {
	nw := len(workers)
	g, gctx := errgroup.WithContext(ctx)
	chans := make([]chan *scanChunk, nw)
	for i := range chans {
		chans[i] = make(chan *scanChunk, 8)
	}
	g.Go(func() error {
		defer func() {
			for _, c := range chans {
				close(c)
			}
		}()
		pending := make([]*scanChunk, nw)
		for i := range pending {
			pending[i] = chunkPool.Get().(*scanChunk)
		}
		send := func(i int) error {
			select {
			case chans[i] <- pending[i]:
			case <-gctx.Done():
				return gctx.Err()
			}
			pending[i] = chunkPool.Get().(*scanChunk)
			return nil
		}
		marks := p.marks()
		err := v.log.ScanRaw(gctx, 1, target, func(rec *eventstore.RawRecord) error {
			if !p.deal(rec) {
				return nil
			}
			h := maphash.Bytes(seed, rec.Customer)
			i := int(h % uint64(nw))
			c := pending[i]
			off := len(c.buf)
			c.buf = append(c.buf, rec.Raw...)
			c.items = append(c.items, scanItem{seq: rec.Seq, h: h, off: off, end: len(c.buf), sec: rec.EventSec, nsec: rec.EventNsec})
			if len(c.items) >= chunkItems || len(c.buf) >= chunkBytes {
				if err := send(i); err != nil {
					return err
				}
			}
			if rec.Type == journey.KindReferral && marks {
				ev, err := journey.DecodeStored(rec.Raw)
				if err != nil || ev.Data.Referred == "" || ev.Data.Referred == ev.Subject {
					return nil // the worker skips an invalid event the same way
				}
				h := maphash.String(seed, ev.Data.Referred)
				j := int(h % uint64(nw))
				c := pending[j]
				c.items = append(c.items, scanItem{seq: rec.Seq, h: h, markFor: ev.Data.Referred, markBy: ev.Subject, markTime: ev.Time})
				if len(c.items) >= chunkItems {
					if err := send(j); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range pending {
			if len(pending[i].items) > 0 {
				if err := send(i); err != nil {
					return err
				}
			} else {
				chunkPool.Put(pending[i])
			}
		}
		p.scanned()
		return nil
	})
	for i, w := range workers {
		// A worker's error cancels gctx: the scanner's send gives up and
		// it closes the channels, so nothing is left blocked.
		g.Go(func() error { return p.fold(gctx, w, chans[i]) })
	}
	return g.Wait()
}

// scanPass is what one scan of the log (Views.pass) does. firstPass folds
// every record; latePass collects the late customers' events and folds
// them at the end.
type scanPass interface {
	// deal reports whether the scanner deals rec to its customer's worker.
	deal(rec *eventstore.RawRecord) bool
	// marks reports whether a referral event also deals a mark to the
	// referred customer's worker.
	marks() bool
	// scanned is called once every record has been dealt.
	scanned()
	// fold is one worker's loop over the chunks dealt to it.
	fold(ctx context.Context, w *foldWorker, chunks <-chan *scanChunk) error
}

// afterAsOf returns the test of an event time being after asOf (never,
// for a zero asOf).
func afterAsOf(asOf time.Time) func(sec int64, nsec int32) bool {
	asOfSec, asOfNsec := asOf.Unix(), int32(asOf.Nanosecond())
	return func(sec int64, nsec int32) bool {
		return !asOf.IsZero() && (sec > asOfSec || (sec == asOfSec && nsec > asOfNsec))
	}
}

// firstPass scans every record up to target: it fills res (the log hash
// at target, the bytes folded, the newest event time), reports progress,
// deals the events up to asOf and the referral marks, and the workers fold
// them through their reorder windows and end their first round.
type firstPass struct {
	progress func(done, total uint64) // Options.Progress; nil: none
	target   uint64
	after    func(sec int64, nsec int32) bool
	res      *buildResult
	done     uint64 // records scanned
	maxSec   int64  // newest event time dealt (math.MinInt64: none)
	maxNsec  int32
}

func newFirstPass(v *Views, target uint64, asOf time.Time, res *buildResult) *firstPass {
	return &firstPass{progress: v.opts.Progress, target: target, after: afterAsOf(asOf), res: res, maxSec: math.MinInt64}
}

func (p *firstPass) deal(rec *eventstore.RawRecord) bool {
	p.done++
	if rec.Seq == p.target {
		copy(p.res.hash[:], rec.Hash)
	}
	if p.progress != nil && p.done&0xffff == 0 {
		p.progress(p.done, p.target)
	}
	if p.after(rec.EventSec, rec.EventNsec) {
		return false
	}
	if rec.EventSec > p.maxSec || (rec.EventSec == p.maxSec && rec.EventNsec > p.maxNsec) {
		p.maxSec, p.maxNsec = rec.EventSec, rec.EventNsec
	}
	p.res.bytes += uint64(len(rec.Raw))
	return true
}

func (p *firstPass) marks() bool { return true }

func (p *firstPass) scanned() {
	if p.maxSec != math.MinInt64 {
		p.res.maxTime = time.Unix(p.maxSec, int64(p.maxNsec)).UTC()
	}
	if p.progress != nil {
		p.progress(p.done, p.target)
	}
}

func (p *firstPass) fold(_ context.Context, w *foldWorker, chunks <-chan *scanChunk) error {
	for c := range chunks {
		if err := w.chunk(c); err != nil {
			return err
		}
	}
	if err := w.drain(); err != nil {
		return err
	}
	return w.endRound()
}

// latePass scans for the late customers in only: it deals their events up
// to asOf and no marks; each worker collects them and folds them at the end
// (foldLate).
type latePass struct {
	only  map[string]struct{}
	after func(sec int64, nsec int32) bool
}

func (p *latePass) deal(rec *eventstore.RawRecord) bool {
	_, ok := p.only[string(rec.Customer)]
	return ok && !p.after(rec.EventSec, rec.EventNsec)
}

func (p *latePass) marks() bool { return false }

func (p *latePass) scanned() {}

func (p *latePass) fold(ctx context.Context, w *foldWorker, chunks <-chan *scanChunk) error {
	collected := map[string][]histItem{}
	for c := range chunks {
		if err := w.collect(c, collected); err != nil {
			return err
		}
	}
	return w.foldLate(ctx, collected)
}

// foldWorker folds the customers of one shard.
type foldWorker struct {
	v       *Views
	db      *pebble.DB
	b       *pebble.Batch
	id      int
	spool   string                // path prefix of the worker's files
	tables  int                   // states tables written
	sstOpts sstable.WriterOptions // of the states tables
	// states are the customers of the round, by the scanner's hash of
	// their id; coll holds the rare customers whose hash collides with
	// another's. Once they hold maxStates customers, the round is closed:
	// the events and marks of other customers go to def (see Rounds).
	states        map[uint64]*entry
	coll          map[string]*entry
	maxStates     int
	closed        bool
	def           *deferSet
	queue         []string // defer files to replay
	deferred      uint64   // records deferred (first pass and rounds)
	deferredBytes int64    // their bytes
	round         int      // rounds done
	// dbBefore: the database held states before the build (a customer
	// not in memory may be there).
	dbBefore bool
	late     map[string]int // late customers → events seen
	lateH    map[uint64]struct{}
	gaps     customer.GapHistogram
	// reorder holds the events of the reorder window; newSec/newNsec is
	// the newest event time seen.
	reorder reorderBuckets
	pinned  int // chunks held by the reorder window
	newSec  int64
	newNsec int32
	asOf    time.Time
	target  uint64

	progress func(n uint64) // nil: no progress reports
	replayed uint64

	events, skipped, customers uint64
	ev                         journey.Event // apply's, reused: Apply keeps no pointer into it
}

func (w *foldWorker) chunk(c *scanChunk) error {
	c.refs++ // the loop's own reference
	window := w.v.opts.ReorderWindow
	windowSec := int64(window / time.Second)
	for i := range c.items {
		it := &c.items[i]
		if it.markFor != "" {
			if err := w.mark(it); err != nil {
				return err
			}
			continue
		}
		raw := c.buf[it.off:it.end]
		if window < 0 {
			if err := w.apply(reorderItem{seq: it.seq, h: it.h, raw: raw}); err != nil {
				return err
			}
			continue
		}
		if it.sec > w.newSec || (it.sec == w.newSec && it.nsec > w.newNsec) {
			w.newSec, w.newNsec = it.sec, it.nsec
		}
		minute := floorMinute(it.sec)
		rb := &w.reorder
		if !rb.started {
			rb.started, rb.min, rb.m = true, minute, map[int64][]reorderItem{}
		}
		if minute < rb.min {
			// Later than the window: applied now (re-folded if late).
			if err := w.apply(reorderItem{seq: it.seq, h: it.h, raw: raw}); err != nil {
				return err
			}
			continue
		}
		// The event stays in the chunk until the window releases it.
		c.refs++
		rb.push(minute, reorderItem{sec: it.sec, nsec: it.nsec, seq: it.seq, h: it.h, raw: raw, chunk: c})
		// Apply the minutes the reorder window has passed.
		if err := w.release(floorMinute(w.newSec - windowSec)); err != nil {
			return err
		}
	}
	if c.refs > 1 {
		c.pinned = true
		w.pinned++
	}
	w.unref(c)
	return nil
}

// reorderMaxBytes bounds the events in a rebuild worker's reorder window.
// Events are applied in event-time order once the newest event time seen
// is Options.ReorderWindow past them (or when the events waiting take more
// than reorderMaxBytes), so that events that reached the log up to that
// much late need no re-fold. reorderOverhead is the memory of one waiting
// event besides its bytes.
const (
	reorderMaxBytes = 16 << 20
	reorderOverhead = 64
)

// reorderItem is an event waiting in the reorder window.
type reorderItem struct {
	sec  int64 // event time
	nsec int32
	seq  uint64
	h    uint64 // the scanner's hash of the customer id
	raw  []byte // the event as stored
	// chunk holds raw (nil: raw is the caller's, valid during apply)
	chunk *scanChunk
}

func (a *reorderItem) less(b *reorderItem) bool {
	if a.sec != b.sec {
		return a.sec < b.sec
	}
	if a.nsec != b.nsec {
		return a.nsec < b.nsec
	}
	return a.seq < b.seq
}

// reorderBuckets is the reorder window: events by the minute of their
// time; a minute's events are sorted by (time, seq) when it is released.
type reorderBuckets struct {
	started bool
	min     int64 // the first minute not released
	m       map[int64][]reorderItem
	bytes   int
	free    [][]reorderItem
}

func (rb *reorderBuckets) push(minute int64, it reorderItem) {
	b, ok := rb.m[minute]
	if !ok && len(rb.free) > 0 {
		b, rb.free = rb.free[len(rb.free)-1], rb.free[:len(rb.free)-1]
	}
	rb.m[minute] = append(b, it)
	rb.bytes += len(it.raw) + reorderOverhead
}

func floorMinute(sec int64) int64 {
	q := sec / 60
	if sec%60 < 0 {
		q--
	}
	return q
}

// releaseMinute applies the events of one minute in (time, seq) order.
func (w *foldWorker) releaseMinute(minute int64) error {
	rb := &w.reorder
	items, ok := rb.m[minute]
	if !ok {
		return nil
	}
	delete(rb.m, minute)
	slices.SortFunc(items, func(a, b reorderItem) int {
		if a.less(&b) {
			return -1
		}
		if b.less(&a) {
			return 1
		}
		return 0
	})
	for i := range items {
		rb.bytes -= len(items[i].raw) + reorderOverhead
		if err := w.apply(items[i]); err != nil {
			return err
		}
		if c := items[i].chunk; c != nil {
			w.unref(c)
		}
		items[i] = reorderItem{}
	}
	rb.free = append(rb.free, items[:0])
	return nil
}

// release applies the minutes before horizon, and older ones while the
// window holds more than reorderMaxBytes.
func (w *foldWorker) release(horizon int64) error {
	rb := &w.reorder
	empty := 0
	for rb.min < horizon || rb.bytes > reorderMaxBytes || w.pinned > maxPinned {
		if len(rb.m) == 0 {
			rb.min = max(rb.min, horizon)
			return nil
		}
		if _, ok := rb.m[rb.min]; ok {
			if err := w.releaseMinute(rb.min); err != nil {
				return err
			}
			empty = 0
		} else if empty++; empty > 64 {
			// A long gap: jump to the first minute held.
			first := int64(math.MaxInt64)
			for k := range rb.m {
				first = min(first, k)
			}
			if rb.bytes <= reorderMaxBytes && w.pinned <= maxPinned {
				first = min(first, horizon)
			}
			rb.min = max(rb.min, first)
			empty = 0
			continue
		}
		rb.min++
	}
	return nil
}

// drain applies every event still in the reorder window.
func (w *foldWorker) drain() error {
	rb := &w.reorder
	for _, k := range slices.Sorted(maps.Keys(rb.m)) {
		if err := w.releaseMinute(k); err != nil {
			return err
		}
	}
	rb.min = math.MaxInt64
	return nil
}

// lookup returns the customer's entry in memory, nil when not there.
func (w *foldWorker) lookup(h uint64, customer string) *entry {
	if e, ok := w.states[h]; ok && e.st.Customer == customer {
		return e
	}
	if len(w.coll) > 0 {
		return w.coll[customer]
	}
	return nil
}

// get returns the customer's entry: in memory, in the database (a build
// into a database that held states), or new. It returns nil when the
// customer is not in memory and the round is closed.
func (w *foldWorker) get(h uint64, id string) (*entry, error) {
	if e := w.lookup(h, id); e != nil {
		return e, nil
	}
	if w.closed {
		return nil, nil
	}
	var e *entry
	if w.dbBefore {
		var err error
		if e, err = loadEntry(w.db, id); err != nil {
			return nil, err
		}
	}
	if e == nil {
		e = &entry{st: customer.NewState(id), stored: customer.NoGap}
	}
	e.h = h
	if _, taken := w.states[h]; taken {
		w.coll[id] = e
	} else {
		w.states[h] = e
	}
	if len(w.states)+len(w.coll) >= w.maxStates {
		w.closed = true
	}
	return e, nil
}

// known reports whether a customer with hash h may be held in this round
// (in memory or late): when the round is closed, an item for which it is
// false is deferred without decoding.
func (w *foldWorker) known(h uint64) bool {
	if _, ok := w.states[h]; ok {
		return true
	}
	if _, ok := w.lateH[h]; ok {
		return true
	}
	return len(w.coll) > 0
}

// forget drops the customer's entry from memory.
func (w *foldWorker) forget(h uint64, customer string) {
	if e, ok := w.states[h]; ok && e.st.Customer == customer {
		delete(w.states, h)
		return
	}
	delete(w.coll, customer)
}

// apply decodes and folds one event, marks its customer late, or defers
// it to the next round.
func (w *foldWorker) apply(it reorderItem) error {
	if w.closed && !w.known(it.h) {
		return w.def.event(it)
	}
	ev := &w.ev
	if err := journey.DecodeStoredInto(it.raw, ev); err != nil {
		w.skipped++
		return nil
	}
	if len(w.late) > 0 {
		if n, ok := w.late[ev.Subject]; ok {
			w.events++
			w.late[ev.Subject] = n + 1
			return nil
		}
	}
	e, err := w.get(it.h, ev.Subject)
	if err != nil {
		return err
	}
	if e == nil {
		return w.def.event(it)
	}
	w.events++
	if ev.Time.Before(e.last) {
		// Late: fold this customer again from the log, after the rounds.
		w.late[ev.Subject] = e.st.Events + 1
		w.lateH[it.h] = struct{}{}
		w.forget(it.h, ev.Subject)
		return nil
	}
	e.st.Apply(ev, it.seq)
	e.last = ev.Time
	e.dirty = true
	return nil
}

func (w *foldWorker) mark(it *scanItem) error {
	_, late := w.late[it.markFor]
	var e *entry
	if !late {
		var err error
		if e, err = w.get(it.h, it.markFor); err != nil {
			return err
		}
		if e == nil {
			return w.def.mark(it)
		}
	}
	m := mark{By: it.markBy, Time: it.markTime, Seq: it.seq}
	if err := w.b.Set(markKey(it.markFor, it.seq), encodeMark(m), nil); err != nil {
		return err
	}
	if late {
		return nil // the re-fold reads the mark back
	}
	e.st.MarkReferred(m.By, m.Time, m.Seq)
	e.dirty = true
	return nil
}

// endRound writes the round's states to the database, empties memory and
// closes the defer file. The states go into an sstable of their own,
// ingested: no memtable to fill and flush, and each worker writes its own.
func (w *foldWorker) endRound() error {
	out := make([]*entry, 0, len(w.states)+len(w.coll))
	for _, e := range w.states {
		if e.dirty {
			out = append(out, e)
		}
	}
	for _, e := range w.coll {
		if e.dirty {
			out = append(out, e)
		}
	}
	clear(w.states)
	clear(w.coll)
	err := w.writeStates(out)
	files, n, size, cerr := w.def.close()
	w.def = nil
	w.queue = append(w.queue, files...)
	w.deferred += n
	w.deferredBytes += size
	return errors.Join(err, cerr, w.commit())
}

// writeStates writes the entries to an sstable and ingests it.
func (w *foldWorker) writeStates(out []*entry) error {
	if len(out) == 0 {
		return nil
	}
	// Sorted by customer, the id beside the pointer (fewer cache misses).
	type byID struct {
		id string
		e  *entry
	}
	sorted := make([]byID, len(out))
	for i, e := range out {
		sorted[i] = byID{e.st.Customer, e}
	}
	slices.SortFunc(sorted, func(a, b byID) int { return strings.Compare(a.id, b.id) })
	for i := range sorted {
		out[i] = sorted[i].e
	}
	fs := w.v.opts.FS
	path := fmt.Sprintf("%s.w%d.sst%d", w.spool, w.id, w.tables)
	w.tables++
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("projections: rebuild states table: %w", err)
	}
	defer func() { _ = fs.Remove(path) }()
	tw := sstable.NewWriter(objstorageprovider.NewFileWritable(f), w.sstOpts)
	var key, val []byte
	for _, e := range out {
		g := customer.GapBucket(e.st)
		key = append(append(key[:0], prefixState...), e.st.Customer...)
		if val, err = appendEntry(val[:0], e, g); err != nil {
			_ = tw.Close()
			return err
		}
		if err := tw.Set(key, val); err != nil {
			_ = tw.Close()
			return err
		}
		if !e.inDB {
			w.customers++
		}
		w.gaps.Move(e.stored, g)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return w.db.Ingest(context.Background(), []string{path})
}

// rounds replays the worker's defer files after the first pass: a round
// opens admission and replays files from the queue while it holds fewer
// than half its bound, then writes its states; what it defers goes to the
// end of the queue.
func (w *foldWorker) rounds(ctx context.Context) error {
	for len(w.queue) > 0 {
		w.round++
		w.closed = false
		w.def = newDeferSet(w.v.opts.FS, fmt.Sprintf("%s.w%d.r%d", w.spool, w.id, w.round), 1)
		for len(w.queue) > 0 && !w.closed && len(w.states)+len(w.coll) < max(1, w.maxStates/2) {
			in := w.queue[0]
			w.queue = w.queue[1:]
			if err := w.replay(w.v.opts.FS, in); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := w.endRound(); err != nil {
			return err
		}
	}
	return nil
}

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

func (w *foldWorker) commit() error {
	if err := w.b.Commit(pebble.NoSync); err != nil {
		return err
	}
	w.b.Reset()
	return nil
}

// collect keeps the events of c (late customers) for foldLate.
func (w *foldWorker) collect(c *scanChunk, into map[string][]histItem) error {
	for i := range c.items {
		it := &c.items[i]
		ev, err := journey.DecodeStored(c.buf[it.off:it.end])
		if err != nil {
			continue // counted as skipped in the first pass
		}
		ev.Raw = nil // the chunk is reused; Apply does not need the bytes
		into[ev.Subject] = append(into[ev.Subject], histItem{time: ev.Time, seq: it.seq, ev: ev})
	}
	c.items, c.buf = c.items[:0], c.buf[:0]
	chunkPool.Put(c)
	return nil
}

// refoldFromLog folds each late customer from their history in the log:
// in groups of refoldGroup customers, the sequences of a group's histories
// merged and read in one forward sweep of the log (each block read once,
// not once per customer).
func (w *foldWorker) refoldFromLog(ctx context.Context) error {
	customers := slices.Sorted(maps.Keys(w.late))
	for len(customers) > 0 {
		group := customers[:min(refoldGroup, len(customers))]
		customers = customers[len(group):]
		var seqs []uint64
		for _, c := range group {
			cs, err := w.v.log.CustomerSeqs(ctx, c)
			if err != nil {
				return err
			}
			for _, seq := range cs {
				if seq <= w.target {
					seqs = append(seqs, seq)
				}
			}
		}
		slices.Sort(seqs)
		collected := make(map[string][]histItem, len(group))
		for _, c := range group {
			collected[c] = nil // a customer whose events all fall after asOf folds to its marks
		}
		err := w.v.log.ReadSeqs(ctx, seqs, func(r *eventstore.RawRecord) error {
			if !w.asOf.IsZero() && time.Unix(r.EventSec, int64(r.EventNsec)).After(w.asOf) {
				return nil
			}
			ev, err := journey.DecodeStored(r.Raw)
			if err != nil {
				return nil
			}
			ev.Raw = nil // r.Raw is the log's; Apply does not need the bytes
			collected[ev.Subject] = append(collected[ev.Subject], histItem{time: ev.Time, seq: r.Seq, ev: ev})
			return nil
		})
		if err != nil {
			return err
		}
		if err := w.foldLate(ctx, collected); err != nil {
			return err
		}
	}
	return nil
}

// refoldGroup is how many late customers' histories refoldFromLog reads
// in one sweep.
const refoldGroup = 1024

// foldLate folds the collected late customers in event-time order, with
// the referral marks naming them, and writes them.
func (w *foldWorker) foldLate(ctx context.Context, collected map[string][]histItem) error {
	n := 0
	for c, items := range collected {
		ms, err := readMarks(w.db, c, w.target, w.asOf)
		if err != nil {
			return err
		}
		st, last := foldItems(c, items, ms)
		e := &entry{st: st, last: last, stored: customer.NoGap}
		old, err := loadEntry(w.db, c)
		if err != nil {
			return err
		}
		if old != nil {
			e.stored, e.inDB = old.stored, true
		} else {
			w.customers++
		}
		if err := putEntry(w.b, c, e, w.gaps); err != nil {
			return err
		}
		delete(collected, c)
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := w.commit(); err != nil {
				return err
			}
		}
	}
	return w.commit()
}

// carryChurn copies the churn fit of from into to (a fit made while the
// rebuild ran). The caller holds applyMu.
func carryChurn(from, to *viewsDB) error {
	fit := from.meta.Load().pop.Churn
	m := to.meta.Load()
	if fit == m.pop.Churn {
		return nil
	}
	nm := &dbMeta{pop: m.pop, gaps: m.gaps, maxTime: m.maxTime}
	nm.pop.Churn = fit
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
