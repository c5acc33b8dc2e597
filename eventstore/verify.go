package eventstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// VerifyReport is the outcome of walking the hash chain.
type VerifyReport struct {
	OK          bool
	Events      uint64
	Head        [32]byte
	FirstBadSeq uint64 // 0 when OK
	Reason      string // why FirstBadSeq failed
	Encrypted   bool   // the log is sealed per customer (Sealed); verified without keys
}

// Verify walks the whole hash chain; progress (may be nil) is called now and then.
//
// It walks e/ in sequence order up to the durable head (the whole log when
// the head could not be read at Open) and checks, for every record: the
// sequence is the next one (no gap), the record parses and names its own
// sequence, its hash is SHA-256(previous hash || body), and the i/ and c/
// index entries for its id and customer version point back to it. Then it
// checks that the indexes hold no other entries. The first failure is
// reported as FirstBadSeq with a Reason; a corruption error from Pebble
// while reading names the sequence after the last good record. The
// returned error is for the walk itself (ctx, closed store), not for a
// damaged log.
func (s *Store) Verify(ctx context.Context, progress func(seq uint64)) (rep VerifyReport, err error) {
	if err := s.readLock(); err != nil {
		return rep, err
	}
	defer s.readUnlock()
	v := verifier{s: s, ctx: ctx, progress: progress}
	defer func() {
		// Pebble may panic on some damaged blocks; a damaged log is a report.
		if r := recover(); r != nil {
			v.bad(v.want, fmt.Sprintf("pebble panicked reading the log: %v", r))
			rep, err = v.report(), nil
		}
	}()
	if err := v.walk(); err != nil {
		return v.report(), err
	}
	if v.firstBad == 0 {
		if err := v.checkIndexes(); err != nil {
			return v.report(), err
		}
	}
	return v.report(), nil
}

type verifier struct {
	s        *Store
	ctx      context.Context
	progress func(uint64)

	want     uint64 // next expected sequence
	events   uint64 // records verified
	head     [32]byte
	firstBad uint64
	reason   string
}

func (v *verifier) bad(seq uint64, reason string) {
	if v.firstBad == 0 || seq < v.firstBad {
		v.firstBad, v.reason = seq, reason
	}
}

func (v *verifier) report() VerifyReport {
	return VerifyReport{OK: v.firstBad == 0, Events: v.events, Head: v.head, FirstBadSeq: v.firstBad, Reason: v.reason, Encrypted: v.s.sealed}
}

func describe(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if isCorruption(err) {
		return "pebble reports corruption: " + strings.TrimPrefix(msg, "pebble: ")
	}
	return msg
}

// describeFile is a corruption error's first line without Pebble's
// prefix, its file named as on disk ("file 000010" is 000010.sst).
func describeFile(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	msg = strings.TrimPrefix(msg, "pebble: ")
	if rest, ok := strings.CutPrefix(msg, "file "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok && num != "" && strings.Trim(num, "0123456789") == "" {
			msg = num + ".sst: " + tail
		}
	}
	return msg
}

