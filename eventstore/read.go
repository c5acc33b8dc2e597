package eventstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	journey "github.com/journey-cdp/journey"
)

// Record is one stored event with the engine's own record.
type Record struct {
	Seq        uint64
	Version    uint64 // per-customer, from 1
	RecordedAt time.Time
	EventTime  time.Time
	ID         string
	Customer   string
	Type       journey.Kind
	Raw        []byte // the event's bytes exactly as received
	Hash       [32]byte
	// Erased: the record is sealed under a customer key that was destroyed
	// (journey forget); Raw is nil and Customer "". It stays in the chain.
	Erased bool
}

// Scan calls fn for records from..to inclusive (to 0: up to DurableSeq) in
// sequence order. rec and its slices are valid only during the call.
// A to beyond DurableSeq is cut back to it: readers never see a record
// before its fsync. An error from fn stops the scan and is returned. fn may
// call the store's other reads, but not Close (which waits for the scan).
func (s *Store) Scan(ctx context.Context, from, to uint64, fn func(rec *Record) error) error {
	var rec Record
	return s.scan(ctx, from, to, func(v *recordView) error {
		if v.erased {
			v.raw = nil // an erasure record's note is for CustomerEvents
		}
		v.fill(&rec, false)
		return fn(&rec)
	})
}

// RawRecord is a record as ScanRaw hands it over: every slice aliases the
// stored value and is valid only during the call.
type RawRecord struct {
	Seq       uint64
	EventSec  int64 // event time, Unix seconds (UTC)
	EventNsec int32
	Type      journey.Kind
	Customer  []byte
	Raw       []byte // the event's bytes exactly as received
	Hash      []byte // the chain hash after this record
	Erased    bool   // sealed under a destroyed key: Raw and Customer are nil (see Record.Erased)
}

// ScanRaw is Scan for readers of the whole log (rebuilds): it allocates
// nothing per record.
func (s *Store) ScanRaw(ctx context.Context, from, to uint64, fn func(rec *RawRecord) error) error {
	var rec RawRecord
	return s.scan(ctx, from, to, func(v *recordView) error {
		v.fillRaw(&rec)
		return fn(&rec)
	})
}

func (s *Store) scan(ctx context.Context, from, to uint64, fn func(v *recordView) error) error {
	if err := s.readLock(); err != nil {
		return err
	}
	defer s.readUnlock()
	durable := s.durable.Load()
	if to == 0 || to > durable {
		to = durable
	}
	if from == 0 {
		from = 1
	}
	if from > to {
		return nil
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: eventKey(nil, from),
		UpperBound: eventKey(nil, to+1),
	})
	if err != nil {
		return err
	}
	defer it.Close()
	var (
		view recordView
		want = from
		buf  []byte
	)
	for ok := it.First(); ok; ok = it.Next() {
		if want&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		seq, _ := seqFromEventKey(it.Key())
		if seq != want {
			return fmt.Errorf("eventstore: record %d missing (found %d); run verify", want, seq)
		}
		if err := s.recordAt(it, seq, &view, &buf, fn); err != nil {
			return err
		}
		want++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("eventstore: scan at %d: %w", want, err)
	}
	if want != to+1 {
		return fmt.Errorf("eventstore: record %d missing; run verify", want)
	}
	return nil
}

