package projections

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
)

// Fold snapshots
//
// An as-of answer folds the customer's history up to T. To bound what it
// reads, the live projection keeps, per customer, snapshots of the folded
// state every snapshotEvery events:
//
//	"s/" customer 0x00 time(12) seq(8)  →  State.MarshalBinary without referral marks
//
// time is the event time of the event just folded (sortable: Unix seconds
// with the sign bit flipped, then nanoseconds) and seq the highest log
// sequence folded (State.LastSeq). The live projection writes a snapshot,
// in the batch of the state update, only when that event is the
// customer's newest in event time (not late), so the snapshot is the fold
// of exactly the customer's events with seq ≤ its seq, all of which have
// time ≤ its time. A late event (time tl) deletes,
// in its batch, the customer's snapshots with time ≥ tl. So every stored
// snapshot (t, s) satisfies: every event of the customer with seq > s has
// (time, seq) > (t, s), i.e. comes after the snapshot in event-time order.
//
// Referral marks carry their own time and are applied order-independently:
// a snapshot holds none (ReferredBy/At/Seq cleared), and every fold applies
// readMarks(asOf) after the events, as a fold from scratch does.
//
// The as-of fold at T (views checkpoint cp) takes the newest snapshot S1
// with time ≤ T and seq ≤ cp, and the oldest snapshot S2 with time > T if
// any: it folds S1 then the customer's events with seq in (S1.seq,
// min(S2.seq, cp)] and time ≤ T, in event-time order. Events after S2 are
// all later than S2's time > T. No S1: the whole history.
//
// A rebuild (and the parallel catch-up of fresh views) folds in its own
// order; it then writes the snapshots of the customers with snapshotEvery
// events or more from a second read of their histories
// (backfillSnapshots), at the points where the invariant holds. Snapshots
// are an index: no answer depends on them, only an as-of answer's cost.

// snapshotEvery is the number of a customer's events between fold
// snapshots (0: none); tests lower it.
var snapshotEvery = 128

var prefixSnap = []byte("s/")

// snapPrefix is the prefix of customer's snapshot keys.
func snapPrefix(customer string) []byte {
	k := make([]byte, 0, len(prefixSnap)+len(customer)+21)
	return append(append(append(k, prefixSnap...), customer...), 0)
}

// appendSnapTime appends t in an order-preserving form.
func appendSnapTime(k []byte, t time.Time) []byte {
	k = binary.BigEndian.AppendUint64(k, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(k, uint32(t.Nanosecond()))
}

func snapKey(customer string, t time.Time, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendSnapTime(snapPrefix(customer), t), seq)
}

// decodeSnapKey returns the position of a snapshot key with prefix p.
func decodeSnapKey(p, k []byte) (t time.Time, seq uint64, ok bool) {
	if len(k) != len(p)+20 {
		return time.Time{}, 0, false
	}
	k = k[len(p):]
	sec := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	nsec := binary.BigEndian.Uint32(k[8:])
	return time.Unix(sec, int64(nsec)).UTC(), binary.BigEndian.Uint64(k[12:]), true
}

// putSnapshot writes the snapshot of st (without its referral mark) at
// (t, st.LastSeq) into w: t is the time of the last event folded in
// event-time order, LastSeq the highest log sequence folded.
func putSnapshot(w *pebble.Batch, st *customer.State, t time.Time) error {
	seq := st.LastSeq
	by, at, bs := st.ReferredBy, st.ReferredAt, st.ReferredSeq
	st.ReferredBy, st.ReferredAt, st.ReferredSeq = "", time.Time{}, 0
	b, err := st.AppendBinary(make([]byte, 0, st.EncodedSizeHint()))
	st.ReferredBy, st.ReferredAt, st.ReferredSeq = by, at, bs
	if err != nil {
		return err
	}
	return w.Set(snapKey(st.Customer, t, seq), b, nil)
}

// dropSnapshots deletes customer's snapshots with time ≥ from.
func dropSnapshots(w *pebble.Batch, customer string, from time.Time) error {
	p := snapPrefix(customer)
	return w.DeleteRange(appendSnapTime(p, from), prefixEnd(p), nil)
}

