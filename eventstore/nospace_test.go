package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// fullDisk injects ENOSPC into writes of files whose name ends in one of
// suffixes while on is set.
func fullDisk(on *atomic.Bool, suffixes ...string) errorfs.Injector {
	return errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !on.Load() {
			return nil
		}
		switch op.Kind {
		case errorfs.OpCreate, errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFilePreallocate, errorfs.OpReuseForWrite, errorfs.OpFileSyncTo, errorfs.OpFileFlush:
		default:
			return nil
		}
		for _, s := range suffixes {
			if strings.HasSuffix(op.Path, s) {
				return fmt.Errorf("write %s: %w", op.Path, syscall.ENOSPC)
			}
		}
		return nil
	})
}

// TestFullDisk fills the disk under a store that is appending, in two
// ways: the WAL write fails, or only the flush to an sstable fails (Pebble
// then retries it for ever). Either way the appends in flight are not
// acknowledged, later ones are refused with ErrNoSpace, Close returns
// promptly, and once space is back a reopened store holds every
// acknowledged event exactly once and verifies.
func TestFullDisk(t *testing.T) {
	for _, tc := range []struct {
		name     string
		suffixes []string
	}{
		{"wal", []string{".log", ".sst"}},
		{"flush", []string{".sst"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var full atomic.Bool
			mem := vfs.NewMem()
			fs := errorfs.Wrap(mem, fullDisk(&full, tc.suffixes...))
			// A small memtable so that the flush comes soon.
			s, err := Open("log", &Options{FS: fs, MemTableSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			acked := map[string]uint64{}
			var appendErr error
			for i := 0; i < 400 && appendErr == nil; i++ {
				if i == 20 {
					full.Store(true)
				}
				var reqs []Request
				for j := range 50 {
					reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("e-%d-%d", i, j), fmt.Sprintf("c%d", j), t0, "9.99")))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				res, err := s.Append(ctx, reqs)
				cancel()
				if err != nil {
					appendErr = err
					break
				}
				for k, r := range res {
					acked[reqs[k].Event.ID] = r.Seq
				}
			}
			if appendErr == nil {
				t.Fatal("appends kept succeeding on a full disk")
			}
			if !errors.Is(appendErr, ErrNoSpace) {
				t.Fatalf("append error on a full disk = %v, want ErrNoSpace", appendErr)
			}
			if _, err := s.Append(context.Background(), []Request{unchecked(mkEvent(t, "later", "c", t0, ""))}); !errors.Is(err, ErrNoSpace) {
				t.Fatalf("a later append = %v, want ErrNoSpace", err)
			}
			start := time.Now()
			cerr := s.Close()
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("Close took %v on a full disk", d)
			}
			t.Logf("append: %v; close: %v", appendErr, cerr)

			// Space is back: a new process opens the same files.
			full.Store(false)
			s2, err := Open("log", &Options{FS: mem})
			if err != nil {
				t.Fatalf("reopen after freeing space: %v", err)
			}
			defer s2.Close()
			for id, seq := range acked {
				r, found, err := s2.Get(id)
				if err != nil || !found || r.Seq != seq {
					t.Fatalf("acknowledged %s (seq %d) after reopen: found %v, %v", id, seq, found, err)
				}
			}
			rep, err := s2.Verify(context.Background(), nil)
			if err != nil || !rep.OK || rep.Events < uint64(len(acked)) {
				t.Fatalf("verify after reopen = %+v, %v (acknowledged %d)", rep, err, len(acked))
			}
			t.Logf("%d acknowledged before the disk filled, %d in the log after", len(acked), rep.Events)
		})
	}
}

// lowSpaceFS reports avail bytes free.
type lowSpaceFS struct {
	vfs.FS
	avail uint64
}

func (f lowSpaceFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	return vfs.DiskUsage{AvailBytes: f.avail, TotalBytes: 1 << 30}, nil
}

// TestOpenNeedsFreeSpace: opening for writing below MinFreeBytes fails at
// once with ErrNoSpace naming what is free; read-only needs none.
func TestOpenNeedsFreeSpace(t *testing.T) {
	mem := vfs.NewMem()
	s, err := Open("log", &Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	appendOK(t, s, unchecked(mkEvent(t, "a", "c", t0, "")))
	s.Close()
	fs := lowSpaceFS{FS: mem, avail: 3 << 20}
	_, err = Open("log", &Options{FS: fs})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "3.0 MiB free") {
		t.Fatalf("Open with 3 MiB free = %v, want ErrNoSpace naming the free space", err)
	}
	ro, err := Open("log", &Options{FS: fs, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open with 3 MiB free: %v", err)
	}
	defer ro.Close()
	if _, found, err := ro.Get("a"); err != nil || !found {
		t.Fatalf("read-only Get: %v %v", found, err)
	}
	if _, err := ro.Append(context.Background(), []Request{unchecked(mkEvent(t, "b", "c", t0, ""))}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Append on a read-only store = %v, want ErrReadOnly", err)
	}
}
