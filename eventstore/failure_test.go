package eventstore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// walFailFS is an in-memory file system whose WAL writes and syncs fail
// while broken is set.
func walFailFS(broken *atomic.Bool) vfs.FS {
	return errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if broken.Load() && strings.HasSuffix(op.Path, ".log") &&
			(op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileWrite) {
			return errorfs.ErrInjected
		}
		return nil
	}))
}

// TestCommitFailureRefusesAppends injects a failing WAL sync: the callers
// of that batch get an error (not an acknowledgement), later appends are
// refused with ErrFailed, and reads still stop at the last durable record.
func TestCommitFailureRefusesAppends(t *testing.T) {
	var broken atomic.Bool
	fs := walFailFS(&broken)
	s, err := Open("log", &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendOK(t, s, unchecked(mkEvent(t, "ok-1", "c", t0, "")))

	broken.Store(true)
	_, err = s.Append(context.Background(), []Request{unchecked(mkEvent(t, "bad-1", "c", t0, ""))})
	if err == nil {
		t.Fatal("Append acknowledged an event whose fsync failed")
	}
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Append error = %v, want ErrFailed", err)
	}
	broken.Store(false)
	if _, err := s.Append(context.Background(), []Request{unchecked(mkEvent(t, "after", "c", t0, ""))}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after a failure = %v, want ErrFailed until reopen", err)
	}
	if got := s.DurableSeq(); got != 1 {
		t.Fatalf("DurableSeq()=%d after a failed commit, want 1", got)
	}
	if _, found, _ := s.Get("bad-1"); found {
		t.Fatal("Get sees an event whose commit failed")
	}
}

// TestQuarantineSharesFailureState: a quarantine write whose WAL write
// fails fails the store (later appends refused), and a store that failed
// in an append refuses quarantine writes too: one write path.
func TestQuarantineSharesFailureState(t *testing.T) {
	var broken atomic.Bool
	fs := walFailFS(&broken)
	t.Run("quarantine fails the store", func(t *testing.T) {
		s, err := Open("log-q", &Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		appendOK(t, s, unchecked(mkEvent(t, "ok-1", "c", t0, "")))
		broken.Store(true)
		if _, err := s.Quarantine(context.Background(), QuarantineEntry{Code: "invalid_json", Reason: "x", Raw: []byte("{")}); err == nil {
			t.Fatal("Quarantine acknowledged an entry whose fsync failed")
		}
		broken.Store(false)
		if _, err := s.Append(context.Background(), []Request{unchecked(mkEvent(t, "after", "c", t0, ""))}); !errors.Is(err, ErrFailed) {
			t.Fatalf("Append after a failed quarantine write = %v, want ErrFailed", err)
		}
	})
	t.Run("append failure refuses quarantine", func(t *testing.T) {
		s, err := Open("log-a", &Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		broken.Store(true)
		if _, err := s.Append(context.Background(), []Request{unchecked(mkEvent(t, "bad", "c", t0, ""))}); err == nil {
			t.Fatal("Append acknowledged")
		}
		broken.Store(false)
		if _, err := s.Quarantine(context.Background(), QuarantineEntry{Code: "invalid_json", Reason: "x", Raw: []byte("{")}); !errors.Is(err, ErrFailed) {
			t.Fatalf("Quarantine on a failed store = %v, want ErrFailed", err)
		}
		if err := s.QuarantineDelete(1); !errors.Is(err, ErrFailed) && !errors.Is(err, ErrNotQuarantined) {
			t.Fatalf("QuarantineDelete on a failed store = %v", err)
		}
	})
}
