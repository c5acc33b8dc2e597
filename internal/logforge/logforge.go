// Package logforge rewrites a stopped engine's log the way an operator
// with write access to the data dir could, for the tests of signed
// checkpoints (checkpoint, journey verify --since): the edited records
// are written to a new log with the store's own code, every hash
// recomputed and the durable head record consistent, and the new log
// takes the old one's place. The log's own chain then verifies; only a
// checkpoint signed before the rewrite can tell. Tests only.
package logforge

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/keystore"
)

// Record is one record as the forger handles it: the event as received
// and the time the engine recorded it (kept, so that the records the
// forger leaves alone come out byte for byte, with the same hashes).
type Record struct {
	Raw        []byte
	RecordedAt time.Time
}

// Read returns the records of the log at dir (opened read-only; sealer
// nil for a plaintext log).
func Read(dir string, sealer eventstore.Sealer) ([]Record, error) {
	s, err := eventstore.Open(dir, &eventstore.Options{ReadOnly: true, Sealer: sealer})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var recs []Record
	err = s.Scan(context.Background(), 1, 0, func(r *eventstore.Record) error {
		recs = append(recs, Record{Raw: append([]byte(nil), r.Raw...), RecordedAt: r.RecordedAt})
		return nil
	})
	return recs, err
}

// RewriteDataDir is Rewrite of a data dir's log, with its keys when it is
// encrypted (an operator holds the master key: here the data dir's own,
// or $JOURNEY_MASTER_KEY). Sealing is randomised, so the forger keeps
// the sealed bytes it read and writes them again for the records it
// leaves alone (see replaySealer), as a careful forger would.
func RewriteDataDir(dataDir string, edit func([]Record) []Record) error {
	keys, err := keystore.OpenDataDir(dataDir, keystore.DataDirOptions{})
	if err != nil {
		return fmt.Errorf("logforge: %w", err)
	}
	var sealer eventstore.Sealer
	if keys != nil {
		defer keys.Close()
		sealer = keys
	}
	return Rewrite(filepath.Join(dataDir, "log"), sealer, edit)
}

// Rewrite replaces the log at dir by one holding edit(records): every
// record re-chained from the first (sealer nil for a plaintext log).
func Rewrite(dir string, sealer eventstore.Sealer, edit func([]Record) []Record) error {
	if sealer != nil {
		sealer = &replaySealer{Sealer: sealer, stored: map[string][]byte{}}
	}
	recs, err := Read(dir, sealer)
	if err != nil {
		return fmt.Errorf("logforge: read %s: %w", dir, err)
	}
	recs = edit(recs)
	tmp := dir + ".forged"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	var now time.Time
	s, err := eventstore.Open(tmp, &eventstore.Options{Clock: func() time.Time { return now }, NoSync: true, MinFreeBytes: -1, Sealer: sealer})
	if err != nil {
		return fmt.Errorf("logforge: %w", err)
	}
	for i, r := range recs {
		ev, err := journey.DecodeStored(r.Raw)
		if err != nil {
			_ = s.Close()
			return fmt.Errorf("logforge: record %d: %w", i+1, err)
		}
		now = r.RecordedAt
		res, err := s.Append(context.Background(), []eventstore.Request{{Event: ev, ExpectedVersion: eventstore.AnyVersion}})
		if err == nil && res[0].Err != nil {
			err = res[0].Err
		}
		if err == nil && res[0].Duplicate {
			err = fmt.Errorf("id %q is there already", ev.ID)
		}
		if err != nil {
			_ = s.Close()
			return fmt.Errorf("logforge: append record %d: %w", i+1, err)
		}
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("logforge: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// Change is an edit that replaces record k's (1-based) event by change(raw).
func Change(k int, change func(raw []byte) []byte) func([]Record) []Record {
	return func(recs []Record) []Record {
		recs[k-1].Raw = change(recs[k-1].Raw)
		return recs
	}
}

// Truncate is an edit that keeps the first n records.
func Truncate(n int) func([]Record) []Record {
	return func(recs []Record) []Record { return recs[:n] }
}

// Swap is an edit that exchanges the events of records i and j (1-based),
// each keeping its recording time.
func Swap(i, j int) func([]Record) []Record {
	return func(recs []Record) []Record {
		recs[i-1].Raw, recs[j-1].Raw = recs[j-1].Raw, recs[i-1].Raw
		return recs
	}
}

// replaySealer remembers the sealed bytes of every record it opens, and
// seals the same content under the same header to those bytes again: a
// record the forger leaves alone keeps its stored bytes and hash.
type replaySealer struct {
	eventstore.Sealer
	stored map[string][]byte // header and plaintext → sealed bytes
}

func memoKey(pseudonym, ad, plaintext []byte) string {
	return fmt.Sprintf("%d:%s|%d:%s|%s", len(pseudonym), pseudonym, len(ad), ad, plaintext)
}

func (r *replaySealer) Open(dst, pseudonym, ad, sealed []byte) ([]byte, error) {
	n := len(dst)
	out, err := r.Sealer.Open(dst, pseudonym, ad, sealed)
	if err == nil {
		r.stored[memoKey(pseudonym, ad, out[n:])] = bytes.Clone(sealed)
	}
	return out, err
}

func (r *replaySealer) SealKey(customer string) (string, eventstore.CustomerKey, error) {
	p, k, err := r.Sealer.SealKey(customer)
	if err != nil {
		return p, k, err
	}
	return p, replayKey{k: k, p: p, stored: r.stored}, nil
}

type replayKey struct {
	k      eventstore.CustomerKey
	p      string
	stored map[string][]byte
}

func (k replayKey) Seal(dst, ad, plaintext []byte) []byte {
	if b, ok := k.stored[memoKey([]byte(k.p), ad, plaintext)]; ok {
		return append(dst, b...)
	}
	return k.k.Seal(dst, ad, plaintext)
}
