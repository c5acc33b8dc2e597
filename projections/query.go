package projections

import (
	"context"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
)

// Customers calls fn for every customer's answer at asOf (zero: now), in
// customer id order: the stored states derived now, or the population as
// it stood at asOf (see Segmentation). With rfm the answers carry their RFM
// scores (one more pass over the states). fn must not keep the Customer's
// State beyond the call if it modifies it. For `journey export --what
// customers`.
// With a stored cluster model (journey clusters fit) each answer carries
// its cluster.
func (v *Views) Customers(ctx context.Context, asOf time.Time, rfm bool, fn func(c *customer.Answer) error) error {
	cm, err := v.Clusters()
	if err != nil {
		return err
	}
	return v.withPopulation(ctx, asOf, rfm, func(r pebble.Reader, at time.Time, pop *customer.Population) error {
		return forEachState(ctx, r, func(_ string, e *entry) error {
			c := v.derive(e.st, at, pop)
			if cm != nil {
				if n := clusterOf(cm, c); n != NoCluster {
					c.Cluster = n
				}
			}
			return fn(c)
		})
	})
}

// CustomerCount is the number of customer states in the views.
func (v *Views) CustomerCount(ctx context.Context) (int, error) {
	d, err := v.acquire()
	if err != nil {
		return 0, err
	}
	defer d.use.RUnlock()
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: prefixState, UpperBound: prefixEnd(prefixState)})
	if err != nil {
		return 0, err
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
		if n%4096 == 0 && ctx.Err() != nil {
			_ = it.Close()
			return 0, ctx.Err()
		}
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return 0, err
	}
	return n, it.Close()
}
