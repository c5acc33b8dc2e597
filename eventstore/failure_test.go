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

// TestCommitFailureRefusesAppends injects a failing WAL sync: the callers
// of that batch get an error (not an acknowledgement), later appends are
// refused with ErrFailed, and reads still stop at the last durable record.
func TestCommitFailureRefusesAppends(t *testing.T) {
	var broken atomic.Bool
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if broken.Load() && strings.HasSuffix(op.Path, ".log") &&
			(op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileWrite) {
			return errorfs.ErrInjected
		}
		return nil
	}))
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
