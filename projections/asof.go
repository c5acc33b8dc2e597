package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// asOfDirPrefix names the scratch databases of as-of population folds
// inside the data dir; Open removes leftovers.
const asOfDirPrefix = "asof-"

// Customer answers about one customer. With a zero asOf the answer is
// derived now (Options.Clock) from the stored state. Otherwise it is what
// the engine would have answered at asOf: the customer's events with time
// ≤ asOf (up to the views' checkpoint) and the referrals naming them are
// folded afresh in event-time order, and derived at asOf against the
// population at asOf (see populationAt). ErrNotFound: no events (at asOf).
func (v *Views) Customer(ctx context.Context, id string, asOf time.Time) (*Customer, error) {
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
		if pop.RFM, err = v.cachedRFM(ctx, d, time.Time{}, now); err != nil {
			return nil, err
		}
		return v.derive(e.st, now, &pop), nil
	}
	st, _, err := v.foldHistory(ctx, d.db, id, d.checkpoint.Load(), asOf)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, ErrNotFound
	}
	pop, err := v.populationAt(ctx, d, asOf)
	if err != nil {
		return nil, err
	}
	if !asOf.Before(d.meta.Load().maxTime) {
		// The stored states are the population at asOf.
		if pop.RFM, err = v.cachedRFM(ctx, d, asOf, asOf); err != nil {
			return nil, err
		}
	}
	return v.derive(st, asOf, &pop), nil
}

// rfmCacheTTL is how long the RFM quintiles of "now" answers are reused
// while the views move on.
const rfmCacheTTL = time.Minute

type rfmCache struct {
	d     *viewsDB
	cp    uint64
	at    time.Time // the as-of instant; zero for "now" answers
	built time.Time // wall clock
	sc    *RFMScorer
}

// cachedRFM returns the RFM quintiles of the stored states at now, for
// answers at asOf (zero: now answers, which reuse quintiles built less
// than rfmCacheTTL ago).
func (v *Views) cachedRFM(ctx context.Context, d *viewsDB, asOf, now time.Time) (*RFMScorer, error) {
	cp := d.checkpoint.Load()
	v.rfmMu.Lock()
	defer v.rfmMu.Unlock()
	c := v.rfm
	if c.d == d && c.at.Equal(asOf) && (c.cp == cp || (asOf.IsZero() && time.Since(c.built) < rfmCacheTTL)) {
		return c.sc, nil
	}
	sc, err := rfmScorer(ctx, d.db, now)
	if err != nil {
		return nil, err
	}
	v.rfm = rfmCache{d: d, cp: cp, at: asOf, built: time.Now(), sc: sc}
	return sc, nil
}

// populationAt is the population as it stood at asOf: the median gap over
// every customer's purchase days up to asOf's day (UTC), and the stored
// churn fit when its calibration ended by asOf (a fit made later did not
// exist then).
func (v *Views) populationAt(ctx context.Context, d *viewsDB, asOf time.Time) (Population, error) {
	m := d.meta.Load()
	var pop Population
	if f := m.pop.Churn; f != nil && !f.AsOf.After(asOf) {
		pop.Churn = f
	}
	if !asOf.Before(m.maxTime) {
		// Every event is at or before asOf: the stored histogram holds.
		pop.MedianGap = m.pop.MedianGap
		return pop, nil
	}
	// The median depends on asOf's day only: cached per day and checkpoint.
	day, cp := dayOf(asOf), d.checkpoint.Load()
	v.gapMu.Lock()
	defer v.gapMu.Unlock()
	if c := v.gapAt; c.d == d && c.cp == cp && c.day == day {
		pop.MedianGap = c.median
		return pop, nil
	}
	h := gapHist{}
	err := forEachState(ctx, d.db, func(_ string, e *entry) error {
		h.move(noGap, gapBucketAt(e.st, asOf))
		return nil
	})
	if err != nil {
		return Population{}, err
	}
	pop.MedianGap = h.median()
	v.gapAt = gapAtCache{d: d, cp: cp, day: day, median: pop.MedianGap}
	return pop, nil
}

// gapAtCache is the last median gap populationAt computed.
type gapAtCache struct {
	d      *viewsDB
	cp     uint64
	day    int64
	median time.Duration
}

// statesAt calls fn with a reader of the customer states as they stood at
// asOf (zero: the stored states). When some stored event is later than asOf, the
// population is folded afresh from the log into a scratch database (the
// rebuild's parallel fold, events with time ≤ asOf), which is deleted
// afterwards.
func (v *Views) statesAt(ctx context.Context, d *viewsDB, asOf time.Time, fn func(r pebble.Reader) error) error {
	if asOf.IsZero() || !asOf.Before(d.meta.Load().maxTime) {
		return fn(d.db)
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
