package projections

import "context"

// Compact compacts the current views database in full, so that reads
// timed afterwards (`journey bench asof`) neither pay for nor race with
// the compactions a large catch-up left behind.
func (v *Views) Compact(ctx context.Context) error {
	d, err := v.acquire()
	if err != nil {
		return err
	}
	defer d.use.RUnlock()
	return d.db.Compact(ctx, []byte{0}, []byte{0xff}, true)
}
