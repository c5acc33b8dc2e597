package projections

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/maphash"
	"maps"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"golang.org/x/sync/errgroup"
)

// RebuildStats describe a rebuild (or an as-of population fold).
type RebuildStats struct {
	Events     uint64        `json:"events"`     // events folded
	Skipped    uint64        `json:"skipped"`    // events the vocabulary rejects (not folded)
	Customers  uint64        `json:"customers"`  // customer states written
	Refolded   uint64        `json:"refolded"`   // customers re-folded from history for late events
	Checkpoint uint64        `json:"checkpoint"` // log sequence the views were built to
	Workers    int           `json:"workers"`
	Duration   time.Duration `json:"duration_ns"`
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
// so a large cache only takes memory from the rebuild's encoded tier.
const RebuildLogCacheSize = 32 << 20

// buildInto folds the log up to target (events with time ≤ asOf when asOf
// is not zero) into the empty database db and writes its metadata, with
// churn as the population's churn fit.
func (v *Views) buildInto(ctx context.Context, db *pebble.DB, target uint64, asOf time.Time, churn *ChurnFit) (RebuildStats, error) {
	start := time.Now()
	res, err := v.build(ctx, db, target, asOf)
	if err != nil {
		return RebuildStats{}, err
	}
	m := &dbMeta{pop: Population{MedianGap: res.gaps.median(), Churn: churn}, gaps: res.gaps, maxTime: res.maxTime}
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
	gaps    gapHist
	maxTime time.Time
	hash    [32]byte // log hash at target
}

// rbItem is one unit of work for a rebuild worker: an event (raw bytes in
// the chunk's buffer) or a referral mark naming the worker's customer.
type rbItem struct {
	seq      uint64
	h        uint64 // maphash of the customer (event) or the referred (mark)
	off, end int    // event: raw = chunk.buf[off:end]
	sec      int64  // event: its time
	nsec     int32
	markFor  string // mark: the referred customer ("" for an event)
	markBy   string
	markTime time.Time
}

type rbChunk struct {
	items []rbItem
	buf   []byte
}

const (
	chunkItems = 512
	chunkBytes = 256 << 10
)

var chunkPool = sync.Pool{New: func() any {
	return &rbChunk{items: make([]rbItem, 0, chunkItems), buf: make([]byte, 0, chunkBytes+journey.MaxEventBytes)}
}}

// build is the parallel fold of the log into db. One goroutine scans the
// log and deals the records out to workers by customer hash, so each
// customer's events reach one worker in log order; referral events are
// decoded by the scanner too, to deal a mark to the referred customer's
// worker. A worker keeps states in memory up to Options.MaxStates, then
// spills them to db. An event older than its customer's newest makes the
// worker drop the customer ("late"); after the first pass, further scans
// of the log collect the late customers' events (in groups whose events
// fit lateBudget), which the workers sort by (time, seq) and fold.
func (v *Views) build(ctx context.Context, db *pebble.DB, target uint64, asOf time.Time) (buildResult, error) {
	if v.opts.MemoryLimit >= 0 {
		defer limitMemory(v.opts.MemoryLimit)()
	}
	nw := v.opts.Workers
	dbBefore, err := hasStates(db)
	if err != nil {
		return buildResult{}, err
	}
	coldLimit := v.coldBudget(nw)
	workers := make([]*rbWorker, nw)
	for i := range nw {
		workers[i] = &rbWorker{v: v, db: db, b: db.NewBatch(), states: map[uint64]*entry{}, coll: map[string]*entry{}, cold: arena{idx: map[uint64]arenaRef{}}, coldMax: coldLimit, spilled: map[uint64]struct{}{}, dbBefore: dbBefore, late: map[string]int{}, gaps: gapHist{}, asOf: asOf, target: target}
	}
	defer func() {
		for _, w := range workers {
			_ = w.b.Close()
		}
	}()
	seed := maphash.MakeSeed()
	res := buildResult{gaps: gapHist{}}
	start := time.Now()
	if err := v.pass(ctx, target, asOf, seed, workers, nil, &res); err != nil {
		return buildResult{}, err
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
			if err := v.pass(ctx, target, asOf, seed, workers, only, nil); err != nil {
				return buildResult{}, err
			}
		}
	}
	res.stats.LatePass = time.Since(start)
	for _, w := range workers {
		res.gaps.add(w.gaps)
		res.stats.Events += w.events
		res.stats.Skipped += w.skipped
		res.stats.Customers += w.customers
		res.stats.Refolded += uint64(len(w.late))
	}
	res.gaps.clean()
	res.stats.Workers = nw
	return res, nil
}

