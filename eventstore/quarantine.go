package eventstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	journey "github.com/journey-cdp/journey"
)

// QuarantineEntry is rejected raw input kept with its reason.
type QuarantineEntry struct {
	Seq        uint64 // quarantine's own sequence, from 1
	ReceivedAt time.Time
	Code       journey.Code
	Field      string
	Reason     string // the full error message
	Origin     string // where it came from: "import", "nats:<subject>", "http", "request"
	Raw        []byte
}

// metaQuarantineSeq holds the highest quarantine sequence ever assigned.
var metaQuarantineSeq = []byte("m/qseq")

// prefixQuarantineHash indexes quarantine entries by the SHA-256 of their
// raw bytes, code and field (x/<32-byte digest> → qseq), so that the same
// input rejected by the same rule again (a file imported twice, a redelivered
// message) is kept once. An erased customer's entry has no bytes to tell
// it from another: its digest covers when and where it was received too,
// so each reception is an entry of its own (a count of what was refused,
// none of it collapsed into one).
var prefixQuarantineHash = []byte("x/")

func quarantineHashKey(e *QuarantineEntry) []byte {
	h := sha256.New()
	h.Write([]byte(e.Code))
	h.Write([]byte{0})
	h.Write([]byte(e.Field))
	h.Write([]byte{0})
	h.Write(e.Raw)
	if e.Code == journey.CodeErased && len(e.Raw) == 0 {
		h.Write([]byte{0})
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(e.ReceivedAt.UnixNano())))
		h.Write([]byte(e.Origin))
	}
	return h.Sum(append([]byte(nil), prefixQuarantineHash...))
}

// quarantineFormat is the first byte of every quarantine value.
const quarantineFormat byte = 1

// encodeQuarantine lays out a quarantine value: format u8, received_at
// unix nanos i64 be, then code, field, reason, origin as uvarint-length
// strings, then raw (the rest).
func encodeQuarantine(e *QuarantineEntry) []byte {
	n := 1 + 8 + len(e.Raw)
	for _, f := range []string{string(e.Code), e.Field, e.Reason, e.Origin} {
		n += uvarintLen(uint64(len(f))) + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, quarantineFormat)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ReceivedAt.UnixNano()))
	for _, f := range []string{string(e.Code), e.Field, e.Reason, e.Origin} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return append(b, e.Raw...)
}

func decodeQuarantine(seq uint64, v []byte, e *QuarantineEntry) error {
	if len(v) < 9 || v[0] != quarantineFormat {
		return errMalformed
	}
	*e = QuarantineEntry{Seq: seq, ReceivedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[1:]))).UTC()}
	b := v[9:]
	var fields [4][]byte
	for i := range fields {
		var ok bool
		if fields[i], b, ok = lenPrefixed(b); !ok {
			return errMalformed
		}
	}
	e.Code, e.Field, e.Reason, e.Origin = journey.Code(fields[0]), string(fields[1]), string(fields[2]), string(fields[3])
	e.Raw = append([]byte(nil), b...)
	return nil
}

// recoverQuarantine counts the entries and finds the last sequence.
func (s *Store) recoverQuarantine() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixQuarantine, UpperBound: prefixEnd(prefixQuarantine)})
	if err != nil {
		return err
	}
	defer it.Close()
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		n++
		if k := it.Key(); len(k) == len(prefixQuarantine)+8 {
			s.qSeq = max(s.qSeq, binary.BigEndian.Uint64(k[len(prefixQuarantine):]))
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	s.qCount.Store(n)
	v, closer, err := s.db.Get(metaQuarantineSeq)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	defer closer.Close()
	last, err := decodeSeqValue(v)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	s.qSeq = max(s.qSeq, last)
	return nil
}

