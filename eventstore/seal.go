package eventstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/internal/sealing"
)

// A Sealer keeps each customer's events encrypted under that customer's
// own key (crypto-shredding; package keystore is the implementation).
// With one, a new log is sealed: every record's customer field and c/ index
// key carry Pseudonym(customer) instead of the id, and its event bytes are
// Seal(plaintext) where plaintext is the customer id and the event as
// received. The hash chain covers the stored (sealed) bytes, so Verify
// needs no keys.
type Sealer interface {
	// Pseudonym is the keyed pseudonym of a customer id: 1..128 bytes
	// without NUL, the same for the same id.
	Pseudonym(customer string) string
	// SealKey returns the customer's pseudonym and the key that seals
	// their events (created on first use). An erased customer's error has
	// a method Erased() bool that reports true.
	SealKey(customer string) (pseudonym string, key CustomerKey, err error)
	// Open appends the plaintext of sealed to dst; the same Erased()
	// error once the pseudonym's key was destroyed.
	Open(dst []byte, pseudonym []byte, ad, sealed []byte) ([]byte, error)
	// Sync makes the keys created so far durable; the store calls it
	// before committing the events sealed under them.
	Sync() error
}

// A CustomerKey seals one customer's events: Seal(dst, ad, plaintext)
// appends plaintext sealed with ad as associated data to dst. Sealing may
// be randomised (keystore's is): the log's idempotency compares a re-sent
// event with the stored one by opening it.
type CustomerKey = sealing.Key

// sealedFormat is the record format byte of a sealed record.
const sealedFormat byte = 2

// keySealed in the log marks a sealed log; written when the log is
// created with a Sealer, never removed.
var keySealed = []byte("m/sealed")

// ErrNoKeys: the log is sealed and the store was opened without its
// Sealer, so event contents cannot be read (Verify still works).
var ErrNoKeys = errors.New("the log is encrypted: open it with its master key (--master-key-file or $JOURNEY_MASTER_KEY)")

// isErased reports whether err is a Sealer's erased-customer error.
func isErased(err error) bool {
	var e interface{ Erased() bool }
	return errors.As(err, &e) && e.Erased()
}

// Sealed reports whether the log stores events encrypted per customer.
func (s *Store) Sealed() bool { return s.sealed }

// initSealed decides whether the log is sealed: it is when marked so; an
// empty log opened for writing with a Sealer becomes sealed. A sealed log
// opened without one reads as ErrNoKeys.
func (s *Store) initSealed(head uint64) error {
	_, closer, err := s.db.Get(keySealed)
	switch {
	case err == nil:
		closer.Close()
		s.sealed = true
	case !errors.Is(err, pebble.ErrNotFound):
		return err
	case head == 0 && s.opts.Sealer != nil && !s.opts.ReadOnly:
		if err := s.db.Set(keySealed, []byte{1}, pebble.Sync); err != nil {
			return err
		}
		s.sealed = true
	case s.opts.Sealer != nil:
		s.opts.Logger.Info("eventstore: the log was created unencrypted and stays so", "dir", s.dir)
	}
	if s.sealed && s.opts.Sealer != nil {
		s.sealer = s.opts.Sealer
	}
	return nil
}

// customerName is the customer field of c/ keys and records: the
// pseudonym in a sealed log.
func (s *Store) customerName(customer string) (string, error) {
	if !s.sealed {
		return customer, nil
	}
	if s.sealer == nil {
		return "", ErrNoKeys
	}
	return s.sealer.Pseudonym(customer), nil
}

// sealAD is the associated data of a sealed record: what identifies the
// event in its header (kind, pseudonym, id, event time), not where it sits
// in the log: a re-sent event opens the stored one under its own header.
func sealAD[T string | []byte](dst []byte, typ, pseudonym, id T, sec int64, nsec uint32) []byte {
	dst = append(dst, "journey-event-v1"...)
	for _, f := range [3]T{typ, pseudonym, id} {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(sec))
	return binary.BigEndian.AppendUint32(dst, nsec)
}