// lateBudget bounds the memory of the late customers' events collected
// in one pass.
const lateBudget = 128 << 20

// pass scans the log up to target (events with time ≤ asOf when asOf is
// not zero) into the workers. With only nil it is the first pass: every
// record, referral marks, and res is filled; else only the events of the
// customers in only are dealt, and the workers fold them at the end.
func (v *Views) pass(ctx context.Context, target uint64, asOf time.Time, seed maphash.Seed, workers []*rbWorker, only map[string]struct{}, res *buildResult) error {
	nw := len(workers)
	g, gctx := errgroup.WithContext(ctx)
	chans := make([]chan *rbChunk, nw)
	for i := range chans {
		chans[i] = make(chan *rbChunk, 8)
	}
	g.Go(func() error {
		defer func() {
			for _, c := range chans {
				close(c)
			}
		}()
		pending := make([]*rbChunk, nw)
		for i := range pending {
			pending[i] = chunkPool.Get().(*rbChunk)
		}
		send := func(i int) error {
			select {
			case chans[i] <- pending[i]:
			case <-gctx.Done():
				return gctx.Err()
			}
			pending[i] = chunkPool.Get().(*rbChunk)
			return nil
		}
		var done uint64
		err := v.log.Scan(gctx, 1, target, func(rec *eventstore.Record) error {
			if only != nil {
				if _, ok := only[rec.Customer]; !ok || (!asOf.IsZero() && rec.EventTime.After(asOf)) {
					return nil
				}
			} else {
				done++
				if rec.Seq == target {
					res.hash = rec.Hash
				}
				if v.opts.Progress != nil && done&0xffff == 0 {
					v.opts.Progress(done, target)
				}
				if !asOf.IsZero() && rec.EventTime.After(asOf) {
					return nil
				}
				if rec.EventTime.After(res.maxTime) {
					res.maxTime = rec.EventTime
				}
				res.bytes += uint64(len(rec.Raw))
			}
			h := maphash.String(seed, rec.Customer)
			i := int(h % uint64(nw))
			c := pending[i]
			off := len(c.buf)
			c.buf = append(c.buf, rec.Raw...)
			c.items = append(c.items, rbItem{seq: rec.Seq, h: h, off: off, end: len(c.buf), sec: rec.EventTime.Unix(), nsec: int32(rec.EventTime.Nanosecond())})
			if len(c.items) >= chunkItems || len(c.buf) >= chunkBytes {
				if err := send(i); err != nil {
					return err
				}
			}
			if rec.Type == journey.KindReferral && only == nil {
				ev, err := journey.DecodeStored(rec.Raw)
				if err != nil || ev.Data.Referred == "" || ev.Data.Referred == ev.Subject {
					return nil // the worker skips an invalid event the same way
				}
				h := maphash.String(seed, ev.Data.Referred)
				j := int(h % uint64(nw))
				c := pending[j]
				c.items = append(c.items, rbItem{seq: rec.Seq, h: h, markFor: ev.Data.Referred, markBy: ev.Subject, markTime: ev.Time})
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
		if v.opts.Progress != nil && only == nil {
			v.opts.Progress(done, target)
		}
		return nil
	})
	for i, w := range workers {
		g.Go(func() error {
			var collected map[string][]histItem
			if only != nil {
				collected = map[string][]histItem{}
			}
			for c := range chans[i] {
				var err error
				if only == nil {
					err = w.chunk(c)
				} else {
					err = w.collect(c, collected)
				}
				if err != nil {
					// Drain so that the scanner is not blocked.
					go func() {
						for range chans[i] {
						}
					}()
					return err
				}
			}
			if only == nil {
				if err := w.drain(); err != nil {
					return err
				}
				return w.spill(true)
			}
			return w.foldLate(gctx, collected)
		})
	}
	return g.Wait()
}

// rbWorker folds the customers of one shard.
type rbWorker struct {
	v  *Views
	db *pebble.DB
	b  *pebble.Batch
	// states are the customers in memory, by the scanner's hash of their
	// id; coll holds the rare customers whose hash collides with another's.
	states map[uint64]*entry
	coll   map[string]*entry
	// cold are states moved out of states, encoded (a few hundred bytes
	// instead of a few kilobytes), at most coldMax bytes of them.
	cold    arena
	coldMax int
	// spilled holds the hashes of the customers written to the database
	// during this pass: a customer not in it is new (no lookup), unless
	// dbBefore (the database held states before the build).
	spilled  map[uint64]struct{}
	dbBefore bool
	late     map[string]int // late customers → events seen
	gaps     gapHist
	// reorder holds the events of the reorder window; newSec/newNsec is
	// the newest event time seen.
	reorder reorderBuckets
	newSec  int64
	newNsec int32
	asOf    time.Time
	target  uint64
	clock   uint32 // chunks processed: the recency of entry.touch

	events, skipped, customers uint64
	ev                         journey.Event // apply's, reused: Apply keeps no pointer into it
}

func (w *rbWorker) chunk(c *rbChunk) error {
	w.clock++
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
		// The chunk is reused: the window keeps its own copy of the bytes.
		rb.push(minute, reorderItem{sec: it.sec, nsec: it.nsec, seq: it.seq, h: it.h, raw: bytes.Clone(raw)})
		// Apply the minutes the reorder window has passed.
		if err := w.release(floorMinute(w.newSec - windowSec)); err != nil {
			return err
		}
	}
	c.items, c.buf = c.items[:0], c.buf[:0]
	chunkPool.Put(c)
	if len(w.states)+len(w.coll) >= w.v.opts.MaxStates {
		return w.spill(false)
	}
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
func (w *rbWorker) releaseMinute(minute int64) error {
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
		items[i] = reorderItem{}
	}
	rb.free = append(rb.free, items[:0])
	return nil
}

// release applies the minutes before horizon, and older ones while the
// window holds more than reorderMaxBytes.
func (w *rbWorker) release(horizon int64) error {
	rb := &w.reorder
	empty := 0
	for rb.min < horizon || rb.bytes > reorderMaxBytes {
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
			if rb.bytes <= reorderMaxBytes {
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
func (w *rbWorker) drain() error {
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
func (w *rbWorker) lookup(h uint64, customer string) *entry {
	if e, ok := w.states[h]; ok && e.st.Customer == customer {
		return e
	}
	if len(w.coll) > 0 {
		return w.coll[customer]
	}
	return nil
}

// get returns the customer's entry: in memory (decoded or encoded),
// spilled to the database, or new.
func (w *rbWorker) get(h uint64, customer string) (*entry, error) {
	if e := w.lookup(h, customer); e != nil {
		e.touch = w.clock
		return e, nil
	}
	var e *entry
	if ref, ok := w.cold.idx[h]; ok {
		cust, b := w.cold.record(ref)
		if string(cust) == customer {
			var err error
			if e, err = decodeEntry(customer, b); err != nil {
				return nil, err
			}
			e.stored, e.inDB, e.dirty = ref.stored, ref.inDB, true
			delete(w.cold.idx, h)
			w.cold.live -= int(ref.n)
		}
	}
	if _, spilled := w.spilled[h]; e == nil && (spilled || w.dbBefore) {
		var err error
		if e, err = loadEntry(w.db, customer); err != nil {
			return nil, err
		}
	}
	if e == nil {
		e = &entry{st: NewState(customer), stored: noGap}
	}
	e.touch, e.h = w.clock, h
	if _, taken := w.states[h]; taken {
		w.coll[customer] = e
	} else {
		w.states[h] = e
	}
	return e, nil
}

// arena is the encoded tier of a rebuild worker: the states moved out of
// memory, appended to blocks of arenaBlock bytes as records
// uvarint(len(customer)) | customer | encodeEntry, indexed by the
// scanner's hash of the customer id (one customer per hash: a colliding
// one goes to the database). Its records are all newer than the
// database's. Blocks are allocated as the tier grows, so a small build
// never holds the whole budget.
type arena struct {
	blocks [][]byte
	idx    map[uint64]arenaRef
	size   int // bytes of the blocks' records, in use or not
	live   int // bytes of the records idx points to
}

type arenaRef struct {
	blk, off, n uint32
	stored      int32 // gap bucket of the version in the database
	inDB        bool
}

// arenaBlock is the size of an arena block (a larger record gets a block
// of its own).
const arenaBlock = 1 << 20

// record returns the customer and encodeEntry bytes of ref.
func (a *arena) record(ref arenaRef) ([]byte, []byte) {
	r := a.blocks[ref.blk][ref.off : ref.off+ref.n]
	l, k := binary.Uvarint(r)
	return r[k : k+int(l)], r[k+int(l):]
}

// add appends e's record; false when another customer holds its hash.
func (a *arena) add(e *entry) (bool, error) {
	if _, taken := a.idx[e.h]; taken {
		return false, nil
	}
	need := binary.MaxVarintLen64 + len(e.st.Customer) + stateHeader + e.st.sizeHint()
	if len(a.blocks) == 0 || cap(a.blocks[len(a.blocks)-1])-len(a.blocks[len(a.blocks)-1]) < need {
		a.blocks = append(a.blocks, make([]byte, 0, max(arenaBlock, need)))
	}
	bi := len(a.blocks) - 1
	buf := a.blocks[bi]
	off := len(buf)
	buf = binary.AppendUvarint(buf, uint64(len(e.st.Customer)))
	buf = append(buf, e.st.Customer...)
	buf = append(buf, 1)
	buf = encodeTime(buf, e.last)
	buf = binary.BigEndian.AppendUint32(buf, uint32(gapBucket(e.st)))
	buf, err := e.st.AppendBinary(buf)
	if err != nil {
		a.blocks[bi] = a.blocks[bi][:off]
		return false, err
	}
	if cap(buf) != cap(a.blocks[bi]) {
		// The hint was short and append moved the block: keep the record
		// in a block of its own, the old one as it was.
		a.blocks[bi] = a.blocks[bi][:off]
		a.blocks = append(a.blocks, buf[off:len(buf):len(buf)])
		bi, off, buf = len(a.blocks)-1, 0, buf[off:len(buf):len(buf)]
	} else {
		a.blocks[bi] = buf
	}
	n := len(buf) - off
	a.idx[e.h] = arenaRef{blk: uint32(bi), off: uint32(off), n: uint32(n), stored: e.stored, inDB: e.inDB}
	a.live += n
	a.size += n
	return true, nil
}

// compact moves the records in use into fresh blocks, releasing each old
// block once its records are moved.
func (a *arena) compact() {
	type kv struct {
		h   uint64
		ref arenaRef
	}
	refs := make([]kv, 0, len(a.idx))
	for h, r := range a.idx {
		refs = append(refs, kv{h, r})
	}
	slices.SortFunc(refs, func(x, y kv) int {
		return cmp.Or(cmp.Compare(x.ref.blk, y.ref.blk), cmp.Compare(x.ref.off, y.ref.off))
	})
	old := a.blocks
	a.blocks, a.size = nil, 0
	var cur []byte
	for i, x := range refs {
		r := old[x.ref.blk][x.ref.off : x.ref.off+x.ref.n]
		if cap(cur)-len(cur) < len(r) {
			if cur != nil {
				a.blocks = append(a.blocks, cur)
			}
			cur = make([]byte, 0, max(arenaBlock, len(r)))
		}
		x.ref.blk, x.ref.off = uint32(len(a.blocks)), uint32(len(cur))
		cur = append(cur, r...)
		a.idx[x.h] = x.ref
		a.size += len(r)
		if i+1 == len(refs) || refs[i+1].ref.blk != refs[i].ref.blk {
			old[refs[i].ref.blk] = nil // moved out: the collector may take it
		}
	}
	if cur != nil {
		a.blocks = append(a.blocks, cur)
	}
}

// reset empties the arena, keeping its first block.
func (a *arena) reset() {
	clear(a.idx)
	if len(a.blocks) > 0 {
		a.blocks = a.blocks[:1]
		a.blocks[0] = a.blocks[0][:0]
	}
	a.size, a.live = 0, 0
}

// coldMax, when positive, bounds the bytes of encoded states each rebuild
// worker keeps in memory (its arena) before writing them to the database
// (tests); 0 sizes the bound with coldBudget.
var coldMax = 0

// coldShare is the part of a build's memory the workers' encoded tiers
// share: the rest is for the decoded states, the reorder windows, the
// chunks in flight and the collector's headroom.
const coldShare = 0.40

// coldBudget is the bound on each of nw workers' encoded tier: coldShare
// of the build's memory (Options.MemoryLimit less the heap in use, or
// defaultBuildMemory), at least 4 MiB.
func (v *Views) coldBudget(nw int) int {
	if coldMax > 0 {
		return coldMax
	}
	mem := int64(defaultBuildMemory)
	if l := v.opts.MemoryLimit; l > 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mem = max(64<<20, l-int64(ms.HeapAlloc))
	}
	return max(4<<20, int(float64(mem)*coldShare)/max(1, nw))
}

// forget drops the customer's entry from memory.
func (w *rbWorker) forget(h uint64, customer string) {
	if e, ok := w.states[h]; ok && e.st.Customer == customer {
		delete(w.states, h)
		return
	}
	delete(w.coll, customer)
}

// apply decodes and folds one event, or marks its customer late.
func (w *rbWorker) apply(it reorderItem) error {
	ev := &w.ev
	if err := journey.DecodeStoredInto(it.raw, ev); err != nil {
		w.skipped++
		return nil
	}
	w.events++
	if len(w.late) > 0 {
		if n, ok := w.late[ev.Subject]; ok {
			w.late[ev.Subject] = n + 1
			return nil
		}
	}
	e, err := w.get(it.h, ev.Subject)
	if err != nil {
		return err
	}
	if ev.Time.Before(e.last) {
		// Late: fold this customer again from the log, after this pass.
		w.late[ev.Subject] = e.st.Events + 1
		w.forget(it.h, ev.Subject)
		return nil
	}
	e.st.Apply(ev, it.seq)
	e.last = ev.Time
	e.dirty = true
	return nil
}

func (w *rbWorker) mark(it *rbItem) error {
	m := mark{By: it.markBy, Time: it.markTime, Seq: it.seq}
	if err := w.b.Set(markKey(it.markFor, it.seq), encodeMark(m), nil); err != nil {
		return err
	}
	if _, ok := w.late[it.markFor]; ok {
		return nil // the re-fold reads the mark back
	}
	e, err := w.get(it.h, it.markFor)
	if err != nil {
		return err
	}
	e.st.MarkReferred(m.By, m.Time, m.Seq)
	e.dirty = true
	return nil
}

// spill moves decoded states out of memory: all of them to the database,
// or (when the bound is reached) the half touched least recently to the
// encoded tier, which goes to the database when it exceeds coldMax.
func (w *rbWorker) spill(all bool) error {
	var cut uint32
	if !all {
		touches := make([]uint32, 0, len(w.states)+len(w.coll))
		for _, e := range w.states {
			touches = append(touches, e.touch)
		}
		for _, e := range w.coll {
			touches = append(touches, e.touch)
		}
		slices.Sort(touches)
		cut = touches[len(touches)/2]
	}
	out := func(e *entry) (bool, error) {
		if all {
			if e.dirty {
				if !e.inDB {
					w.customers++
				}
				if err := putEntry(w.b, e.st.Customer, e, w.gaps); err != nil {
					return false, err
				}
			}
			return true, nil
		}
		if e.touch > cut {
			return false, nil
		}
		if !e.dirty {
			return true, nil // the database holds it
		}
		ok, err := w.cold.add(e)
		if err != nil || ok {
			return ok, err
		}
		// Another customer holds the hash in the arena: to the database.
		if !e.inDB {
			w.customers++
		}
		w.spilled[e.h] = struct{}{}
		return true, putEntry(w.b, e.st.Customer, e, w.gaps)
	}
	for h, e := range w.states {
		gone, err := out(e)
		if err != nil {
			return err
		}
		if gone {
			delete(w.states, h)
		}
	}
	for c, e := range w.coll {
		gone, err := out(e)
		if err != nil {
			return err
		}
		if gone {
			delete(w.coll, c)
		}
	}
	if !all && w.cold.size > w.coldMax && w.cold.live*2 < w.cold.size {
		w.cold.compact()
	}
	if all || w.cold.size > w.coldMax {
		for h, ref := range w.cold.idx {
			c, b := w.cold.record(ref)
			if !ref.inDB {
				w.customers++
			}
			if err := w.b.Set(stateKey(string(c)), b, nil); err != nil {
				return err
			}
			w.spilled[h] = struct{}{}
			w.gaps.move(ref.stored, int32(binary.BigEndian.Uint32(b[13:17])))
		}
		w.cold.reset()
	}
	if all || w.b.Len() > 0 {
		return w.commit()
	}
	return nil
}

func (w *rbWorker) commit() error {
	if err := w.b.Commit(pebble.NoSync); err != nil {
		return err
	}
	w.b.Reset()
	return nil
}

// collect keeps the events of c (late customers) for foldLate.
func (w *rbWorker) collect(c *rbChunk, into map[string][]histItem) error {
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

// refoldFromLog folds each late customer from their history in the log.
func (w *rbWorker) refoldFromLog(ctx context.Context) error {
	collected := map[string][]histItem{}
	for c := range w.late {
		recs, err := w.v.log.CustomerEvents(ctx, c, 0, 0)
		if err != nil {
			return err
		}
		var items []histItem
		for i := range recs {
			r := &recs[i]
			if r.Seq > w.target || (!w.asOf.IsZero() && r.EventTime.After(w.asOf)) {
				continue
			}
			ev, err := journey.DecodeStored(r.Raw)
			if err != nil {
				continue
			}
			ev.Raw = nil
			items = append(items, histItem{time: ev.Time, seq: r.Seq, ev: ev})
		}
		collected[c] = items
		if len(collected) >= 1024 {
			if err := w.foldLate(ctx, collected); err != nil {
				return err
			}
		}
	}
	return w.foldLate(ctx, collected)
}

// foldLate folds the collected late customers in event-time order, with
// the referral marks naming them, and writes them.
func (w *rbWorker) foldLate(ctx context.Context, collected map[string][]histItem) error {
	n := 0
	for c, items := range collected {
		ms, err := readMarks(w.db, c, w.target, w.asOf)
		if err != nil {
			return err
		}
		st, last := foldItems(c, items, ms)
		e := &entry{st: st, last: last, stored: noGap}
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

// hasStates reports whether db holds any customer state.
func hasStates(db *pebble.DB) (bool, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefixState, UpperBound: prefixEnd(prefixState)})
	if err != nil {
		return false, err
	}
	found := it.First()
	return found, errors.Join(it.Error(), it.Close())
}
