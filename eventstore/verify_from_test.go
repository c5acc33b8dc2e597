package eventstore

import (
	"context"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestRecordHashes: the stored chain hashes, as Scan sees them, read
// without the events; a missing or not yet durable record is an error
// naming it.
func TestRecordHashes(t *testing.T) {
	fs := vfs.NewMem()
	fillLog(t, fs, "log", 10)
	s, err := Open("log", &Options{FS: fs, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64][32]byte{}
	if err := s.Scan(context.Background(), 1, 0, func(r *Record) error { want[r.Seq] = r.Hash; return nil }); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = s.RecordHashes(context.Background(), []uint64{1, 4, 10}, func(seq uint64, h [32]byte) error {
		n++
		if h != want[seq] {
			w := want[seq]
			t.Errorf("record %d: hash %x, Scan says %x", seq, h[:4], w[:4])
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("RecordHashes: %d calls, %v", n, err)
	}
	if err := s.RecordHashes(context.Background(), []uint64{3, 11}, func(uint64, [32]byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "record 11 is past the durable position 10") {
		t.Fatalf("past the head: %v", err)
	}
	if err := s.RecordHashes(context.Background(), []uint64{5, 3}, func(uint64, [32]byte) error { return nil }); err == nil {
		t.Fatal("descending sequences taken")
	}
	s.Close()

	behindTheBack(t, fs, "log", func(db *pebble.DB) { db.Delete(eventKey(nil, 6), pebble.Sync) })
	s, err = Open("log", &Options{FS: fs, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RecordHashes(context.Background(), []uint64{2, 6}, func(uint64, [32]byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "record 6 missing") {
		t.Fatalf("a deleted record: %v", err)
	}
}
