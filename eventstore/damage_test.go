package eventstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// fillOSLog appends n events in batches of batch to a log in dir, on the OS
// file system, and closes it. It returns the head it acknowledged.
func fillOSLog(t *testing.T, dir string, n, batch int) uint64 {
	t.Helper()
	s, err := Open(dir, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += batch {
		var reqs []Request
		for j := i; j < min(n, i+batch); j++ {
			reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("ev-%06d", j), fmt.Sprintf("c%d", j%97), t0.Add(time.Duration(j)*time.Minute), "12.50")))
		}
		res, err := s.Append(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	head := s.DurableSeq()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return head
}

// filesOf lists dir's files whose names end in suffix (or start with it
// when prefix), sorted.
func filesOf(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// flipByte xors one byte of file at off.
func flipByte(t *testing.T, file string, off int64) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if off >= int64(len(b)) {
		t.Fatalf("%s has %d bytes, cannot flip %d", file, len(b), off)
	}
	b[off] ^= 0x5a
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantDamaged checks that Open refuses the log with ErrDamaged and that
// Verify (AllowDamaged) does not say ok and names a first bad sequence no
// later than the first missing one.
func wantDamaged(t *testing.T, dir string, acked uint64) {
	t.Helper()
	_, err := Open(dir, &Options{MinFreeBytes: -1})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a damaged log = %v, want ErrDamaged", err)
	}
	var de *DamageError
	if !errors.As(err, &de) {
		t.Fatalf("Open error %T is not a *DamageError", err)
	}
	t.Logf("Open: %v", err)
	s, err := Open(dir, &Options{MinFreeBytes: -1, AllowDamaged: true})
	if errors.Is(err, ErrDamaged) {
		return // Pebble itself cannot open it: verify reports that error
	}
	if err != nil {
		t.Fatalf("Open with AllowDamaged: %v", err)
	}
	defer s.Close()
	rep, err := s.Verify(context.Background(), nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.OK {
		t.Fatalf("Verify says ok with %d of %d acknowledged events", rep.Events, acked)
	}
	if rep.FirstBadSeq == 0 || rep.FirstBadSeq > acked {
		t.Fatalf("Verify first bad %d, want within 1..%d", rep.FirstBadSeq, acked)
	}
	if _, err := s.Append(context.Background(), []Request{unchecked(mkEvent(t, "after-damage", "c", t0, ""))}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Append on a damaged log = %v, want ErrDamaged", err)
	}
	t.Logf("Verify: first bad %d: %s", rep.FirstBadSeq, rep.Reason)
}

// TestDamagedWALIsNotOK flips one byte in the middle of the newest WAL of
// a closed log (its events were fsynced and acknowledged but not yet
// flushed): Pebble replays the WAL up to the damage and no further. Open
// must refuse the shorter log naming the missing range, Verify must not
// say ok, and the damaged WAL must still be on disk.
func TestDamagedWALIsNotOK(t *testing.T) {
	for _, tc := range []struct {
		name string
		last int // events of the last Append, one WAL record spanning many blocks
		frac int64
	}{
		{"last-record", 1500, 50}, // Pebble takes the damage for a torn tail
		{"middle", 0, 50},         // Pebble sees later chunks: a corruption error
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			acked := fillOSLog(t, dir, 2000, 50)
			var before int64
			if tc.last > 0 {
				wals := filesOf(t, dir, "*.log")
				fi, err := os.Stat(wals[len(wals)-1])
				if err != nil {
					t.Fatal(err)
				}
				before = fi.Size()
				acked = appendMore(t, dir, tc.last)
			}
			wals := filesOf(t, dir, "*.log")
			wal := wals[len(wals)-1]
			fi, err := os.Stat(wal)
			if err != nil {
				t.Fatal(err)
			}
			flipByte(t, wal, before+(fi.Size()-before)*tc.frac/100)
			_, err = Open(dir, &Options{MinFreeBytes: -1})
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("Open after a damaged WAL = %v, want ErrDamaged", err)
			}
			var de *DamageError
			if errors.As(err, &de) && de.DurableSeq > 0 {
				from, to := de.MissingRange()
				if to != acked || from == 0 || from > acked {
					t.Fatalf("missing range %d..%d, want ..%d", from, to, acked)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("records %d..%d are missing", from, to)) {
					t.Fatalf("Open error does not name the missing range: %v", err)
				}
			}
			wantDamaged(t, dir, acked)
			// The damaged WAL is kept (in place or in the archive), never deleted.
			if _, err := os.Stat(wal); err != nil {
				if _, err := os.Stat(filepath.Join(dir, ArchiveDirName, filepath.Base(wal))); err != nil {
					t.Fatalf("the damaged WAL %s is gone", filepath.Base(wal))
				}
			}
		})
	}
}

