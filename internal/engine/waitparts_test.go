package engine

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestWaitParts: after a failure a part that never stops does not keep
// the engine up (the wait returns after the grace, with an error); parts
// that stop are waited for and their error returned; after a signal the
// wait is for every part.
func TestWaitParts(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	failed := errors.New("reactions: boom")
	stuck := make(chan struct{})
	defer close(stuck)
	err := waitParts(context.Background(), func() error { <-stuck; return failed }, 50*time.Millisecond, log)
	if err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Fatalf("a stuck part after a failure: %v, want the grace's error", err)
	}
	if err := waitParts(context.Background(), func() error { return failed }, time.Hour, log); !errors.Is(err, failed) {
		t.Fatalf("parts that stopped: %v, want their error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := func() error { time.Sleep(100 * time.Millisecond); return nil }
	if err := waitParts(ctx, slow, time.Millisecond, log); err != nil {
		t.Fatalf("after a signal: %v, want the parts' own nil", err)
	}
}
