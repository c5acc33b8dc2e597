package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/journey-cdp/journey/internal/sealing"
)

// A KeyCarrier is a Sealer whose new keys the log carries in its own
// batches, so that one fsync makes a batch's events and the keys they are
// sealed under durable together (keystore.Store). Without one the log
// calls Sync, an fsync of the key store, before committing a batch with
// new keys.
type KeyCarrier interface {
	// TakeNew writes the keys made since the last call to the key store
	// without its fsync and returns them, for the log's next batch.
	TakeNew() ([]CarriedKey, error)
	// SyncTaken makes every key taken so far durable in the key store; the
	// log then drops its copies.
	SyncTaken() error
	// RestoreCarried takes back the copies the log holds at Open (after a
	// crash before SyncTaken): it writes those the key store lacks,
	// counting the destroyed ones it skips.
	RestoreCarried([]CarriedKey) (restored, destroyed int, err error)
}

// CarriedKey is a new key as the log carries it: pseudonym and wrapped
// key.
type CarriedKey = sealing.CarriedKey

// prefixCarried holds the carried keys: "k/" pseudonym → the wrapped data
// key, from the batch of the first events sealed under it until the key
// store has it durably (a carrier's settle) or a Forget removes it.
var prefixCarried = []byte("k/")

func carriedKey(pseudonym string) []byte {
	return append(append([]byte(nil), prefixCarried...), pseudonym...)
}

// carrier is the log's side of a KeyCarrier: the copies applied and not
// yet dropped, and the goroutine that drops them.
type carrier struct {
	kc    KeyCarrier
	mu    sync.Mutex
	taken []string // pseudonyms whose copies are applied in the log
	wake  chan struct{}
	done  chan struct{} // closed by the syncer when it stops
}

// keyStoreErr is a key store's write error for the log: one from a full
// disk is ErrNoSpace too.
func keyStoreErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrNoSpace) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// carry adds the keys taken for inf's batch to it.
func (w *writer) carry(inf *inflight) error {
	keys, err := w.s.carry.kc.TakeNew()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := inf.batch.Set(carriedKey(k.Pseudonym), k.Wrapped, nil); err != nil {
			return err
		}
		inf.carried = append(inf.carried, k.Pseudonym)
	}
	return nil
}

// applied records that a batch's carried keys are in the log (syncer).
func (c *carrier) applied(pseudonyms []string) {
	if len(pseudonyms) == 0 {
		return
	}
	c.mu.Lock()
	c.taken = append(c.taken, pseudonyms...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// settleEvery is how long the settler lets carried keys gather before one
// fsync of the key store drops all their copies.
var settleEvery = 50 * time.Millisecond

// settle runs until the syncer stops: it makes the taken keys durable in
// the key store and deletes their copies from the log, once more at the
// end.
func (s *Store) settle() {
	c := s.carry
	for {
		select {
		case <-c.wake:
			select {
			case <-time.After(settleEvery):
			case <-c.done:
			}
		case <-c.done:
			if err := s.settleOnce(); err != nil {
				s.opts.Logger.Warn("eventstore: carried keys not settled; the next open takes them back", "err", err)
			}
			return
		}
		if err := s.settleOnce(); err != nil {
			s.opts.Logger.Warn("eventstore: carried keys not settled; tried again with the next batch that carries keys, or at Close", "err", err)
		}
	}
}

func (s *Store) settleOnce() error {
	c := s.carry
	c.mu.Lock()
	taken := c.taken
	c.taken = nil
	c.mu.Unlock()
	if len(taken) == 0 {
		return nil
	}
	requeue := func() {
		c.mu.Lock()
		c.taken = append(taken, c.taken...)
		c.mu.Unlock()
	}
	if err := c.kc.SyncTaken(); err != nil {
		requeue()
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, p := range taken {
		_ = b.Delete(carriedKey(p), nil)
	}
	// Not synced: a deletion lost in a crash is made again at Open.
	if err := guard(func() error { return s.db.Apply(b, pebble.NoSync) }); err != nil {
		requeue()
		return err
	}
	return nil
}

// restoreCarried hands the copies the log still holds to the key store
// and deletes them (Open, before the writer starts). When some were of
// keys destroyed since, their bytes are purged from the log's files.
func (s *Store) restoreCarried() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixCarried, UpperBound: prefixEnd(prefixCarried)})
	if err != nil {
		return err
	}
	var keys []CarriedKey
	for it.First(); it.Valid(); it.Next() {
		keys = append(keys, CarriedKey{Pseudonym: string(it.Key()[len(prefixCarried):]), Wrapped: append([]byte(nil), it.Value()...)})
	}
	if err := it.Close(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	restored, destroyed, err := s.carry.kc.RestoreCarried(keys)
	if err != nil {
		return fmt.Errorf("carried keys: %w", err)
	}
	if s.opts.ReadOnly {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, k := range keys {
		_ = b.Delete(carriedKey(k.Pseudonym), nil)
	}
	if err := s.db.Apply(b, pebble.Sync); err != nil {
		return err
	}
	s.opts.Logger.Info("eventstore: took back the keys the log carried", "keys", len(keys), "restored", restored, "destroyed", destroyed)
	if destroyed > 0 {
		return s.purge(context.Background(), prefixCarried)
	}
	return nil
}
