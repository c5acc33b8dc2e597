package eventstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
)

// fillLog appends n events (customers c0..c2) to a log at dir on fs and
// closes it.
func fillLog(t *testing.T, fs vfs.FS, dir string, n int) []*journey.Event {
	t.Helper()
	s, err := Open(dir, &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*journey.Event
	var reqs []Request
	for i := range n {
		ev := mkEvent(t, fmt.Sprintf("t-%03d", i+1), fmt.Sprintf("c%d", i%3), t0, "")
		evs = append(evs, ev)
		reqs = append(reqs, unchecked(ev))
	}
	appendOK(t, s, reqs...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// behindTheBack opens the Pebble database directly and lets fn change it.
func behindTheBack(t *testing.T, fs vfs.FS, dir string, fn func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(dir, PebbleOptions(fs, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func getRaw(t *testing.T, db *pebble.DB, key []byte) []byte {
	t.Helper()
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...)
}

func verifyAfter(t *testing.T, fs vfs.FS, dir string) VerifyReport {
	t.Helper()
	s, err := Open(dir, &Options{FS: fs, AllowDamaged: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Verify(context.Background(), nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *pebble.DB)
		bad    uint64
		reason string
	}{
		{"raw byte flipped", func(t *testing.T, db *pebble.DB) {
			v := getRaw(t, db, eventKey(nil, 5))
			i := bytes.Index(v, []byte(`"store"`))
			v[i+1] = 'S'
			db.Set(eventKey(nil, 5), v, pebble.Sync)
		}, 5, "hash mismatch"},
		{"record rewritten with a fresh hash", func(t *testing.T, db *pebble.DB) {
			// The forger recomputes record 5's own hash; record 6 no longer chains.
			v := getRaw(t, db, eventKey(nil, 5))
			prev := getRaw(t, db, eventKey(nil, 4))[:hashLen]
			i := bytes.Index(v, []byte(`"store"`))
			v[i+1] = 'S'
			h := sha256.Sum256(append(append([]byte(nil), prev...), v[hashLen:]...))
			copy(v, h[:])
			db.Set(eventKey(nil, 5), v, pebble.Sync)
		}, 6, "hash mismatch"},
		{"record deleted", func(t *testing.T, db *pebble.DB) {
			db.Delete(eventKey(nil, 4), pebble.Sync)
		}, 4, "missing"},
		{"last record deleted", func(t *testing.T, db *pebble.DB) {
			db.Delete(eventKey(nil, 10), pebble.Sync)
			db.Delete(idKey(nil, "t-010"), pebble.Sync)
			db.Delete(customerKey(nil, "c0", 4), pebble.Sync)
		}, 10, "records 10..10 are missing"}, // the chain alone cannot tell; the durable head record can
		{"id index redirected", func(t *testing.T, db *pebble.DB) {
			db.Set(idKey(nil, "t-006"), seqValue(7), pebble.Sync)
		}, 6, "id index"},
		{"customer index dropped", func(t *testing.T, db *pebble.DB) {
			db.Delete(customerKey(nil, "c1", 2), pebble.Sync) // record 5
		}, 5, "customer index"},
		{"extra id index entry", func(t *testing.T, db *pebble.DB) {
			db.Set(idKey(nil, "forged"), seqValue(3), pebble.Sync)
		}, 3, "points to sequence 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := vfs.NewMem()
			fillLog(t, fs, "log", 10)
			behindTheBack(t, fs, "log", func(db *pebble.DB) { c.tamper(t, db) })
			rep := verifyAfter(t, fs, "log")
			if rep.FirstBadSeq != c.bad || rep.OK != (c.bad == 0) || !strings.Contains(rep.Reason, c.reason) {
				t.Fatalf("Verify = %+v, want first bad %d (%q)", rep, c.bad, c.reason)
			}
		})
	}
}

// TestVerifyCorruptSSTable flips bytes of a record inside an sstable on
// disk: Pebble's block checksum reports corruption, and Verify names a
// sequence at or before the damaged record instead of panicking.
func TestVerifyCorruptSSTable(t *testing.T) {
	t.Run("middle", func(t *testing.T) { testCorruptSSTable(t, 2000) })
	// The last record: Open cannot read the head; appends are refused and
	// Verify still reports (the damaged block may also hold the first id
	// index entries, then sequence 1 is named: its index cannot be read).
	t.Run("head", func(t *testing.T) { testCorruptSSTable(t, 3000) })
}

func testCorruptSSTable(t *testing.T, target int) {
	dir := t.TempDir()
	fs := vfs.Default
	// Events with an incompressible marker so the bytes are findable in the
	// (compressed) sstable.
	s, err := Open(dir, &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var marker string
	var reqs []Request
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= n; i++ {
		noise := fmt.Sprintf("%016x%016x%016x", rng.Uint64(), rng.Uint64(), rng.Uint64())
		if i == target {
			marker = noise
		}
		raw, err := journey.NewEvent(fmt.Sprintf("sst-%d", i), "pos/x", journey.KindFeedback, fmt.Sprintf("c%d", i%50), t0,
			map[string]any{"csat": 4, "comment": noise})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := journey.Decode(raw, t0)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, unchecked(ev))
	}
	appendOK(t, s, reqs...)
	s.Close()
	behindTheBack(t, fs, dir, func(db *pebble.DB) {
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	flipped := false
	for _, f := range ssts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The compressor may split the marker; its first 12 bytes suffice.
		if m := []byte(marker[:12]); bytes.Count(b, m) == 1 {
			b[bytes.Index(b, m)+5] ^= 0x55
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			flipped = true
		}
	}
	if !flipped {
		t.Fatalf("marker of record %d not found in %d sstables", target, len(ssts))
	}
	if target == n {
		// An unreadable last record: Open refuses, naming it.
		if _, err := Open(dir, &Options{FS: fs}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "last record") {
			t.Fatalf("Open of a log whose last record is damaged = %v, want ErrDamaged naming the last record", err)
		}
	}
	s, err = Open(dir, &Options{FS: fs, AllowDamaged: true})
	if err != nil {
		t.Fatalf("Open of a log with a damaged block: %v", err)
	}
	defer s.Close()
	rep, err := s.Verify(context.Background(), nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.OK || rep.FirstBadSeq == 0 || rep.FirstBadSeq > uint64(target) || !strings.Contains(rep.Reason, "corruption") {
		t.Fatalf("Verify = %+v, want a corruption at or before %d", rep, target)
	}
	if rep.Events != rep.FirstBadSeq-1 {
		t.Fatalf("Verify counted %d good events before first bad %d", rep.Events, rep.FirstBadSeq)
	}
	t.Logf("verify: first bad %d: %s", rep.FirstBadSeq, rep.Reason)
	if target == n {
		_, err := s.Append(context.Background(), []Request{unchecked(mkEvent(t, "x", "c", t0, ""))})
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("Append on a log with an unreadable head = %v, want ErrDamaged", err)
		}
	}
	if target == n {
		return // the durable head is unknown, so reads stop at 0
	}
	// Reading the damaged range fails with an error too, not a panic.
	if err := s.Scan(context.Background(), 1, 0, func(*Record) error { return nil }); err == nil {
		t.Fatal("Scan over a corrupt block succeeded")
	}
}
