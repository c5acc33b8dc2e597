package projections

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
)

// CatchUp applies the log from the checkpoint up to the log's durable
// position, in batches: each batch's view updates and the new checkpoint
// are one Pebble batch. It returns the number of events applied. Fresh
// views (checkpoint 0) behind a log of 100,000 events or more are built
// by the rebuild's parallel fold instead, without OnChange calls.
func (v *Views) CatchUp(ctx context.Context) (uint64, error) {
	v.applyMu.Lock()
	defer v.applyMu.Unlock()
	d, err := v.acquire()
	if err != nil {
		return 0, err
	}
	defer d.use.RUnlock()
	target := v.log.DurableSeq()
	if d.checkpoint.Load() == 0 && target >= parallelCatchUpMin {
		// Fresh (or deleted) views behind a long log: the rebuild's
		// parallel fold, without OnChange (as a rebuild).
		st, err := v.buildInto(ctx, d.db, target, time.Time{}, d.meta.Load().pop.Churn)
		if err != nil {
			return 0, err
		}
		if err := d.load(); err != nil {
			return 0, err
		}
		return st.Events + st.Skipped + st.Erased, nil
	}
	return v.catchUpTo(ctx, d, target, v.opts.OnChange)
}

// recentMax bounds the customer states CatchUp keeps decoded between
// batches (viewsDB.recent).
const recentMax = 32768

// parallelCatchUpMin is the log length from which CatchUp builds fresh
// views with the parallel fold instead of event by event.
var parallelCatchUpMin uint64 = 100_000

// Follow keeps the views up to date with the log until ctx ends: CatchUp,
// then wait for the log to grow. It returns ctx's error, or the first
// error of CatchUp.
func (v *Views) Follow(ctx context.Context) error {
	for {
		if _, err := v.CatchUp(ctx); err != nil {
			return err
		}
		if _, err := v.log.WaitDurable(ctx, v.Checkpoint()); err != nil {
			return err
		}
	}
}

// logRecord is a private copy of a log record.
type logRecord struct {
	seq  uint64
	time time.Time
	raw  []byte
	hash [32]byte
}

