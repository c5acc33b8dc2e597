package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
)

// As-of answers
//
// An answer as of T is what the engine would say had its log held only
// the events with time ≤ T (log positions — seq, version — aside). It has
// two parts:
//
//   - the customer's own facts: their events with time ≤ T and the
//     referrals naming them, folded afresh in event-time order
//     (foldHistory: one read of that customer's history);
//   - the population's facts at T that the derivation measures the
//     customer against: the median inter-purchase gap (the expected gap of
//     a customer with fewer than two purchase days) and the RFM quintiles.
//
// The population facts at T are a popSnapshot, computed once per (views,
// T) from the states at T — the stored states when no stored event is
// later than T, else the scratch fold of the log up to T (statesAt) — and
// kept in a bounded cache (popCacheEntries snapshots, popCacheBytes of
// quintiles), shared by one-customer answers, exports and segment counts.
// A snapshot stays valid while the views fold only events later than T
// (snapshotValid); a rebuild starts afresh. Concurrent requests for the
// same T wait for one computation; at most Options.AsOfFolds scratch folds
// run at once. So one customer's answer at a T already asked costs a fold
// of that customer's history only; the first answer at a new T costs one
// pass over the population at T.

// asOfDirPrefix names the scratch databases of as-of population folds
// inside the data dir; Open removes leftovers.
const asOfDirPrefix = "asof-"

// Customer answers about one customer. With a zero asOf the answer is
// derived now (Options.Clock) from the stored state. Otherwise it is what
// the engine would have answered at asOf: the customer's events with time
// ≤ asOf (up to the views' checkpoint) and the referrals naming them are
// folded afresh in event-time order, and derived at asOf against the
// population at asOf (populationAt: median gap and RFM quintiles, as
// export and segments use). ErrNotFound: no events (at asOf).
func (v *Views) Customer(ctx context.Context, id string, asOf time.Time) (*customer.Answer, error) {
	d, err := v.acquire()
	if err != nil {
		return nil, err
	}
	defer d.use.RUnlock()
	if asOf.IsZero() {
		e, err := loadEntry(d.db, id)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, ErrNotFound
		}
		now := v.now()
		pop := d.meta.Load().pop
		if pop.RFM, err = v.cachedRFM(ctx, d, now); err != nil {
			return nil, err
		}
		return v.derive(e.st, now, &pop), nil
	}
	asOf = asOf.UTC()
	st, _, err := v.foldHistory(ctx, d.db, id, d.checkpoint.Load(), asOf)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, ErrNotFound
	}
	pop, err := v.populationAt(ctx, d, asOf, nil)
	if err != nil {
		return nil, err
	}
	return v.derive(st, asOf, &pop), nil
}

// rfmCacheTTL is how long the RFM quintiles of "now" answers are reused
// while the views move on.
const rfmCacheTTL = time.Minute

type rfmCache struct {
	d     *viewsDB
	cp    uint64
	built time.Time // wall clock
	sc    *customer.RFMScorer
}

// cachedRFM returns the RFM quintiles of the stored states at now, for
// "now" answers: quintiles built less than rfmCacheTTL ago are reused.
func (v *Views) cachedRFM(ctx context.Context, d *viewsDB, now time.Time) (*customer.RFMScorer, error) {
	cp := d.checkpoint.Load()
	v.rfmMu.Lock()
	defer v.rfmMu.Unlock()
	c := v.rfm
	if c.d == d && (c.cp == cp || time.Since(c.built) < rfmCacheTTL) {
		return c.sc, nil
	}
	sc, err := rfmScorer(ctx, d.db, now)
	if err != nil {
		return nil, err
	}
	v.rfm = rfmCache{d: d, cp: cp, built: time.Now(), sc: sc}
	return sc, nil
}

// popSnapshot is the population at one instant, as far as one customer's
// answer depends on it.
type popSnapshot struct {
	median time.Duration
	rfm    *customer.RFMScorer
}

