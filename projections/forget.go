package projections

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
)

// keyPurged is written by Forget only to make the views' files turn over.
var keyPurged = []byte("m/purged")

// Forget removes a forgotten customer (eventstore.Store.Forget) from the
// views: their state, as-of snapshots and referral marks, the marks they
// made on others, and their share of the gap histogram, in one batch;
// then it forces those bytes out of the views' files (flush, compaction
// of the ranges, WAL rotation). A rebuild gives the same views, since the
// log's records of the customer no longer decrypt. It reports whether the
// customer had a state.
func (v *Views) Forget(ctx context.Context, id string) (bool, error) {
	v.applyMu.Lock()
	defer v.applyMu.Unlock()
	d, err := v.acquire()
	if err != nil {
		return false, err
	}
	defer d.use.RUnlock()
	e, err := loadEntry(d.db, id)
	if err != nil {
		return false, err
	}
	b := d.db.NewBatch()
	defer b.Close()
	_ = b.Delete(stateKey(id), nil)
	if err := deleteTraits(d.db, b, id); err != nil {
		return false, err
	}
	ranges := [][2][]byte{
		{markKey(id, 0)[:len(prefixMark)+len(id)+1], prefixEnd(markKey(id, 0)[:len(prefixMark)+len(id)+1])},
		{snapPrefix(id), prefixEnd(snapPrefix(id))},
	}
	// Point deletions, not range ones: a range tombstone's end key (which
	// holds the id) would stay behind as a table bound.
	for _, r := range ranges {
		it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: r[0], UpperBound: r[1]})
		if err != nil {
			return false, err
		}
		for it.First(); it.Valid(); it.Next() {
			_ = b.Delete(bytes.Clone(it.Key()), nil)
		}
		if err := it.Close(); err != nil {
			return false, err
		}
	}
	// The marks the customer made on others hold their id as By.
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: prefixMark, UpperBound: prefixEnd(prefixMark)})
	if err != nil {
		return false, err
	}
	for it.First(); it.Valid(); it.Next() {
		if val := it.Value(); len(val) >= len(id) && bytes.Equal(val[len(val)-len(id):], []byte(id)) {
			_ = b.Delete(bytes.Clone(it.Key()), nil)
		}
	}
	if err := it.Close(); err != nil {
		return false, err
	}
	meta := d.meta.Load()
	nm := &dbMeta{pop: meta.pop, gaps: meta.gaps.Clone(), maxTime: meta.maxTime}
	if e != nil {
		nm.gaps.Move(e.stored, customer.NoGap)
		nm.gaps.Clean()
		nm.pop.MedianGap = nm.gaps.Median()
	}
	hash, err := d.checkpointHash()
	if err != nil {
		return false, err
	}
	if err := writeMeta(b, d.checkpoint.Load(), hash, nm); err != nil {
		return false, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return false, fmt.Errorf("projections: forget: %w", err)
	}
	d.meta.Store(nm)
	delete(d.recent, id)
	v.pops.mu.Lock() // population snapshots counted the customer
	v.pops.entries, v.pops.bytes = nil, 0
	v.pops.mu.Unlock()
	// Out of the files: flush (the WAL rotates; freshwal removes reused
	// ones), compact the customer's ranges, rotate past the kept WALs.
	if err := d.db.Flush(); err != nil {
		return e != nil, err
	}
	for _, r := range append(ranges, [2][]byte{prefixMark, prefixEnd(prefixMark)}, [2][]byte{stateKey(id), prefixEnd(stateKey(id))},
		[2][]byte{prefixTrait, prefixEnd(prefixTrait)}) {
		if err := d.db.Compact(ctx, r[0], r[1], false); err != nil {
			return e != nil, fmt.Errorf("projections: forget: compact: %w", err)
		}
	}
	// Each flush of a write is a change, which rewrites the MANIFEST
	// (MaxManifestFileSize 1) from the current tables; Pebble keeps one
	// previous MANIFEST and a few obsolete WALs: rotate past them.
	for i := range 6 {
		if err := d.db.Set(keyPurged, []byte{byte(i)}, pebble.NoSync); err != nil {
			return e != nil, err
		}
		if err := d.db.Flush(); err != nil {
			return e != nil, err
		}
	}
	return e != nil, nil
}

// Log is the event log the views follow.
func (v *Views) Log() *eventstore.Store { return v.log }
