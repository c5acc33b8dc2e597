package checkpoint

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/journey-cdp/journey/eventstore"
)

// HistoryFileName is the engine's own list of its latest checkpoints in
// the checkpoint directory, one JSON line each, oldest first.
const HistoryFileName = "checkpoints.jsonl"

// DefaultKeep is how many checkpoints the history file keeps.
const DefaultKeep = 100

// DefaultEvery is how often serve signs the head.
const DefaultEvery = 15 * time.Minute

// Keeper signs the head of a running engine's log and keeps the latest
// checkpoints in <data>/checkpoint/checkpoints.jsonl (appended to; cut
// back to the last Keep, rewritten atomically, when it holds twice as
// many). The history is the operator's copy, for convenience: an auditor
// keeps their own.
type Keeper struct {
	key    *Key
	store  *eventstore.Store
	path   string
	keep   int
	clock  func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	lines   int
	lastSeq uint64
	signed  bool
}

// KeeperOptions configure a Keeper; zero fields take defaults.
type KeeperOptions struct {
	Keep   int              // 0: DefaultKeep
	Clock  func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// OpenKeeper loads (or makes) the signing key of dataDir and returns the
// Keeper signing store's head.
func OpenKeeper(dataDir string, store *eventstore.Store, o KeeperOptions) (*Keeper, error) {
	key, created, err := LoadOrCreateKey(dataDir)
	if err != nil {
		return nil, err
	}
	k := &Keeper{key: key, store: store, path: filepath.Join(Dir(dataDir), HistoryFileName),
		keep: o.Keep, clock: o.Clock, logger: o.Logger}
	if k.keep <= 0 {
		k.keep = DefaultKeep
	}
	if k.clock == nil {
		k.clock = time.Now
	}
	if k.logger == nil {
		k.logger = slog.New(slog.DiscardHandler)
	}
	if created {
		k.logger.Info("checkpoint signing key created", "path", KeyPath(dataDir), "public_key", key.PublicText())
	}
	if b, err := os.ReadFile(k.path); err == nil {
		k.lines = bytes.Count(b, []byte("\n"))
		if cps, err := Parse(b); err == nil {
			k.lastSeq, k.signed = cps[len(cps)-1].Seq, true
		}
	}
	return k, nil
}

// Key is the signing key.
func (k *Keeper) Key() *Key { return k.key }

// Take signs the head now and appends the checkpoint to the history.
func (k *Keeper) Take(ctx context.Context) (Checkpoint, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.take(ctx)
}

func (k *Keeper) take(ctx context.Context) (Checkpoint, error) {
	cp, err := k.key.Take(ctx, k.store, k.clock())
	if err != nil {
		return cp, err
	}
	if err := k.append(&cp); err != nil {
		return cp, err
	}
	k.lastSeq, k.signed = cp.Seq, true
	return cp, nil
}

func (k *Keeper) append(cp *Checkpoint) error {
	line, err := cp.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	f, err := os.OpenFile(k.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, werr := f.Write(line)
	if werr == nil {
		werr = f.Sync()
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("checkpoint: append to %s: %w", HistoryFileName, werr)
	}
	k.lines++
	if k.lines >= 2*k.keep {
		return k.compact()
	}
	return nil
}

// compact rewrites the history with its last Keep lines.
func (k *Keeper) compact() error {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	if len(lines) > k.keep {
		lines = lines[len(lines)-k.keep:]
	}
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, bytes.Join(lines, nil), 0o600); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if f, err := os.Open(tmp); err == nil {
		_ = f.Sync()
		_ = f.Close()
	}
	if err := os.Rename(tmp, k.path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	k.lines = len(lines)
	return nil
}

// History is the kept checkpoints, oldest first.
func (k *Keeper) History() ([]Checkpoint, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return ReadFile(k.path)
}

// Run signs the head every interval (0: DefaultEvery) until ctx ends,
// skipping a tick when the log has not grown since the last checkpoint.
// A failure to sign is logged and retried at the next tick.
func (k *Keeper) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = DefaultEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		k.tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (k *Keeper) tick(ctx context.Context) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if seq, _ := k.store.Head(); k.signed && seq == k.lastSeq {
		return
	}
	cp, err := k.take(ctx)
	if err != nil {
		if ctx.Err() == nil {
			k.logger.Error("checkpoint: signing the head failed", "err", err)
		}
		return
	}
	k.logger.Info("checkpoint signed", "seq", cp.Seq, "hash", cp.Hash)
}