func (v *verifier) walk() error {
	s := v.s
	upper := prefixEnd(prefixEvent)
	durable := s.durable.Load()
	if !errors.Is(s.failure(), ErrDamaged) {
		upper = eventKey(nil, durable+1)
	}
	it, err := s.db.NewIterWithContext(v.ctx, &pebble.IterOptions{LowerBound: prefixEvent, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	idx, err := s.db.NewIterWithContext(v.ctx, nil)
	if err != nil {
		return err
	}
	defer idx.Close()

	h := sha256.New()
	var (
		view recordView
		sum  [32]byte
		key  []byte
	)
	v.want = 1
	for ok := it.First(); ok; ok = it.Next() {
		if v.want&4095 == 0 {
			if err := v.ctx.Err(); err != nil {
				return err
			}
			if v.progress != nil {
				v.progress(v.want)
			}
		}
		seq, isEvent := seqFromEventKey(it.Key())
		switch {
		case !isEvent:
			v.bad(v.want, fmt.Sprintf("unexpected key %x in the event keyspace", it.Key()))
			return nil
		case seq != v.want:
			v.bad(v.want, fmt.Sprintf("record %d is missing (the next record is %d)", v.want, seq))
			return nil
		}
		val, err := it.ValueAndErr()
		if err != nil {
			v.bad(seq, "cannot read the record: "+describe(err))
			return nil
		}
		if err := parseRecord(val, &view); err != nil {
			v.bad(seq, "the record does not parse")
			return nil
		}
		if view.seq != seq {
			v.bad(seq, fmt.Sprintf("the record names sequence %d", view.seq))
			return nil
		}
		h.Reset()
		h.Write(v.head[:])
		h.Write(view.body)
		h.Sum(sum[:0])
		if !bytes.Equal(sum[:], view.hash) {
			v.bad(seq, "hash mismatch: the record or its predecessor was altered")
			return nil
		}
		// The indexes point back to the record.
		key = idKey(key[:0], string(view.id))
		if reason := indexPointsTo(idx, key, seq, true); reason != "" {
			v.bad(seq, fmt.Sprintf("id index for %q: %s", view.id, reason))
			return nil
		}
		key = customerKey(key[:0], string(view.customer), view.version)
		if reason := indexPointsTo(idx, key, seq, false); reason != "" {
			v.bad(seq, fmt.Sprintf("customer index for %q version %d: %s", view.customer, view.version, reason))
			return nil
		}
		if s.headKnown && seq == s.headRec.seq && sum != s.headRec.hash {
			v.bad(seq, fmt.Sprintf("hash %x differs from the durable head record's %x: the log was rewritten or damaged", sum[:8], s.headRec.hash[:8]))
			return nil
		}
		v.head = sum
		v.events++
		v.want++
	}
	if err := it.Error(); err != nil {
		if isCorruption(err) {
			v.bad(v.want, "after the last good record: "+describe(err))
			return nil
		}
		return err
	}
	if v.want <= durable {
		v.bad(v.want, fmt.Sprintf("record %d is missing (the durable head is %d)", v.want, durable))
	}
	if s.headKnown && v.want <= s.headRec.seq {
		v.bad(v.want, fmt.Sprintf("records %d..%d are missing: the log ends at %d, but its durable head record (%s) says %d were fsynced and acknowledged",
			v.want, s.headRec.seq, v.want-1, HeadFileName, s.headRec.seq))
	}
	if !s.headKnown && s.headErr != "" {
		v.bad(v.want, s.headErr)
	}
	return nil
}

// indexPointsTo checks that key holds seq; "" when it does.
func indexPointsTo(it *pebble.Iterator, key []byte, seq uint64, prefix bool) string {
	var ok bool
	if prefix {
		ok = it.SeekPrefixGE(key)
	} else {
		ok = it.SeekGE(key)
	}
	if !ok || !bytes.Equal(it.Key(), key) {
		if err := it.Error(); err != nil {
			return describe(err)
		}
		return "missing"
	}
	val, err := it.ValueAndErr()
	if err != nil {
		return describe(err)
	}
	got, err := decodeSeqValue(val)
	if err != nil {
		return err.Error()
	}
	if got != seq {
		return fmt.Sprintf("points to %d", got)
	}
	return ""
}

// checkIndexes finds index entries that no record owns: each record's own
// entries were checked by walk, so a count above the number of records
// means extra entries, which a second pass names.
func (v *verifier) checkIndexes() error {
	for _, prefix := range [][]byte{prefixID, prefixCustomer} {
		n, err := v.countIndex(prefix, nil)
		if err != nil {
			return err
		}
		if n == v.events {
			continue
		}
		if _, err := v.countIndex(prefix, v.checkEntry); err != nil {
			return err
		}
		if v.firstBad == 0 {
			v.bad(v.events, fmt.Sprintf("index %s has %d entries for %d records", prefix, n, v.events))
		}
	}
	return nil
}

// countIndex counts the entries of an index that point into the verified
// log, calling check (if not nil) for each.
func (v *verifier) countIndex(prefix []byte, check func(key []byte, seq uint64)) (uint64, error) {
	it, err := v.s.db.NewIterWithContext(v.ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		val, err := it.ValueAndErr()
		if err != nil {
			v.bad(v.events+1, fmt.Sprintf("index %s: %s", prefix, describe(err)))
			return n, nil
		}
		seq, err := decodeSeqValue(val)
		if err != nil {
			v.bad(v.events+1, fmt.Sprintf("index %s entry %q: %v", prefix, it.Key(), err))
			return n, nil
		}
		if seq > v.events {
			continue // past the verified head (a concurrent append)
		}
		n++
		if check != nil {
			check(it.Key(), seq)
		}
	}
	if err := it.Error(); err != nil {
		if isCorruption(err) {
			v.bad(v.events+1, fmt.Sprintf("index %s: %s", prefix, describe(err)))
			return n, nil
		}
		return n, err
	}
	return n, nil
}

// checkEntry checks that the record at seq owns index entry key.
func (v *verifier) checkEntry(key []byte, seq uint64) {
	val, closer, err := v.s.db.Get(eventKey(nil, seq))
	if err != nil {
		v.bad(seq, fmt.Sprintf("index entry %q: %s", key, describe(err)))
		return
	}
	defer closer.Close()
	var view recordView
	if parseRecord(val, &view) != nil {
		v.bad(seq, fmt.Sprintf("index entry %q: record does not parse", key))
		return
	}
	var own []byte
	if bytes.HasPrefix(key, prefixID) {
		own = idKey(nil, string(view.id))
	} else {
		own = customerKey(nil, string(view.customer), view.version)
	}
	if !bytes.Equal(own, key) {
		v.bad(seq, fmt.Sprintf("index entry %q points to sequence %d, which is %q", key, seq, own))
	}
}