// catchUpTo applies the log to d from its checkpoint up to target. The
// caller holds applyMu and pins d.
func (v *Views) catchUpTo(ctx context.Context, d *viewsDB, target uint64, notify func(Change)) (uint64, error) {
	var applied uint64
	for {
		cp := d.checkpoint.Load()
		if cp >= target {
			return applied, nil
		}
		end := min(cp+uint64(v.opts.BatchEvents), target)
		// Copy the batch out of the log first: re-folds read the log too.
		recs := make([]logRecord, 0, end-cp)
		var buf []byte
		err := v.log.Scan(ctx, cp+1, end, func(rec *eventstore.Record) error {
			off := len(buf)
			buf = append(buf, rec.Raw...)
			recs = append(recs, logRecord{seq: rec.Seq, time: rec.EventTime, raw: buf[off:len(buf):len(buf)], hash: rec.Hash})
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("projections: read log %d..%d: %w", cp+1, end, err)
		}
		if len(recs) == 0 || recs[len(recs)-1].seq != end {
			return applied, fmt.Errorf("projections: log read %d..%d returned %d records", cp+1, end, len(recs))
		}
		if notify != nil {
			// Events handed to the subscriber keep their bytes.
			for i := range recs {
				recs[i].raw = bytes.Clone(recs[i].raw)
			}
		}
		n, err := v.applyBatch(ctx, d, recs, notify)
		applied += n
		if err != nil {
			return applied, err
		}
	}
}

// liveBatch is one CatchUp batch in progress.
type liveBatch struct {
	v       *Views
	d       *viewsDB
	b       *pebble.Batch // indexed: re-folds read their marks through it
	entries map[string]*entry
	gaps    customer.GapHistogram
	changes []Change
	notify  func(Change)
}

// applyBatch folds recs into d, committing the views and the checkpoint
// (recs' last sequence) in one Pebble batch, then tells notify.
func (v *Views) applyBatch(ctx context.Context, d *viewsDB, recs []logRecord, notify func(Change)) (uint64, error) {
	meta := d.meta.Load()
	nm := &dbMeta{pop: meta.pop, gaps: meta.gaps.Clone(), maxTime: meta.maxTime}
	p := &liveBatch{v: v, d: d, b: d.db.NewIndexedBatch(), entries: map[string]*entry{}, gaps: nm.gaps, notify: notify}
	defer p.b.Close()
	committed := false
	defer func() {
		if !committed {
			// Entries of recent may have been changed by the failed batch.
			clear(d.recent)
		}
	}()
	minTime := recs[0].time
	for i := range recs {
		r := &recs[i]
		if r.time.After(nm.maxTime) {
			nm.maxTime = r.time
		}
		if r.time.Before(minTime) {
			minTime = r.time
		}
		if err := p.apply(ctx, r); err != nil {
			return 0, err
		}
	}
	for c, e := range p.entries {
		if e.dirty {
			if err := putEntry(p.b, c, e, p.gaps); err != nil {
				return 0, err
			}
		}
	}
	nm.gaps.Clean()
	nm.pop.MedianGap = nm.gaps.Median()
	last := recs[len(recs)-1]
	if err := writeMeta(p.b, last.seq, last.hash, nm); err != nil {
		return 0, err
	}
	// The views are disposable and the checkpoint is in the batch: a
	// crash loses at most whole batches, which CatchUp applies again.
	if err := p.b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("projections: commit views: %w", err)
	}
	committed = true
	d.meta.Store(nm)
	d.noteBatch(recs[0].seq, last.seq, minTime)
	d.checkpoint.Store(last.seq)
	if len(d.recent)+len(p.entries) > recentMax {
		clear(d.recent)
	}
	for c, e := range p.entries {
		d.recent[c] = e
	}
	for _, c := range p.changes {
		notify(c)
	}
	return uint64(len(recs)), nil
}

// get returns the customer's entry, from the batch's cache or the views,
// nil when the customer has none.
func (p *liveBatch) get(customer string) (*entry, error) {
	if e, ok := p.entries[customer]; ok {
		return e, nil
	}
	if e, ok := p.d.recent[customer]; ok {
		p.entries[customer] = e
		return e, nil
	}
	e, err := loadEntry(p.d.db, customer)
	if err != nil || e == nil {
		return nil, err
	}
	p.entries[customer] = e
	return e, nil
}

func (p *liveBatch) getOrNew(id string) (*entry, error) {
	e, err := p.get(id)
	if err != nil || e != nil {
		return e, err
	}
	e = &entry{st: customer.NewState(id), stored: customer.NoGap}
	p.entries[id] = e
	return e, nil
}

func (p *liveBatch) derive(e *entry, at time.Time) *customer.Answer {
	if e == nil {
		return nil
	}
	return p.v.derive(cloneState(e.st), at, &p.d.meta.Load().pop)
}

