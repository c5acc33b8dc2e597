package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	journey "github.com/journey-cdp/journey"
)

// erasureFormat is the record format byte of an erasure record: plain
// (unsealed), its customer field the pseudonym, its raw bytes an
// ErasureNote. It holds no personal data.
const erasureFormat byte = 3

// KindCustomerErased is the type of an erasure record. It is not a
// touchpoint and not in the vocabulary: readers of the whole log (Scan,
// ScanRaw, ReadSeqs) see it as Erased with no bytes, like the records it
// erased; CustomerEvents returns it with its note.
const KindCustomerErased journey.Kind = "customer_erased"

// ErasureNote is the content of an erasure record.
type ErasureNote struct {
	Type     string    `json:"type"` // "customer_erased"
	ErasedAt time.Time `json:"erased_at"`
	Reason   string    `json:"reason"`
}

// A KeyEraser is a Sealer that tells whether a pseudonym's key was
// destroyed, and when and why (keystore.Store).
type KeyEraser interface {
	KeyErased(pseudonym string) (erasedAt time.Time, reason string, erased bool, err error)
}

// A Destroyer is a Sealer that can destroy a pseudonym's key for good
// (keystore.Store), returning when and why it was destroyed first.
type Destroyer interface {
	DestroyKey(pseudonym, reason string) (erasedAt time.Time, firstReason string, err error)
}

// ForgetReport says what Forget did.
type ForgetReport struct {
	Seq        uint64    `json:"seq"`        // the erasure record's sequence
	Events     int       `json:"events"`     // the customer's records now unreadable
	Quarantine int       `json:"quarantine"` // quarantine entries of the customer deleted
	ErasedAt   time.Time `json:"erased_at"`
	Reason     string    `json:"reason"`
	Again      bool      `json:"again,omitempty"` // the customer was already erased: the rest completed
}

// ErrNotSealed: Forget needs a sealed log; a plaintext one cannot forget a
// customer without breaking its chain.
var ErrNotSealed = errors.New("the log is not encrypted (created without keys): a customer cannot be forgotten without breaking the chain")

// Forget erases a customer by crypto-shredding: it destroys their key
// (first, so that nothing of theirs decrypts from then on), appends an
// erasure record (when, why; no personal data), deletes their quarantine
// entries, and forces the log's memtable out and compacts the quarantine
// range so that no plaintext of theirs stays in the log's files. Their
// records stay in the chain, so Verify still passes. A Forget cut short
// (a crash) is completed by calling it again; one that completed is a
// no-op that reports Again.
func (s *Store) Forget(ctx context.Context, customer, reason string) (ForgetReport, error) {
	if !s.sealed {
		return ForgetReport{}, ErrNotSealed
	}
	if s.sealer == nil {
		return ForgetReport{}, ErrNoKeys
	}
	d, ok := s.sealer.(Destroyer)
	if !ok {
		return ForgetReport{}, errors.New("eventstore: the log's Sealer cannot destroy keys")
	}
	if err := s.failure(); err != nil {
		// The erasure record could not be appended: destroy nothing.
		return ForgetReport{}, err
	}
	p := s.sealer.Pseudonym(customer)
	seqs, err := s.CustomerSeqs(ctx, customer)
	if err != nil {
		return ForgetReport{}, err
	}
	// A copy of the key the log still carries goes first (synced), and
	// again once the erasure record is in (a batch in flight may have
	// carried it meanwhile); the purge below takes its bytes out.
	if err := s.dropCarried(p); err != nil {
		return ForgetReport{}, err
	}
	at, why, err := d.DestroyKey(p, reason)
	if err != nil {
		return ForgetReport{}, fmt.Errorf("eventstore: destroy the key: %w", err)
	}
	// The note is made from the first destruction's time and reason (the
	// reason of a re-run is not taken), so a re-run appends the same
	// bytes: a duplicate.
	note := ErasureNote{Type: string(KindCustomerErased), ErasedAt: at.UTC(), Reason: why}
	rep := ForgetReport{Events: len(seqs), ErasedAt: note.ErasedAt, Reason: why}
	raw, err := json.Marshal(note)
	if err != nil {
		return rep, err
	}
	ev := &journey.Event{ID: "erased:" + p, Type: KindCustomerErased, Subject: p, Time: note.ErasedAt, Raw: raw}
	res, err := s.append(ctx, []Request{{Event: ev, ExpectedVersion: AnyVersion, erasure: true}}, nil)
	if err != nil {
		return rep, err
	}
	if res[0].Err != nil {
		return rep, fmt.Errorf("eventstore: erasure record: %w", res[0].Err)
	}
	rep.Seq, rep.Again = res[0].Seq, res[0].Duplicate
	if rep.Again {
		rep.Events-- // the erasure record itself is among the seqs
	}
	if err := s.dropCarried(p); err != nil {
		return rep, err
	}
	if rep.Quarantine, err = s.forgetQuarantine(ctx, customer); err != nil {
		return rep, err
	}
	if err := s.purge(ctx, prefixQuarantine, prefixCarried); err != nil {
		return rep, err
	}
	return rep, nil
}

