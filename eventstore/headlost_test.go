package eventstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// hasHeadMetaRaw reports whether the closed log in dir holds metaHeadFile.
func hasHeadMetaRaw(t *testing.T, fs vfs.FS, dir string) bool {
	t.Helper()
	var found bool
	behindTheBack(t, fs, dir, func(db *pebble.DB) {
		_, closer, err := db.Get(metaHeadFile)
		switch {
		case err == nil:
			closer.Close()
			found = true
		case !errors.Is(err, pebble.ErrNotFound):
			t.Fatal(err)
		}
	})
	return found
}

// wantHeadLost checks that Open refuses the log in dir as one that lost
// its head record file, ending at last, and that Verify (read-only, as
// journey verify opens it) fails at last+1.
func wantHeadLost(t *testing.T, fs vfs.FS, dir string, last uint64) {
	t.Helper()
	_, err := Open(dir, &Options{FS: fs, MinFreeBytes: -1})
	var de *DamageError
	if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a log that lost %s = %v, want a *DamageError", HeadFileName, err)
	}
	if want := headLostReason(last); de.Reason != want || de.LastSeq != last {
		t.Fatalf("Open: %+v, want reason %q at %d", de, want, last)
	}
	s, err := Open(dir, &Options{FS: fs, ReadOnly: true, AllowDamaged: true})
	if err != nil {
		t.Fatalf("Open read-only with AllowDamaged: %v", err)
	}
	defer s.Close()
	rep, err := s.Verify(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBadSeq != last+1 || rep.Events != last || !strings.Contains(rep.Reason, "is missing, though this log had one") {
		t.Fatalf("Verify of a log that lost %s = %+v, want not ok at %d after %d events", HeadFileName, rep, last+1, last)
	}
}

