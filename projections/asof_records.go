package projections

import (
	"context"
	"time"
)

// AsOfRecords is the number of the customer's log records that an answer
// as of asOf (Customer) reads: the events after the fold snapshot it
// starts from, or the whole history up to asOf without one. `journey
// bench asof` reports its mean as records_read.
func (v *Views) AsOfRecords(ctx context.Context, id string, asOf time.Time) (int, error) {
	d, err := v.acquire()
	if err != nil {
		return 0, err
	}
	defer d.use.RUnlock()
	_, _, n, err := v.foldHistoryN(ctx, d.db, id, d.checkpoint.Load(), asOf.UTC())
	return n, err
}