// Quarantine keeps rejected input durably (fsynced) and returns its sequence.
// e.Seq is ignored (the store assigns it); a zero e.ReceivedAt is set from
// the store's clock. Input already in quarantine with the same bytes, code
// and field is kept once: its existing sequence is returned.
func (s *Store) Quarantine(ctx context.Context, e QuarantineEntry) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.readLock(); err != nil {
		return 0, err
	}
	defer s.readUnlock()
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = s.opts.Clock()
	}
	quarantineWithoutData(&e)
	val := encodeQuarantine(&e)
	hkey := quarantineHashKey(&e)
	s.qMu.Lock()
	defer s.qMu.Unlock()
	if v, closer, err := s.db.Get(hkey); err == nil {
		prev, derr := decodeSeqValue(v)
		closer.Close()
		if derr == nil {
			if _, c2, err := s.db.Get(quarantineKey(nil, prev)); err == nil {
				c2.Close()
				return prev, nil
			}
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return 0, fmt.Errorf("eventstore: quarantine: %w", err)
	}
	seq := s.qSeq + 1
	b := s.db.NewBatch()
	_ = b.Set(quarantineKey(nil, seq), val, nil)
	_ = b.Set(hkey, seqValue(seq), nil)
	if err := s.write(b); err != nil {
		return 0, fmt.Errorf("eventstore: quarantine: %w", err)
	}
	s.qSeq = seq
	s.qCount.Add(1)
	return seq, nil
}

// write commits b, the one write path beside the writer's batches: it
// refuses when the store has failed, and a failed write fails the store
// (Pebble's state after a failed WAL write or fsync is unknown).
func (s *Store) write(b *pebble.Batch) error {
	defer b.Close()
	if err := s.failure(); err != nil {
		return err
	}
	if err := guard(func() error { return b.Commit(s.writeOpts()) }); err != nil {
		return s.fail(err)
	}
	return nil
}

func (s *Store) writeOpts() *pebble.WriteOptions {
	if s.opts.NoSync {
		return pebble.NoSync
	}
	return pebble.Sync
}

// QuarantineScan calls fn for each entry, oldest first. An error from fn
// stops the scan and is returned.
func (s *Store) QuarantineScan(ctx context.Context, fn func(e *QuarantineEntry) error) error {
	if err := s.readLock(); err != nil {
		return err
	}
	defer s.readUnlock()
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefixQuarantine, UpperBound: prefixEnd(prefixQuarantine)})
	if err != nil {
		return err
	}
	defer it.Close()
	var e QuarantineEntry
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := it.Key()
		if len(k) != len(prefixQuarantine)+8 {
			return fmt.Errorf("eventstore: bad quarantine key %x", k)
		}
		seq := binary.BigEndian.Uint64(k[len(prefixQuarantine):])
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("eventstore: quarantine %d: %w", seq, err)
		}
		if err := decodeQuarantine(seq, v, &e); err != nil {
			return fmt.Errorf("eventstore: quarantine %d: %w", seq, err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return it.Error()
}

// QuarantineCount is the number of entries in quarantine.
func (s *Store) QuarantineCount() uint64 { return s.qCount.Load() }

// ErrNotQuarantined is returned by QuarantineDelete for an unknown sequence.
var ErrNotQuarantined = errors.New("eventstore: no such quarantine entry")

// QuarantineDelete removes an entry (after a successful retry).
func (s *Store) QuarantineDelete(seq uint64) error {
	if err := s.readLock(); err != nil {
		return err
	}
	defer s.readUnlock()
	s.qMu.Lock()
	defer s.qMu.Unlock()
	key := quarantineKey(nil, seq)
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("%w: %d", ErrNotQuarantined, seq)
	}
	if err != nil {
		return fmt.Errorf("eventstore: quarantine delete %d: %w", seq, err)
	}
	var e QuarantineEntry
	derr := decodeQuarantine(seq, v, &e)
	closer.Close()
	// Keep the highest sequence so that it is never reused after a reopen.
	b := s.db.NewBatch()
	_ = b.Delete(key, nil)
	if derr == nil {
		_ = b.Delete(quarantineHashKey(&e), nil)
	}
	_ = b.Set(metaQuarantineSeq, seqValue(s.qSeq), nil)
	if err := s.write(b); err != nil {
		return fmt.Errorf("eventstore: quarantine delete %d: %w", seq, err)
	}
	s.qCount.Add(^uint64(0))
	return nil
}