// TestHeadFileLostIsDamage: a log whose WAL lost its tail and whose
// durable head record file was deleted must not open as a shorter log:
// it remembers that it had a head record, so Open refuses it, Verify
// fails after its last record, appends are refused, and AcceptLoss
// (after verifying every record) writes a new head record so that it
// opens again, with the guard back on.
func TestHeadFileLostIsDamage(t *testing.T) {
	dir := t.TempDir()
	fillOSLog(t, dir, 2000, 50)
	if !hasHeadMetaRaw(t, vfs.Default, dir) {
		t.Fatalf("a log made by this version lacks %s", metaHeadFile)
	}
	acked := appendDamagingWAL(t, dir, 1500)
	if err := os.Remove(filepath.Join(dir, HeadFileName)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, &Options{MinFreeBytes: -1})
	var de *DamageError
	if !errors.As(err, &de) {
		t.Fatalf("Open = %v, want a *DamageError", err)
	}
	last := de.LastSeq
	if last >= acked {
		t.Fatalf("the damaged WAL kept all %d records: the test lost nothing", acked)
	}
	t.Logf("Open: %v", err)
	wantHeadLost(t, vfs.Default, dir, last)

	s, err := Open(dir, &Options{MinFreeBytes: -1, AllowDamaged: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), []Request{unchecked(mkEvent(t, "after-loss", "c", t0, ""))}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Append on a log that lost its head record = %v, want ErrDamaged", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, HeadFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused open wrote %s: %v", HeadFileName, err)
	}

	acc, err := AcceptLoss(context.Background(), dir, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Accepted{HeadRecordLost: true, Head: last}); acc != want {
		t.Fatalf("AcceptLoss = %+v, want %+v", acc, want)
	}
	r, ok, err := readHead(vfs.Default, dir)
	if err != nil || !ok || r.seq != last {
		t.Fatalf("head record after AcceptLoss = %+v, %v, %v; want seq %d", r, ok, err, last)
	}
	s, err = Open(dir, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatalf("Open after AcceptLoss: %v", err)
	}
	res := appendOK(t, s, unchecked(mkEvent(t, "after-accept", "c", t0, "")))
	if res[0].Seq != last+1 {
		t.Fatalf("the next append got seq %d, want %d", res[0].Seq, last+1)
	}
	rep, err := s.Verify(context.Background(), nil)
	if err != nil || !rep.OK || rep.Events != last+1 {
		t.Fatalf("verify after AcceptLoss = %+v, %v", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := AcceptLoss(context.Background(), dir, &Options{MinFreeBytes: -1}); !errors.Is(err, ErrNothingToAccept) {
		t.Fatalf("AcceptLoss on an intact log = %v, want ErrNothingToAccept", err)
	}
}

// TestHeadFileLostOnEmptyLog: a new log remembers its head record from its
// first open, before any record: losing the file then is damage too.
func TestHeadFileLostOnEmptyLog(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("log", &Options{FS: fs, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove(fs.PathJoin("log", HeadFileName)); err != nil {
		t.Fatal(err)
	}
	wantHeadLost(t, fs, "log", 0)
	acc, err := AcceptLoss(context.Background(), "log", &Options{FS: fs, MinFreeBytes: -1})
	if err != nil || acc != (Accepted{HeadRecordLost: true}) {
		t.Fatalf("AcceptLoss = %+v, %v", acc, err)
	}
	s, err = Open("log", &Options{FS: fs, MinFreeBytes: -1})
	if err != nil {
		t.Fatalf("Open after AcceptLoss: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHeadRecordOlderLog: a log written by a journey from before the head
// record (neither the file nor metaHeadFile) opens with a warning; a
// read-only open writes nothing, and the next writable open writes both,
// after which losing the file is damage.
func TestHeadRecordOlderLog(t *testing.T) {
	dir := t.TempDir()
	acked := fillOSLog(t, dir, 300, 30)
	// Make it an older journey's log.
	behindTheBack(t, vfs.Default, dir, func(db *pebble.DB) {
		if err := db.Delete(metaHeadFile, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	if err := os.Remove(filepath.Join(dir, HeadFileName)); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := Open(dir, &Options{ReadOnly: true, Logger: logger})
	if err != nil {
		t.Fatalf("read-only Open of an older log: %v", err)
	}
	if rep, err := s.Verify(context.Background(), nil); err != nil || !rep.OK || rep.Events != acked {
		t.Fatalf("Verify of an older log = %+v, %v", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "no durable head record yet (written by an older journey)") {
		t.Fatalf("no warning for an older log; logged:\n%s", logs.String())
	}
	if hasHeadMetaRaw(t, vfs.Default, dir) {
		t.Fatalf("a read-only open wrote %s", metaHeadFile)
	}
	if _, err := os.Stat(filepath.Join(dir, HeadFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only open wrote %s: %v", HeadFileName, err)
	}

	logs.Reset()
	s, err = Open(dir, &Options{MinFreeBytes: -1, Logger: logger})
	if err != nil {
		t.Fatalf("Open of an older log: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "no durable head record yet") {
		t.Fatalf("no warning for an older log; logged:\n%s", logs.String())
	}
	if r, ok, err := readHead(vfs.Default, dir); err != nil || !ok || r.seq != acked {
		t.Fatalf("head record after the upgrade = %+v, %v, %v", r, ok, err)
	}
	if !hasHeadMetaRaw(t, vfs.Default, dir) {
		t.Fatalf("the first writable open of an older log did not write %s", metaHeadFile)
	}
	// From now on the file is part of the log.
	if err := os.Remove(filepath.Join(dir, HeadFileName)); err != nil {
		t.Fatal(err)
	}
	wantHeadLost(t, vfs.Default, dir, acked)
	acc, err := AcceptLoss(context.Background(), dir, &Options{MinFreeBytes: -1})
	if err != nil || acc != (Accepted{HeadRecordLost: true, Head: acked}) {
		t.Fatalf("AcceptLoss = %+v, %v", acc, err)
	}
	s, err = Open(dir, &Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatalf("Open after AcceptLoss: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAcceptLossRefusesHeadLostWithBadRecord: a log that lost its head
// record file and has an altered record is not accepted, and stays refused.
func TestAcceptLossRefusesHeadLostWithBadRecord(t *testing.T) {
	fs := vfs.NewMem()
	fillLog(t, fs, "log", 10)
	behindTheBack(t, fs, "log", func(db *pebble.DB) {
		k := eventKey(nil, 5)
		v := getRaw(t, db, k)
		v[len(v)-1] ^= 1
		if err := db.Set(k, v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	if err := fs.Remove(fs.PathJoin("log", HeadFileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := AcceptLoss(context.Background(), "log", &Options{FS: fs, MinFreeBytes: -1}); err == nil || !strings.Contains(err.Error(), "first bad 5") {
		t.Fatalf("AcceptLoss of a log with an altered record = %v, want refused at 5", err)
	}
	if _, err := Open("log", &Options{FS: fs, MinFreeBytes: -1}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open after a refused AcceptLoss = %v, want ErrDamaged", err)
	}
}
