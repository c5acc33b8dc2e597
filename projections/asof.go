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
		pop := d.meta.Load().pop
		return v.derive(e.st, v.now(), &pop), nil
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
	return v.derive(st, asOf, &pop), nil
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
	h := gapHist{}
	err := forEachState(ctx, d.db, func(_ string, e *entry) error {
		h.move(noGap, gapBucketAt(e.st, asOf))
		return nil
	})
	if err != nil {
		return Population{}, err
	}
	pop.MedianGap = h.median()
	return pop, nil
}

// statesAt calls fn for every customer state as it stood at asOf (zero:
// the stored states). When some stored event is later than asOf, the
// population is folded afresh from the log into a scratch database (the
// rebuild's parallel fold, events with time ≤ asOf), which is deleted
// afterwards.
func (v *Views) statesAt(ctx context.Context, d *viewsDB, asOf time.Time, fn func(customer string, e *entry) error) error {
	if asOf.IsZero() || !asOf.Before(d.meta.Load().maxTime) {
		return forEachState(ctx, d.db, fn)
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
		err = forEachState(ctx, db, fn)
	}
	return errors.Join(err, db.Close())
}