// snapshotAt finds the fold snapshot for an as-of fold at asOf over the
// customer's events seqs (ascending, all ≤ maxSeq): the newest snapshot
// with time ≤ asOf and seq ≤ maxSeq, decoded, and the range [lo, hi) of
// seqs still to read (the events after the oldest snapshot later than
// asOf are all later than asOf). No snapshot at or before asOf: nil.
func snapshotAt(r pebble.Reader, id string, seqs []uint64, maxSeq uint64, asOf time.Time) (st *customer.State, lo, hi int, err error) {
	lo, hi = 0, len(seqs)
	p := snapPrefix(id)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, 0, 0, err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	after := binary.BigEndian.AppendUint64(appendSnapTime(slices.Clip(p), asOf), math.MaxUint64)
	after = append(after, 0) // past every key with time ≤ asOf
	// The oldest snapshot later than asOf bounds what is to read.
	if it.SeekGE(after) {
		if _, s2, ok := decodeSnapKey(p, it.Key()); ok {
			hi, _ = slices.BinarySearch(seqs, s2+1)
		}
	}
	for valid := it.SeekLT(after); valid; valid = it.Prev() {
		_, s1, ok := decodeSnapKey(p, it.Key())
		if !ok || s1 > maxSeq {
			continue
		}
		i, found := slices.BinarySearch(seqs, s1)
		if !found || i+1 > hi {
			return nil, 0, len(seqs), nil // not the customer's event, or out of order: fold it all
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, 0, 0, err
		}
		st = customer.NewState(id)
		if err := st.UnmarshalBinary(v); err != nil {
			return nil, 0, len(seqs), nil // e.g. an older format: fold it all
		}
		return st, i + 1, hi, nil
	}
	// No snapshot at or before asOf: the history up to the next one.
	return nil, 0, hi, it.Error()
}

// backfillSnapshots writes the fold snapshots of the customers of db (the
// views folded up to target by a rebuild, which applies events in its own
// order) that have snapshotEvery events or more: each such customer's
// history is read again and folded in event-time order, and a snapshot is
// written after every snapshotEvery-th event where the events folded so
// far are exactly the customer's events up to that one's seq (so that the
// invariant of the live projection's snapshots holds, see the top of this
// file).
func (v *Views) backfillSnapshots(ctx context.Context, db *pebble.DB, target uint64) error {
	k := snapshotEvery
	if k <= 0 {
		return nil
	}
	var ids []string
	err := forEachState(ctx, db, func(c string, e *entry) error {
		if e.st.Events >= k {
			ids = append(ids, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	b := db.NewBatch()
	defer b.Close()
	type item struct {
		t   time.Time
		seq uint64
		ev  *journey.Event
	}
	for _, c := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		seqs, err := v.log.CustomerSeqs(ctx, c)
		if err != nil {
			return fmt.Errorf("projections: history of %q: %w", c, err)
		}
		if n, _ := slices.BinarySearch(seqs, target+1); n < len(seqs) {
			seqs = seqs[:n]
		}
		var items []item
		var bySeq []uint64 // the decoded events' seqs, ascending
		err = v.log.ReadSeqs(ctx, seqs, func(r *eventstore.RawRecord) error {
			ev, err := journey.DecodeStored(r.Raw)
			if err != nil {
				return nil // skipped, as everywhere
			}
			ev.Raw = nil
			items = append(items, item{t: ev.Time, seq: r.Seq, ev: ev})
			bySeq = append(bySeq, r.Seq)
			return nil
		})
		if err != nil {
			return fmt.Errorf("projections: history of %q: %w", c, err)
		}
		slices.SortFunc(items, func(a, b item) int {
			if c := a.t.Compare(b.t); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		st := customer.NewState(c)
		var top uint64
		for i, it := range items {
			st.Apply(it.ev, it.seq)
			top = max(top, it.seq)
			if st.Events%k == 0 && top == bySeq[i] {
				if err := putSnapshot(b, st, it.t); err != nil { // st.LastSeq == top
					return err
				}
			}
		}
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			b.Reset()
		}
	}
	return b.Commit(pebble.NoSync)
}