// apply folds one record.
func (p *liveBatch) apply(ctx context.Context, r *logRecord) error {
	if len(r.raw) == 0 {
		return nil // an erased customer's record (journey forget): nothing to fold
	}
	ev, err := journey.DecodeStored(r.raw)
	if err != nil {
		// The log holds what was valid when it was appended; an event the
		// current vocabulary rejects is skipped, the same way everywhere.
		p.v.opts.Logger.Warn("projections: skipping an event the vocabulary rejects", "seq", r.seq, "err", err)
		return nil
	}
	e, err := p.get(ev.Subject)
	if err != nil {
		return err
	}
	var before *customer.Answer
	if p.notify != nil {
		at := ev.Time
		if e != nil && e.last.After(at) {
			at = e.last
		}
		before = p.derive(e, at)
	}
	if e == nil {
		e, _ = p.getOrNew(ev.Subject)
	}
	refolded := false
	if ev.Time.Before(e.last) {
		// A late event: fold the customer again from their history.
		st, last, err := p.v.foldHistory(ctx, p.b, ev.Subject, r.seq, time.Time{})
		if err != nil {
			return err
		}
		e.st, e.last, refolded = st, last, true
		// The customer's fold snapshots at or after the late event no
		// longer hold (snapshot.go).
		if err := dropSnapshots(p.b, ev.Subject, ev.Time); err != nil {
			return err
		}
	} else {
		e.st.Apply(ev, r.seq)
		e.last = ev.Time
		if snapshotEvery > 0 && e.st.Events%snapshotEvery == 0 {
			if err := putSnapshot(p.b, e.st, ev.Time); err != nil {
				return err
			}
		}
	}
	e.dirty = true
	if p.notify != nil {
		p.changes = append(p.changes, Change{Seq: r.seq, Event: ev, Customer: ev.Subject, Before: before, After: p.derive(e, e.last), Refolded: refolded})
	}
	if ev.Type == journey.KindReferral && ev.Data.Referred != "" && ev.Data.Referred != ev.Subject {
		return p.markReferred(ev, r.seq)
	}
	return nil
}

// markReferred records the referral ev (at seq) on the referred customer:
// the mark is kept in the views so that re-folds and as-of folds of the
// referred customer see it too.
func (p *liveBatch) markReferred(ev *journey.Event, seq uint64) error {
	m := mark{By: ev.Subject, Time: ev.Time, Seq: seq}
	b := ev.Data.Referred
	if err := p.b.Set(markKey(b, seq), encodeMark(m), nil); err != nil {
		return err
	}
	e, err := p.get(b)
	if err != nil {
		return err
	}
	var before *customer.Answer
	if p.notify != nil {
		before = p.derive(e, maxTime(ev.Time, lastOf(e)))
	}
	if e == nil {
		e, _ = p.getOrNew(b)
	}
	e.st.MarkReferred(m.By, m.Time, m.Seq)
	e.dirty = true
	if p.notify != nil {
		p.changes = append(p.changes, Change{Seq: seq, Event: ev, Customer: b, Before: before, After: p.derive(e, maxTime(ev.Time, e.last))})
	}
	return nil
}

