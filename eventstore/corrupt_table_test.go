package eventstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCorruptTableFailsWriter: an sstable whose bytes were damaged on disk
// (a checksum Pebble rejects) makes the log's background compactions fail;
// Pebble retries them at once and for ever. A writer must not spin or hang
// on that: the store refuses appends naming the damage, and Forget (whose
// purge waits for a compaction) returns that error instead of waiting for
// a compaction that can never finish.
func TestCorruptTableFailsWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ks := openKeys(t, filepath.Join(dir, "keys"))
	defer ks.Close()
	logDir := filepath.Join(dir, "log")
	open := func() *Store {
		t.Helper()
		s, err := Open(logDir, &Options{Sealer: ks, MinFreeBytes: -1, MemTableSize: 256 << 10, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Each open flushes the WAL of the run before into an L0 table: three
	// runs leave three tables, one short of Pebble's L0 compaction
	// threshold, and the open after the damage starts that compaction.
	n := 0
	for range 4 {
		s := open()
		var reqs []Request
		for range 300 {
			reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("k-%06d", n), fmt.Sprintf("c%d", n%97), t0.Add(time.Duration(n)*time.Minute), "4.00")))
			n++
		}
		if _, err := s.Append(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	tables := filesOf(t, logDir, "*.sst")
	if len(tables) == 0 {
		t.Fatal("no sstable to damage")
	}
	// Every table damaged: whichever a compaction reads fails.
	for _, f := range tables {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		flipByte(t, f, st.Size()/3)
	}

	s := open()
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		_, err := s.Forget(ctx, "c5", "test")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("Forget on a log with a damaged sstable = %v, want ErrDamaged", err)
		}
		t.Logf("Forget: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Forget on a log with a damaged sstable still runs after 30s (its compaction can never finish)")
	}
	_, err := s.Append(ctx, []Request{unchecked(mkEvent(t, "after", "c1", t0, ""))})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Append after a damaged sstable was found = %v, want ErrDamaged", err)
	}
	if msg := err.Error(); !strings.Contains(msg, ".sst: ") || strings.Contains(msg, "pebble:") {
		t.Errorf("Append error %q does not name the damaged file (or names Pebble's package)", msg)
	}
}
