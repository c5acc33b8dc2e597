package eventstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/journey-cdp/journey/internal/keyspace"

	journey "github.com/journey-cdp/journey"
)

// Key prefixes of the log database (see doc.go for the layout).
var (
	prefixEvent      = []byte("e/")
	prefixCustomer   = []byte("c/")
	prefixID         = []byte("i/")
	prefixQuarantine = []byte("q/")
)

// recordFormat is the first byte of every record body.
const recordFormat byte = 1

// hashLen is the size of a record's hash, SHA-256.
const hashLen = 32

// fixedBodyLen is the fixed part of a record body: format, seq, version,
// recorded_at (unix nanos), event time (unix seconds + nanos).
const fixedBodyLen = 1 + 8 + 8 + 8 + 8 + 4

func eventKey(dst []byte, seq uint64) []byte {
	dst = append(dst, prefixEvent...)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// seqFromEventKey parses an e/ key; ok false when k is not one.
func seqFromEventKey(k []byte) (uint64, bool) {
	if len(k) != len(prefixEvent)+8 || !bytes.HasPrefix(k, prefixEvent) {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(prefixEvent):]), true
}

func customerKey(dst []byte, customer string, version uint64) []byte {
	dst = append(dst, prefixCustomer...)
	dst = append(dst, customer...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, version)
}

// customerBounds are the iterator bounds of one customer's c/ keys.
func customerBounds(customer string) (lower, upper []byte) {
	lower = append(append(append([]byte(nil), prefixCustomer...), customer...), 0)
	upper = append(append(append([]byte(nil), prefixCustomer...), customer...), 1)
	return lower, upper
}

func idKey(dst []byte, id string) []byte {
	dst = append(dst, prefixID...)
	return append(dst, id...)
}

func quarantineKey(dst []byte, seq uint64) []byte {
	dst = append(dst, prefixQuarantine...)
	return binary.BigEndian.AppendUint64(dst, seq)
}

func seqValue(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func decodeSeqValue(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("index value is %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// prefixEnd is the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte { return keyspace.PrefixEnd(p) }

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// recordLen is the length of the stored value of ev's record.
func recordLen(ev *journey.Event) int {
	return hashLen + fixedBodyLen +
		uvarintLen(uint64(len(ev.Type))) + len(ev.Type) +
		uvarintLen(uint64(len(ev.Subject))) + len(ev.Subject) +
		uvarintLen(uint64(len(ev.ID))) + len(ev.ID) +
		len(ev.Raw)
}

// putBody writes the record body of ev into dst, which must be exactly
// recordLen(ev)-hashLen bytes long.
func putBody(dst []byte, format byte, seq, version uint64, recordedAt int64, ev *journey.Event) {
	dst[0] = format
	binary.BigEndian.PutUint64(dst[1:], seq)
	binary.BigEndian.PutUint64(dst[9:], version)
	binary.BigEndian.PutUint64(dst[17:], uint64(recordedAt))
	binary.BigEndian.PutUint64(dst[25:], uint64(ev.Time.Unix()))
	binary.BigEndian.PutUint32(dst[33:], uint32(ev.Time.Nanosecond()))
	n := fixedBodyLen
	n += binary.PutUvarint(dst[n:], uint64(len(ev.Type)))
	n += copy(dst[n:], ev.Type)
	n += binary.PutUvarint(dst[n:], uint64(len(ev.Subject)))
	n += copy(dst[n:], ev.Subject)
	n += binary.PutUvarint(dst[n:], uint64(len(ev.ID)))
	n += copy(dst[n:], ev.ID)
	copy(dst[n:], ev.Raw)
}

// errMalformed marks a record value that does not parse.
var errMalformed = errors.New("malformed record")

// recordView is a parsed record whose byte slices alias the stored value.
type recordView struct {
	hash       []byte
	body       []byte
	seq        uint64
	version    uint64
	recordedAt int64
	eventSec   int64
	eventNsec  uint32
	typ        []byte
	customer   []byte
	id         []byte
	raw        []byte
	sealed     bool // format 2: customer is the pseudonym, raw sealed (unseal opens it)
	erasure    bool // format 3: Forget's erasure record, raw its ErasureNote
	erased     bool // sealed under a destroyed key: raw is nil
}

func parseRecord(v []byte, r *recordView) error {
	if len(v) < hashLen+fixedBodyLen {
		return errMalformed
	}
	if f := v[hashLen]; f != recordFormat && f != sealedFormat && f != erasureFormat {
		return errMalformed
	}
	r.sealed, r.erasure, r.erased = v[hashLen] == sealedFormat, v[hashLen] == erasureFormat, false
	r.hash, r.body = v[:hashLen], v[hashLen:]
	b := r.body
	r.seq = binary.BigEndian.Uint64(b[1:])
	r.version = binary.BigEndian.Uint64(b[9:])
	r.recordedAt = int64(binary.BigEndian.Uint64(b[17:]))
	r.eventSec = int64(binary.BigEndian.Uint64(b[25:]))
	r.eventNsec = binary.BigEndian.Uint32(b[33:])
	b = b[fixedBodyLen:]
	var ok bool
	if r.typ, b, ok = lenPrefixed(b); !ok {
		return errMalformed
	}
	if r.customer, b, ok = lenPrefixed(b); !ok {
		return errMalformed
	}
	if r.id, b, ok = lenPrefixed(b); !ok {
		return errMalformed
	}
	r.raw = b
	return nil
}

func lenPrefixed(b []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// kindOf returns the Kind of b without allocating for known kinds.
func kindOf(b []byte) journey.Kind {
	if k, ok := journey.KindOf(b); ok {
		return k
	}
	return journey.Kind(b)
}

// fillRaw sets rec from r, every slice aliasing the stored value.
func (r *recordView) fillRaw(rec *RawRecord) {
	*rec = RawRecord{Seq: r.seq, EventSec: r.eventSec, EventNsec: int32(r.eventNsec), Type: kindOf(r.typ),
		Customer: r.customer, Raw: r.raw, Hash: r.hash, Erased: r.erased}
	if r.erased {
		rec.Customer, rec.Raw = nil, nil
	}
}

// fill sets rec from r. Raw aliases the stored value unless copyRaw.
func (r *recordView) fill(rec *Record, copyRaw bool) {
	rec.Seq = r.seq
	rec.Version = r.version
	rec.RecordedAt = time.Unix(0, r.recordedAt).UTC()
	rec.EventTime = time.Unix(r.eventSec, int64(r.eventNsec)).UTC()
	rec.Type = kindOf(r.typ)
	rec.Customer = string(r.customer)
	rec.ID = string(r.id)
	rec.Erased = r.erased
	if r.erased {
		rec.Customer = ""
	}
	if copyRaw {
		rec.Raw = append([]byte(nil), r.raw...)
	} else {
		rec.Raw = r.raw
	}
	copy(rec.Hash[:], r.hash)
}