// snapshotOf computes the population facts of the states of r, which hold
// no event later than asOf.
func snapshotOf(ctx context.Context, r pebble.Reader, asOf time.Time) (popSnapshot, error) {
	h := customer.GapHistogram{}
	var ins []customer.RFMInput
	err := forEachState(ctx, r, func(_ string, e *entry) error {
		h.Move(customer.NoGap, customer.GapBucket(e.st))
		if in, ok := customer.RFMInputOf(e.st, asOf); ok {
			ins = append(ins, in)
		}
		return nil
	})
	if err != nil {
		return popSnapshot{}, err
	}
	return popSnapshot{median: h.Median(), rfm: customer.NewRFMScorer(ins)}, nil
}

// populationAt is the population as it stood at asOf: the snapshot at
// asOf (see the comment at the top of this file), computed from r (the
// states at asOf) when the caller has them, and the stored churn and CLV fits
// when their calibration ended by asOf (a fit made later did not exist then).
func (v *Views) populationAt(ctx context.Context, d *viewsDB, asOf time.Time, r pebble.Reader) (customer.Population, error) {
	var pop customer.Population
	if f := d.meta.Load().pop.Churn; f != nil && !f.AsOf.After(asOf) {
		pop.Churn = f
	}
	if f := d.meta.Load().pop.CLV; f != nil && !f.AsOf.After(asOf) {
		pop.CLV = f
	}
	s, err := v.pops.get(ctx, d, asOf, func() (popSnapshot, error) {
		if r != nil {
			return snapshotOf(ctx, r, asOf)
		}
		var s popSnapshot
		err := v.statesAt(ctx, d, asOf, func(r pebble.Reader) error {
			var err error
			s, err = snapshotOf(ctx, r, asOf)
			return err
		})
		return s, err
	})
	if err != nil {
		return customer.Population{}, err
	}
	pop.MedianGap, pop.RFM = s.median, s.rfm
	return pop, nil
}

// Bounds of the population snapshot cache.
const (
	popCacheEntries = 16
	popCacheBytes   = 64 << 20 // the quintiles: 24 bytes per customer with a purchase
)

// popCache holds recent population snapshots, least recently used first.
type popCache struct {
	mu      sync.Mutex
	entries []*popEntry
	bytes   int64
}

type popEntry struct {
	d    *viewsDB
	sec  int64 // the instant (Unix seconds and nanoseconds)
	nsec int
	cp   uint64 // the views' checkpoint when it was computed
	done chan struct{}
	snap popSnapshot
	err  error
	size int64
}

// get returns the snapshot of d at asOf, computing it with build when the
// cache has none that is still valid. Callers asking for one instant at
// once share one build.
func (c *popCache) get(ctx context.Context, d *viewsDB, asOf time.Time, build func() (popSnapshot, error)) (popSnapshot, error) {
	sec, nsec := asOf.Unix(), asOf.Nanosecond()
	for {
		cp := d.checkpoint.Load()
		c.mu.Lock()
		var hit *popEntry
		for i, e := range c.entries {
			if e.d != d || e.sec != sec || e.nsec != nsec {
				continue
			}
			select {
			case <-e.done:
				if e.err != nil || !d.snapshotValid(e.cp, cp, asOf) {
					c.removeAt(i)
					continue
				}
			default:
			}
			hit = e
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), e) // most recent last
			break
		}
		if hit == nil {
			e := &popEntry{d: d, sec: sec, nsec: nsec, cp: cp, done: make(chan struct{})}
			c.entries = append(c.entries, e)
			c.mu.Unlock()
			s, err := build()
			c.mu.Lock()
			e.snap, e.err = s, err
			if s.rfm != nil {
				e.size = 24*int64(s.rfm.Len()) + 64
			}
			close(e.done)
			c.bytes += e.size
			c.evict(d)
			c.mu.Unlock()
			return s, err
		}
		c.mu.Unlock()
		select {
		case <-hit.done:
		case <-ctx.Done():
			return popSnapshot{}, ctx.Err()
		}
		if hit.err == nil {
			return hit.snap, nil
		}
		// The build failed (its own context perhaps): try once more ourselves.
		if err := ctx.Err(); err != nil {
			return popSnapshot{}, err
		}
	}
}

