package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// RecordHashes calls fn with the stored chain hash of each of the
// ascending seqs, all at most DurableSeq. It reads only the hash that
// heads each record, never the event, so it needs no keys on a sealed log
// and works for an erased customer's records (their stored bytes, which
// the chain covers, do not change). A missing record is an error naming
// it. Signed checkpoints (package checkpoint) use it for their anchors;
// what the hashes chain to is Verify's business.
func (s *Store) RecordHashes(ctx context.Context, seqs []uint64, fn func(seq uint64, hash [32]byte) error) error {
	if len(seqs) == 0 {
		return nil
	}
	if !slices.IsSorted(seqs) {
		return errors.New("eventstore: RecordHashes needs ascending sequences")
	}
	if last := seqs[len(seqs)-1]; last > s.durable.Load() {
		return fmt.Errorf("eventstore: record %d is past the durable position %d", last, s.durable.Load())
	}
	if err := s.readLock(); err != nil {
		return err
	}
	defer s.readUnlock()
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: eventKey(nil, seqs[0]), UpperBound: eventKey(nil, seqs[len(seqs)-1]+1)})
	if err != nil {
		return err
	}
	defer it.Close()
	var (
		key  []byte
		hash [32]byte
	)
	for _, seq := range seqs {
		if err := ctx.Err(); err != nil {
			return err
		}
		key = eventKey(key[:0], seq)
		if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
			if err := it.Error(); err != nil {
				return fmt.Errorf("eventstore: read record %d: %w", seq, err)
			}
			return fmt.Errorf("eventstore: record %d missing; run verify", seq)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("eventstore: read record %d: %w", seq, err)
		}
		if len(v) < hashLen+fixedBodyLen {
			return fmt.Errorf("eventstore: record %d: %w; run verify", seq, errMalformed)
		}
		copy(hash[:], v[:hashLen])
		if err := fn(seq, hash); err != nil {
			return err
		}
	}
	return nil
}