// sealRequests returns reqs with each event sealed for a sealed log (the
// callers' events untouched), and the refusals: an event of an erased
// customer is refused with journey.CodeErased.
func (s *Store) sealRequests(reqs []Request) ([]Request, error) {
	if s.sealer == nil {
		return nil, ErrNoKeys
	}
	out := make([]Request, len(reqs))
	evs := make([]journey.Event, len(reqs))
	parts := min(runtime.GOMAXPROCS(0), len(reqs)/sealPerGoroutine)
	if parts <= 1 {
		return out, s.sealRange(reqs, out, evs)
	}
	// A large call is sealed on every core: sealing (two HMACs and the
	// AEAD per event, a new key per new customer) costs more than the
	// writer's own work per event.
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		lo, hi := i*len(reqs)/parts, (i+1)*len(reqs)/parts
		wg.Go(func() { errs[i] = s.sealRange(reqs[lo:hi], out[lo:hi], evs[lo:hi]) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// sealPerGoroutine is the fewest events a sealing goroutine is given.
const sealPerGoroutine = 64

// sealRange seals reqs into out, the sealed events in evs.
func (s *Store) sealRange(reqs, out []Request, evs []journey.Event) error {
	// One buffer holds every sealed event of the range.
	n := 0
	for _, req := range reqs {
		if ev := req.Event; ev != nil {
			n += len(ev.Raw) + len(ev.Subject) + binary.MaxVarintLen64 + sealOverhead
		}
	}
	slab := make([]byte, 0, n)
	var ad, pt []byte
	for i, req := range reqs {
		out[i] = req
		ev := req.Event
		if ev == nil || req.erasure || checkRequest(&req) != nil {
			continue // the writer refuses it, or it is stored as it is
		}
		p, k, err := s.sealer.SealKey(ev.Subject)
		if err != nil {
			if isErased(err) {
				out[i].refused = &journey.Error{Code: journey.CodeErased, Field: "subject",
					Rule: "the customer was erased (journey forget): new events for this id are refused"}
				continue
			}
			return fmt.Errorf("eventstore: seal: %w", err)
		}
		ad = sealAD(ad[:0], string(ev.Type), p, ev.ID, ev.Time.Unix(), uint32(ev.Time.Nanosecond()))
		pt = binary.AppendUvarint(pt[:0], uint64(len(ev.Subject)))
		pt = append(pt, ev.Subject...)
		pt = append(pt, ev.Raw...)
		start := len(slab)
		slab = k.Seal(slab, ad, pt)
		evs[i] = *ev
		evs[i].Subject, evs[i].Raw = p, slab[start:len(slab):len(slab)]
		out[i].Event, out[i].plain = &evs[i], ev
	}
	return nil
}

// sealOverhead bounds what a CustomerKey's Seal adds to the plaintext
// (keystore's: 29 bytes); a larger one only costs the slab a reallocation.
const sealOverhead = 64

// unseal replaces a sealed view's customer and raw with the plaintext
// (in *buf), or marks it erased. Nothing to do for a plain record.
func (s *Store) unseal(v *recordView, buf *[]byte) error {
	if v.erasure {
		v.erased = true // raw: the note, for CustomerEvents
		return nil
	}
	if !v.sealed {
		return nil
	}
	if s.sealer == nil {
		return ErrNoKeys
	}
	ad := sealAD((*buf)[:0], v.typ, v.customer, v.id, v.eventSec, v.eventNsec)
	n := len(ad)
	out, err := s.sealer.Open(ad, v.customer, ad, v.raw)
	*buf = out
	if err != nil {
		if isErased(err) {
			v.erased, v.raw = true, nil
			return nil
		}
		var lost interface{ KeyMissing() bool }
		if errors.As(err, &lost) && lost.KeyMissing() {
			// The chain is intact (verify says so); the key store is not.
			return fmt.Errorf("eventstore: record %d: %w", v.seq, err)
		}
		return fmt.Errorf("eventstore: record %d: %w; run verify", v.seq, err)
	}
	pt := out[n:]
	l, k := binary.Uvarint(pt)
	if k <= 0 || l > uint64(len(pt)-k) {
		return fmt.Errorf("eventstore: record %d: %w", v.seq, errMalformed)
	}
	v.customer, v.raw = pt[k:k+int(l)], pt[k+int(l):]
	return nil
}