// forgetQuarantine deletes the quarantine entries whose event names the
// customer as its subject.
func (s *Store) forgetQuarantine(ctx context.Context, customer string) (int, error) {
	var seqs []uint64
	err := s.QuarantineScan(ctx, func(e *QuarantineEntry) error {
		var head struct {
			Subject string `json:"subject"`
		}
		if json.Unmarshal(e.Raw, &head) == nil && head.Subject == customer ||
			bytes.Contains(e.Raw, []byte(`"subject":"`+customer+`"`)) {
			seqs = append(seqs, e.Seq)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, q := range seqs {
		if err := s.QuarantineDelete(q); err != nil && !errors.Is(err, ErrNotQuarantined) {
			return 0, err
		}
	}
	return len(seqs), nil
}

// purge flushes the memtable (its WAL becomes obsolete) and compacts the
// ranges of the prefixes, so that deleted values are gone from the
// sstables.
func (s *Store) purge(ctx context.Context, prefixes ...[]byte) error {
	if err := s.readLock(); err != nil {
		return err
	}
	defer s.readUnlock()
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("eventstore: flush: %w", err)
	}
	// A compaction that reads a corrupt table fails and is retried for
	// ever, and ours would wait behind it: stop waiting once one did.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.damaged:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, prefix := range prefixes {
		if err := s.db.Compact(ctx, prefix, prefixEnd(prefix), false); err != nil {
			if isCorruption(err) {
				return s.corrupt(err, "the compaction of a forget")
			}
			select {
			case <-s.damaged:
				return s.failure()
			default:
			}
			return fmt.Errorf("eventstore: compact: %w", err)
		}
	}
	// Pebble keeps obsolete WALs for reuse (a few); each flush starts a
	// new WAL in the oldest kept one, which the sealed log's file system
	// removes first (freshwal): enough flushes and the WAL that held the
	// deleted values is gone.
	for range walsKept + 1 {
		if err := s.db.Flush(); err != nil {
			return fmt.Errorf("eventstore: flush: %w", err)
		}
	}
	return nil
}

// dropCarried deletes the log's copy of a pseudonym's key, synced (a
// no-op when the log carries none).
func (s *Store) dropCarried(pseudonym string) error {
	if s.carry == nil {
		return nil
	}
	if err := guard(func() error { return s.db.Delete(carriedKey(pseudonym), pebble.Sync) }); err != nil {
		return fmt.Errorf("eventstore: drop the carried key: %w", err)
	}
	return nil
}

// walsKept bounds the obsolete WALs Pebble keeps for reuse
// (MemTableStopWritesThreshold + 1).
const walsKept = 5

// quarantineWithoutData drops the bytes of an entry refused because its
// customer was erased: kept, without their data.
func quarantineWithoutData(e *QuarantineEntry) {
	if e.Code == journey.CodeErased {
		e.Raw = nil
	}
}

// Erasure returns the customer's erasure note, nil when they were never
// forgotten.
func (s *Store) Erasure(ctx context.Context, customer string) (*ErasureNote, error) {
	if !s.sealed {
		return nil, nil
	}
	v, err := s.CustomerVersion(customer)
	if err != nil || v == 0 {
		return nil, err
	}
	recs, err := s.CustomerEvents(ctx, customer, v-1, 1)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || recs[0].Type != KindCustomerErased {
		// A forget cut short (or still running) after the key's
		// destruction and before its erasure record: the key store
		// says when and why.
		if k, ok := s.sealer.(KeyEraser); ok {
			at, why, erased, err := k.KeyErased(s.sealer.Pseudonym(customer))
			if err != nil || !erased {
				return nil, err
			}
			return &ErasureNote{Type: string(KindCustomerErased), ErasedAt: at, Reason: why}, nil
		}
		return nil, nil
	}
	var n ErasureNote
	if err := json.Unmarshal(recs[0].Raw, &n); err != nil {
		return nil, fmt.Errorf("eventstore: erasure record %d: %w", recs[0].Seq, err)
	}
	return &n, nil
}