func lastOf(e *entry) time.Time {
	if e == nil {
		return time.Time{}
	}
	return e.last
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// histItem is one item of a customer's history: an event of theirs or a
// referral mark naming them.
type histItem struct {
	time time.Time
	seq  uint64
	ev   *journey.Event
	mark *mark
}

// foldHistory folds a customer from the log: their events with seq ≤
// maxSeq and, when asOf is not zero, time ≤ asOf, in event-time order
// (time, then seq), with the referral marks naming them (read from views,
// which may be a batch of the views). It returns nil when there is
// nothing to fold, and the newest event time folded in. With a non-zero
// asOf it starts from the customer's newest fold snapshot at or before
// asOf (snapshot.go) and reads only the events after it.
func (v *Views) foldHistory(ctx context.Context, views pebble.Reader, id string, maxSeq uint64, asOf time.Time) (*customer.State, time.Time, error) {
	st, last, _, err := v.foldHistoryN(ctx, views, id, maxSeq, asOf)
	return st, last, err
}

// foldHistoryN is foldHistory, also returning the number of log records
// it read.
func (v *Views) foldHistoryN(ctx context.Context, views pebble.Reader, id string, maxSeq uint64, asOf time.Time) (*customer.State, time.Time, int, error) {
	seqs, err := v.log.CustomerSeqs(ctx, id)
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("projections: history of %q: %w", id, err)
	}
	if n, _ := slices.BinarySearch(seqs, maxSeq+1); n < len(seqs) {
		seqs = seqs[:n]
	}
	var base *customer.State
	if !asOf.IsZero() && len(seqs) > 0 {
		var lo, hi int
		if base, lo, hi, err = snapshotAt(views, id, seqs, maxSeq, asOf); err != nil {
			return nil, time.Time{}, 0, fmt.Errorf("projections: fold snapshots of %q: %w", id, err)
		}
		seqs = seqs[lo:hi]
	}
	// The records are read in place (no copies); those in range are
	// decoded, then applied in event-time order (the log's event time,
	// then seq, as the rebuild orders).
	type item struct {
		sec  int64
		nsec int32
		seq  uint64
		ev   *journey.Event
	}
	items := make([]item, 0, len(seqs))
	// The decoded events are only needed during the fold: their slice is
	// reused (an as-of answer of a long history would otherwise allocate
	// half a megabyte per 1,000 events, and the GC it causes is its tail).
	evp := evPool.Get().(*[]journey.Event)
	evs := slices.Grow((*evp)[:0], len(seqs))[:len(seqs)]
	defer func() {
		clear(evs)
		if cap(evs) <= 1<<16 {
			*evp = evs[:0]
			evPool.Put(evp)
		}
	}()
	asOfSec, asOfNsec := asOf.Unix(), int32(asOf.Nanosecond())
	err = v.log.ReadSeqs(ctx, seqs, func(r *eventstore.RawRecord) error {
		if !asOf.IsZero() && (r.EventSec > asOfSec || (r.EventSec == asOfSec && r.EventNsec > asOfNsec)) {
			return nil
		}
		if r.Erased {
			return nil
		}
		ev := &evs[len(items)]
		if err := journey.DecodeStoredInto(r.Raw, ev); err != nil {
			*ev = journey.Event{}
			v.opts.Logger.Warn("projections: skipping an event the vocabulary rejects", "seq", r.Seq, "err", err)
			return nil
		}
		items = append(items, item{sec: r.EventSec, nsec: r.EventNsec, seq: r.Seq, ev: ev})
		return nil
	})
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("projections: history of %q: %w", id, err)
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := cmp.Compare(a.sec, b.sec); c != 0 {
			return c
		}
		if c := cmp.Compare(a.nsec, b.nsec); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	ms, err := readMarks(views, id, maxSeq, asOf)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	if base == nil && len(items) == 0 && len(ms) == 0 {
		return nil, time.Time{}, len(seqs), nil
	}
	st := base
	var last time.Time
	if st == nil {
		st = customer.NewState(id)
	} else {
		last = st.LastTime
	}
	for _, it := range items {
		st.Apply(it.ev, it.seq)
		last = maxTime(last, it.ev.Time)
	}
	for _, m := range ms {
		st.MarkReferred(m.By, m.Time, m.Seq)
	}
	return st, last, len(seqs), nil
}

var evPool = sync.Pool{New: func() any { return new([]journey.Event) }}

// foldItems folds events (in any order) in event-time order, then the
// referral marks (MarkReferred is order-independent).
func foldItems(id string, items []histItem, ms []mark) (*customer.State, time.Time) {
	slices.SortFunc(items, func(a, b histItem) int {
		if c := a.time.Compare(b.time); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	st := customer.NewState(id)
	var last time.Time
	for _, it := range items {
		st.Apply(it.ev, it.seq)
		last = maxTime(last, it.ev.Time)
	}
	for _, m := range ms {
		st.MarkReferred(m.By, m.Time, m.Seq)
	}
	return st, last
}

// cloneState deep-copies a state through its binary encoding.
func cloneState(s *customer.State) *customer.State {
	b, err := s.MarshalBinary()
	if err != nil {
		panic(fmt.Sprintf("projections: state of %q does not marshal: %v", s.Customer, err))
	}
	c := customer.NewState(s.Customer)
	if err := c.UnmarshalBinary(b); err != nil {
		panic(fmt.Sprintf("projections: state of %q does not unmarshal: %v", s.Customer, err))
	}
	return c
}

// derive answers about s at asOf with the population pop.
func (v *Views) derive(s *customer.State, asOf time.Time, pop *customer.Population) *customer.Answer {
	return v.opts.Config.Derive(s, asOf, pop)
}