// removeAt drops entry i; the caller holds c.mu.
func (c *popCache) removeAt(i int) {
	c.bytes -= c.entries[i].size
	c.entries = append(c.entries[:i:i], c.entries[i+1:]...)
}

// evict drops the finished entries of views other than cur (replaced by
// a rebuild), then the least recently used finished entries beyond the
// bounds; the caller holds c.mu.
func (c *popCache) evict(cur *viewsDB) {
	for i := 0; i < len(c.entries); {
		if e := c.entries[i]; e.d != cur && finished(e) {
			c.removeAt(i)
		} else {
			i++
		}
	}
	for i := 0; i < len(c.entries) && (len(c.entries) > popCacheEntries || c.bytes > popCacheBytes); {
		if finished(c.entries[i]) {
			c.removeAt(i)
		} else {
			i++ // in flight
		}
	}
}

func finished(e *popEntry) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// batchSpan is one committed CatchUp batch: its log sequences and the
// oldest event time in it.
type batchSpan struct {
	first, last uint64
	minTime     time.Time
}

// maxBatchSpans bounds the batches a views database remembers for
// snapshotValid.
const maxBatchSpans = 1024

// noteBatch records a committed batch.
func (d *viewsDB) noteBatch(first, last uint64, minTime time.Time) {
	d.spansMu.Lock()
	defer d.spansMu.Unlock()
	if len(d.spans) == maxBatchSpans {
		d.spans = append(d.spans[:0], d.spans[1:]...)
	}
	d.spans = append(d.spans, batchSpan{first: first, last: last, minTime: minTime})
}

// forgetBatches drops the batch record (the database changed otherwise).
func (d *viewsDB) forgetBatches() {
	d.spansMu.Lock()
	d.spans = nil
	d.spansMu.Unlock()
}

// snapshotValid reports whether a population snapshot at asOf computed at
// checkpoint from still holds at checkpoint to: every event folded since
// is later than asOf.
func (d *viewsDB) snapshotValid(from, to uint64, asOf time.Time) bool {
	if from == to {
		return true
	}
	if from > to {
		return false
	}
	d.spansMu.Lock()
	defer d.spansMu.Unlock()
	next := from + 1
	for _, s := range d.spans {
		if s.last < next {
			continue
		}
		if s.first != next || !s.minTime.After(asOf) {
			return false
		}
		next = s.last + 1
		if s.last >= to {
			return true
		}
	}
	return false
}

// statesAt calls fn with a reader of the customer states as they stood at
// asOf (zero: the stored states). When some stored event is later than
// asOf, the population is folded afresh from the log into a scratch
// database (the rebuild's parallel fold, events with time ≤ asOf), which
// is deleted afterwards; at most Options.AsOfFolds such folds run at once
// (others wait), and they leave the process's GC settings alone.
func (v *Views) statesAt(ctx context.Context, d *viewsDB, asOf time.Time, fn func(r pebble.Reader) error) error {
	if asOf.IsZero() || !asOf.Before(d.meta.Load().maxTime) {
		return fn(d.db)
	}
	select {
	case v.folds <- struct{}{}:
		defer func() { <-v.folds }()
	case <-ctx.Done():
		return ctx.Err()
	}
	fs := v.opts.FS
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	dir := fs.PathJoin(v.dataDir, asOfDirPrefix+hex.EncodeToString(rnd[:]))
	defer func() { _ = fs.RemoveAll(dir) }()
	db, err := pebble.Open(dir, v.pebbleOptions(true))
	if err != nil {
		return err
	}
	_, err = v.buildInto(ctx, db, d.checkpoint.Load(), asOf, nil)
	if err == nil {
		err = fn(db)
	}
	return errors.Join(err, db.Close())
}
