package reactions

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// keyTurnover is written by Forget only to make the store's files turn over.
var keyTurnover = []byte("m/turnover")

// Forget removes a forgotten customer (privacy.Engine.Forget) from the
// reactions' store: their due-index entry, their pending actions and the
// cause of their last thank-you; then it forces those bytes out of the
// files (flush, compaction, the WALs and MANIFESTs turned over: the store
// never reuses a WAL's old contents). Their actions themselves are in the
// log (sealed under their key, now destroyed) and in the actions stream
// (erased by privacy); one not yet dispatched never is. Forgetting a
// customer the store does not know is a no-op but for the turnover.
func (r *Reactor) Forget(ctx context.Context, c string) error {
	// The customer's key is destroyed (privacy calls this after the log's
	// Forget): a publish in flight finishes, and every later one finds
	// the action record erased and publishes nothing, so no action of
	// theirs read by a dispatch pass before the forget reaches the stream
	// after it (the stream's erasure, next, finds those published).
	r.forgetMu.Lock()
	r.forgetMu.Unlock() // a barrier: nothing to hold it for
	b := r.db.NewBatch()
	defer b.Close()
	if err := setDue(r.db, b, c, time.Time{}); err != nil {
		return fmt.Errorf("reactions: forget: %w", err)
	}
	pend, err := pendingOf(r.db, c)
	if err != nil {
		return fmt.Errorf("reactions: forget: %w", err)
	}
	for id, asked := range pend {
		_ = b.Delete(pendingKey(c, id), nil)
		_ = b.Delete(ageKey(asked, id), nil)
	}
	_ = b.Delete(cat(prefixThanked, []byte(c)), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("reactions: forget: %w", err)
	}
	if err := r.db.Flush(); err != nil {
		return fmt.Errorf("reactions: forget: flush: %w", err)
	}
	if err := r.db.Compact(ctx, []byte("a"), []byte("z"), false); err != nil {
		return fmt.Errorf("reactions: forget: compact: %w", err)
	}
	// Pebble keeps a few obsolete WALs for reuse and one previous
	// MANIFEST: rotate past them.
	for i := range 6 {
		if err := r.db.Set(keyTurnover, []byte{byte(i)}, pebble.NoSync); err != nil {
			return fmt.Errorf("reactions: forget: %w", err)
		}
		if err := r.db.Flush(); err != nil {
			return fmt.Errorf("reactions: forget: flush: %w", err)
		}
	}
	return nil
}
