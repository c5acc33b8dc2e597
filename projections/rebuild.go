package projections

import (
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
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
	gaps    gapHist
	maxTime time.Time
	hash    [32]byte // log hash at target
}

// rbItem is one unit of work for a rebuild worker: an event (raw bytes in
// the chunk's buffer) or a referral mark naming the worker's customer.
type rbItem struct {
	seq      uint64
	off, end int    // event: raw = chunk.buf[off:end]
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
// spills them to db; an event older than its customer's newest makes the
// worker drop the customer and re-fold them from the log at the end.
func (v *Views) build(ctx context.Context, db *pebble.DB, target uint64, asOf time.Time) (buildResult, error) {
	nw := v.opts.Workers
	g, gctx := errgroup.WithContext(ctx)
	chans := make([]chan *rbChunk, nw)
	workers := make([]*rbWorker, nw)
	for i := range nw {
		chans[i] = make(chan *rbChunk, 8)
		workers[i] = &rbWorker{v: v, db: db, b: db.NewBatch(), states: map[string]*entry{}, refold: map[string]struct{}{}, gaps: gapHist{}, asOf: asOf, target: target}
	}
	var res buildResult
	var skippedAsOf atomic.Uint64
	g.Go(func() error {
		defer func() {
			for _, c := range chans {
				close(c)
			}
		}()
		seed := maphash.MakeSeed()
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
			done++
			if rec.Seq == target {
				res.hash = rec.Hash
			}
			if v.opts.Progress != nil && done&0xffff == 0 {
				v.opts.Progress(done, target)
			}
			if !asOf.IsZero() && rec.EventTime.After(asOf) {
				skippedAsOf.Add(1)
				return nil
			}
			if rec.EventTime.After(res.maxTime) {
				res.maxTime = rec.EventTime
			}
			i := int(maphash.String(seed, rec.Customer) % uint64(nw))
			c := pending[i]
			off := len(c.buf)
			c.buf = append(c.buf, rec.Raw...)
			c.items = append(c.items, rbItem{seq: rec.Seq, off: off, end: len(c.buf)})
			if len(c.items) >= chunkItems || len(c.buf) >= chunkBytes {
				if err := send(i); err != nil {
					return err
				}
			}
			if rec.Type == journey.KindReferral {
				ev, err := journey.DecodeStored(rec.Raw)
				if err != nil || ev.Data.Referred == "" || ev.Data.Referred == ev.Subject {
					return nil // the worker skips an invalid event the same way
				}
				j := int(maphash.String(seed, ev.Data.Referred) % uint64(nw))
				c := pending[j]
				c.items = append(c.items, rbItem{seq: rec.Seq, markFor: ev.Data.Referred, markBy: ev.Subject, markTime: ev.Time})
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
			}
		}
		if v.opts.Progress != nil {
			v.opts.Progress(done, target)
		}
		return nil
	})
	for i := range nw {
		w := workers[i]
		g.Go(func() error {
			defer w.b.Close()
			for c := range chans[i] {
				if err := w.chunk(c); err != nil {
					// Drain so that the scanner is not blocked.
					go func() {
						for range chans[i] {
						}
					}()
					return err
				}
			}
			return w.finish(gctx)
		})
	}
	if err := g.Wait(); err != nil {
		return buildResult{}, err
	}
	res.gaps = gapHist{}
	for _, w := range workers {
		res.gaps.add(w.gaps)
		res.stats.Events += w.events
		res.stats.Skipped += w.skipped
		res.stats.Customers += w.customers
		res.stats.Refolded += uint64(len(w.refold))
	}
	res.gaps.clean()
	res.stats.Workers = nw
	return res, nil
}

// rbWorker folds the customers of one shard.
type rbWorker struct {
	v      *Views
	db     *pebble.DB
	b      *pebble.Batch
	states map[string]*entry
	refold map[string]struct{}
	gaps   gapHist
	asOf   time.Time
	target uint64

	events, skipped, customers uint64
}

func (w *rbWorker) chunk(c *rbChunk) error {
	for i := range c.items {
		it := &c.items[i]
		var err error
		if it.markFor != "" {
			err = w.mark(it)
		} else {
			err = w.event(c.buf[it.off:it.end], it.seq)
		}
		if err != nil {
			return err
		}
	}
	c.items, c.buf = c.items[:0], c.buf[:0]
	chunkPool.Put(c)
	if len(w.states) >= w.v.opts.MaxStates {
		return w.spill()
	}
	return nil
}

// get returns the customer's entry: in memory, spilled to the database, or new.
func (w *rbWorker) get(customer string) (*entry, error) {
	if e, ok := w.states[customer]; ok {
		return e, nil
	}
	e, err := loadEntry(w.db, customer)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = &entry{st: NewState(customer), stored: noGap}
	}
	w.states[customer] = e
	return e, nil
}

func (w *rbWorker) event(raw []byte, seq uint64) error {
	ev, err := journey.DecodeStored(raw)
	if err != nil {
		w.skipped++
		return nil
	}
	w.events++
	if _, ok := w.refold[ev.Subject]; ok {
		return nil
	}
	e, err := w.get(ev.Subject)
	if err != nil {
		return err
	}
	if ev.Time.Before(e.last) {
		// Late: re-fold this customer from the log once, at the end.
		w.refold[ev.Subject] = struct{}{}
		delete(w.states, ev.Subject)
		return nil
	}
	e.st.Apply(ev, seq)
	e.last = ev.Time
	e.dirty = true
	return nil
}

func (w *rbWorker) mark(it *rbItem) error {
	m := mark{By: it.markBy, Time: it.markTime, Seq: it.seq}
	if err := w.b.Set(markKey(it.markFor, it.seq), encodeMark(m), nil); err != nil {
		return err
	}
	if _, ok := w.refold[it.markFor]; ok {
		return nil // the re-fold reads the mark back
	}
	e, err := w.get(it.markFor)
	if err != nil {
		return err
	}
	e.st.MarkReferred(m.By, m.Time, m.Seq)
	e.dirty = true
	return nil
}

// spill writes the states in memory to the database and forgets them.
func (w *rbWorker) spill() error {
	for c, e := range w.states {
		if e.dirty {
			if !e.inDB {
				w.customers++
			}
			if err := putEntry(w.b, c, e, w.gaps); err != nil {
				return err
			}
		}
	}
	clear(w.states)
	return w.commit()
}

func (w *rbWorker) commit() error {
	if err := w.b.Commit(pebble.NoSync); err != nil {
		return err
	}
	w.b.Reset()
	return nil
}

// finish writes the remaining states, then re-folds the late customers.
func (w *rbWorker) finish(ctx context.Context) error {
	if err := w.spill(); err != nil {
		return err
	}
	n := 0
	for c := range w.refold {
		st, last, err := w.v.foldHistory(ctx, w.db, c, w.target, w.asOf)
		if err != nil {
			return err
		}
		if st == nil {
			continue
		}
		old, err := loadEntry(w.db, c)
		if err != nil {
			return err
		}
		e := &entry{st: st, last: last, stored: noGap}
		if old != nil {
			e.stored = old.stored
		} else {
			w.customers++
		}
		if err := putEntry(w.b, c, e, w.gaps); err != nil {
			return err
		}
		if n++; n%1024 == 0 {
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