// appendMore appends n events in one call to the closed log in dir and
// closes it again, returning the head.
func appendMore(t *testing.T, dir string, n int) uint64 {
	t.Helper()
	s, err := Open(dir, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []Request
	for j := range n {
		reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("more-%06d", j), fmt.Sprintf("c%d", j%97), t0, "1.00")))
	}
	if _, err := s.Append(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	head := s.DurableSeq()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return head
}

// appendDamagingWAL appends n events to the closed log in dir (appendMore)
// and flips a byte in the middle of what they added to its newest WAL, so
// that Pebble's replay ends there and loses acknowledged records. It
// returns the head that was acknowledged.
func appendDamagingWAL(t *testing.T, dir string, n int) uint64 {
	t.Helper()
	wals := filesOf(t, dir, "*.log")
	fi, err := os.Stat(wals[len(wals)-1])
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()
	acked := appendMore(t, dir, n)
	wals = filesOf(t, dir, "*.log")
	if fi, err = os.Stat(wals[len(wals)-1]); err != nil {
		t.Fatal(err)
	}
	flipByte(t, wals[len(wals)-1], before+(fi.Size()-before)/2)
	return acked
}

// TestDamagedManifestDeletesNothing flips one byte of the current MANIFEST
// at several offsets of a log whose events are in sstables. Whatever Pebble
// makes of it, no sstable may be deleted, and the log must not open as a
// shorter one: Open refuses (or fails in Pebble), and Verify is never ok
// with fewer events than were acknowledged.
func TestDamagedManifestDeletesNothing(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	acked := fillOSLog(t, src, 4000, 100)
	// Reopen once: the WAL is replayed and flushed into an sstable.
	s, err := Open(src, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tables := filesOf(t, src, "*.sst")
	if len(tables) == 0 {
		t.Fatal("no sstable after reopening")
	}
	manifests := filesOf(t, src, "MANIFEST-*")
	fi, err := os.Stat(manifests[len(manifests)-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, frac := range []int64{10, 30, 50, 70, 90} {
		off := fi.Size() * frac / 100
		t.Run(fmt.Sprintf("offset%d", off), func(t *testing.T) {
			dir := filepath.Join(base, fmt.Sprintf("copy%d", frac))
			copyDir(t, src, dir)
			flipByte(t, filepath.Join(dir, filepath.Base(manifests[len(manifests)-1])), off)
			s, err := Open(dir, &Options{MinFreeBytes: -1})
			if err == nil {
				// Pebble kept every table: the log must be whole.
				rep, verr := s.Verify(context.Background(), nil)
				_ = s.Close()
				if verr != nil || !rep.OK || rep.Events != acked {
					t.Fatalf("Open accepted the log but Verify = %+v, %v (acked %d)", rep, verr, acked)
				}
			} else {
				t.Logf("Open: %v", err)
				if s, err := Open(dir, &Options{MinFreeBytes: -1, AllowDamaged: true}); err == nil {
					rep, verr := s.Verify(context.Background(), nil)
					_ = s.Close()
					if verr == nil && rep.OK && rep.Events < acked {
						t.Fatalf("Verify says ok with %d of %d events", rep.Events, acked)
					}
				}
			}
			for _, tb := range tables {
				name := filepath.Base(tb)
				_, e1 := os.Stat(filepath.Join(dir, name))
				_, e2 := os.Stat(filepath.Join(dir, ArchiveDirName, name))
				if e1 != nil && e2 != nil {
					t.Fatalf("sstable %s was deleted", name)
				}
			}
		})
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHeadRecordSurvivesReopen: the head record follows the appends across
// a reopen, survives a torn slot, and an unreadable one is refused.
func TestHeadRecordSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	acked := fillOSLog(t, dir, 200, 20)
	r, ok, err := readHead(osFS(), dir)
	if err != nil || !ok || r.seq != acked {
		t.Fatalf("head record = %+v, %v, %v; want seq %d", r, ok, err, acked)
	}
	// Reopen and append more: the record follows.
	s, err := Open(dir, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	appendOK(t, s, unchecked(mkEvent(t, "more", "c", t0, "")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, _, _ = readHead(osFS(), dir)
	if r.seq != acked+1 {
		t.Fatalf("head record seq %d after one more append, want %d", r.seq, acked+1)
	}
	// A torn slot: the other one still gives a head no later than durable.
	f := filepath.Join(dir, HeadFileName)
	flipByte(t, f, int64((r.gen&1)*headSlotSpan+20))
	r2, _, err := readHead(osFS(), dir)
	if err != nil || r2.seq > acked+1 || r2.seq < acked {
		t.Fatalf("head after a torn slot = %+v, %v", r2, err)
	}
	// Both slots damaged: Open refuses instead of guessing.
	flipByte(t, f, int64(((r.gen+1)&1)*headSlotSpan+20))
	if _, err := Open(dir, &Options{MinFreeBytes: -1}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open with an unreadable head record = %v, want ErrDamaged", err)
	}
}

func osFS() vfs.FS { return vfs.Default }

// TestGuardDeletesCompactedTables: in normal operation the guard keeps
// nothing — sstables of an earlier run consumed by this run's compactions
// are deleted, and the previous run's WALs are deleted once the log
// matched its head record — so the archive stays empty.
func TestGuardDeletesCompactedTables(t *testing.T) {
	dir := t.TempDir()
	n := 0
	for round := range 4 {
		s, err := Open(dir, &Options{MinFreeBytes: -1, MemTableSize: 256 << 10, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		for range 40 {
			var reqs []Request
			for range 100 {
				reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("g-%07d", n), fmt.Sprintf("c%d", n%301), t0, "3.00")))
				n++
			}
			if _, err := s.Append(context.Background(), reqs); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if a := filesOf(t, filepath.Join(dir, ArchiveDirName), "*"); len(a) > 0 {
			t.Fatalf("round %d: the archive holds %v after a clean run", round, a)
		}
	}
	if wals := filesOf(t, dir, "*.log"); len(wals) > 6 {
		t.Fatalf("%d WALs kept after four runs", len(wals))
	}
	t.Logf("%d sstables, %d WALs after four runs", len(filesOf(t, dir, "*.sst")), len(filesOf(t, dir, "*.log")))
	s, err := Open(dir, &Options{MinFreeBytes: -1, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rep, err := s.Verify(context.Background(), nil); err != nil || !rep.OK || rep.Events != uint64(n) {
		t.Fatalf("verify = %+v, %v; want %d events", rep, err, n)
	}
}

// TestAcceptLoss: after a damaged WAL lost acknowledged records, the
// operator's explicit AcceptLoss names the range given up and Open accepts
// the shorter log again (appends continue after its last record); on an
// intact log it refuses and changes nothing.
func TestAcceptLoss(t *testing.T) {
	dir := t.TempDir()
	fillOSLog(t, dir, 2000, 50)
	acked := appendDamagingWAL(t, dir, 1500)
	if _, err := Open(dir, &Options{MinFreeBytes: -1}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open = %v, want ErrDamaged", err)
	}
	acc, err := AcceptLoss(context.Background(), dir, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	from, to := acc.MissingFrom, acc.MissingTo
	if from != 2001 || to != acked || acc.HeadRecordLost || acc.Head != 2000 {
		t.Fatalf("AcceptLoss = %+v, want 2001..%d given up, head 2000", acc, acked)
	}
	s, err := Open(dir, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatalf("Open after AcceptLoss: %v", err)
	}
	res := appendOK(t, s, unchecked(mkEvent(t, "after-loss", "c", t0, "")))
	if res[0].Seq != from {
		t.Fatalf("the next append got seq %d, want %d", res[0].Seq, from)
	}
	rep, err := s.Verify(context.Background(), nil)
	if err != nil || !rep.OK || rep.Events != from {
		t.Fatalf("verify after AcceptLoss = %+v, %v", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := AcceptLoss(context.Background(), dir, &Options{MinFreeBytes: -1}); !errors.Is(err, ErrNothingToAccept) {
		t.Fatalf("AcceptLoss on an intact log = %v, want ErrNothingToAccept", err)
	}
}