// CustomerEvents returns up to limit (0: all) of the customer's records
// with version > afterVersion, oldest first. Records past DurableSeq are
// not returned.
func (s *Store) CustomerEvents(ctx context.Context, customer string, afterVersion uint64, limit int) ([]Record, error) {
	var recs []Record
	err := s.withIter(ctx, func(it *pebble.Iterator) error {
		// First the customer's index entries, then the records, on one view.
		seqs, err := s.customerSeqs(it, customer, afterVersion, limit)
		if err != nil || len(seqs) == 0 {
			return err
		}
		recs = make([]Record, 0, len(seqs))
		return s.readSeqs(it, seqs, func(v *recordView) error {
			if v.erased {
				recs = append(recs, Record{})
				v.fill(&recs[len(recs)-1], true)
				return nil
			}
			if string(v.customer) != customer {
				return fmt.Errorf("eventstore: customer %q: record %d does not match its index; run verify", customer, v.seq)
			}
			recs = append(recs, Record{})
			v.fill(&recs[len(recs)-1], true)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// withIter calls fn with an iterator over the store, under the read lock.
func (s *Store) withIter(ctx context.Context, fn func(it *pebble.Iterator) error) error {
	if err := s.readLock(); err != nil {
		return err
	}
	defer s.readUnlock()
	it, err := s.db.NewIterWithContext(ctx, nil)
	if err != nil {
		return err
	}
	return errors.Join(fn(it), it.Close())
}

// CustomerSeqs returns the log sequences of the customer's records, oldest
// first, up to DurableSeq (see ReadSeqs).
func (s *Store) CustomerSeqs(ctx context.Context, customer string) (seqs []uint64, err error) {
	err = s.withIter(ctx, func(it *pebble.Iterator) error {
		seqs, err = s.customerSeqs(it, customer, 0, 0)
		return err
	})
	return seqs, err
}

// ReadSeqs calls fn for the records at seqs, which must ascend and be at
// most DurableSeq, in that order, with one iterator moving forward: the
// way to read the histories of many customers at once (their sequences
// merged), each block of the log read once. rec and its slices are valid
// only during the call.
func (s *Store) ReadSeqs(ctx context.Context, seqs []uint64, fn func(rec *RawRecord) error) error {
	if len(seqs) == 0 {
		return nil
	}
	if !slices.IsSorted(seqs) {
		return errors.New("eventstore: ReadSeqs needs ascending sequences")
	}
	if last := seqs[len(seqs)-1]; last > s.durable.Load() {
		return fmt.Errorf("eventstore: record %d is past the durable position", last)
	}
	var rec RawRecord
	return s.withIter(ctx, func(it *pebble.Iterator) error {
		return s.readSeqs(it, seqs, func(v *recordView) error {
			v.fillRaw(&rec)
			return fn(&rec)
		})
	})
}

// customerSeqs reads the customer's index entries after afterVersion (at
// most limit, 0: all) up to the durable position.
func (s *Store) customerSeqs(it *pebble.Iterator, customer string, afterVersion uint64, limit int) ([]uint64, error) {
	durable := s.durable.Load()
	name, err := s.customerName(customer)
	if err != nil {
		return nil, err
	}
	lower, upper := customerBounds(name)
	it.SetBounds(lower, upper)
	var seqs []uint64
	start := customerKey(nil, name, afterVersion+1)
	for ok := it.SeekGE(start); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("eventstore: customer %q index: %w", customer, err)
		}
		seq, err := decodeSeqValue(v)
		if err != nil {
			return nil, fmt.Errorf("eventstore: customer %q index: %w", customer, err)
		}
		if seq > durable {
			break
		}
		seqs = append(seqs, seq)
		if limit > 0 && len(seqs) == limit {
			break
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("eventstore: customer %q index: %w", customer, err)
	}
	return seqs, nil
}

// readSeqs positions it on each of the ascending seqs in turn and hands fn
// the parsed record.
func (s *Store) readSeqs(it *pebble.Iterator, seqs []uint64, fn func(v *recordView) error) error {
	it.SetBounds(eventKey(nil, seqs[0]), eventKey(nil, seqs[len(seqs)-1]+1))
	var (
		key  []byte
		view recordView
		buf  []byte
	)
	for _, seq := range seqs {
		key = eventKey(key[:0], seq)
		if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
			if err := it.Error(); err != nil {
				return fmt.Errorf("eventstore: read record %d: %w", seq, err)
			}
			return fmt.Errorf("eventstore: record %d missing; run verify", seq)
		}
		if err := s.recordAt(it, seq, &view, &buf, fn); err != nil {
			return err
		}
	}
	return nil
}

// CustomerVersion is the customer's current durable version (0: no events).
func (s *Store) CustomerVersion(customer string) (uint64, error) {
	if err := s.readLock(); err != nil {
		return 0, err
	}
	defer s.readUnlock()
	durable := s.durable.Load()
	name, err := s.customerName(customer)
	if err != nil {
		return 0, err
	}
	lower, upper := customerBounds(name)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		v, err := it.ValueAndErr()
		if err != nil {
			return 0, fmt.Errorf("eventstore: customer %q index: %w", customer, err)
		}
		seq, err := decodeSeqValue(v)
		if err != nil {
			return 0, fmt.Errorf("eventstore: customer %q index: %w", customer, err)
		}
		if seq <= durable {
			return binary.BigEndian.Uint64(it.Key()[len(lower):]), nil
		}
	}
	return 0, it.Error()
}

// Get returns the record with event id, found false when none (or when it
// is not yet durable). rec.Raw is the caller's own copy.
func (s *Store) Get(id string) (rec Record, found bool, err error) {
	if err := s.readLock(); err != nil {
		return rec, false, err
	}
	defer s.readUnlock()
	durable := s.durable.Load()
	v, closer, err := s.db.Get(idKey(nil, id))
	if err == pebble.ErrNotFound {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("eventstore: get %q: %w", id, err)
	}
	seq, err := decodeSeqValue(v)
	closer.Close()
	if err != nil {
		return rec, false, fmt.Errorf("eventstore: get %q: %w", id, err)
	}
	if seq > durable {
		return rec, false, nil
	}
	v, closer, err = s.db.Get(eventKey(nil, seq))
	if err != nil {
		return rec, false, fmt.Errorf("eventstore: get %q: record %d: %w", id, seq, err)
	}
	defer closer.Close()
	var (
		view recordView
		buf  []byte
	)
	if err := parseRecord(v, &view); err != nil || view.seq != seq || string(view.id) != id {
		return rec, false, fmt.Errorf("eventstore: get %q: record %d does not match the id index; run verify", id, seq)
	}
	if err := s.unseal(&view, &buf); err != nil {
		return rec, false, err
	}
	view.fill(&rec, true)
	return rec, true, nil
}

// recordAt parses the record under it, which must be seq's, into view,
// unseals it (buf is scratch space) and hands it to fn.
func (s *Store) recordAt(it *pebble.Iterator, seq uint64, view *recordView, buf *[]byte, fn func(v *recordView) error) error {
	v, err := it.ValueAndErr()
	if err != nil {
		return fmt.Errorf("eventstore: read record %d: %w", seq, err)
	}
	if err := parseRecord(v, view); err != nil || view.seq != seq {
		return fmt.Errorf("eventstore: record %d: %w; run verify", seq, errMalformed)
	}
	if err := s.unseal(view, buf); err != nil {
		return err
	}
	return fn(view)
}
