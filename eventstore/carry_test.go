package eventstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/journey-cdp/journey/keystore"
)

// holdSettle keeps the carried keys in the log for the test (no settle
// round before Close).
func holdSettle(t *testing.T) {
	old := settleEvery
	settleEvery = time.Hour
	t.Cleanup(func() { settleEvery = old })
}

func openCarrying(t *testing.T, fs vfs.FS) (*Store, *keystore.Store) {
	t.Helper()
	w, err := keystore.NewLocalWrapper(bytes.Repeat([]byte{9}, keystore.MasterKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open("keys", w, &keystore.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open("log", &Options{FS: fs, Sealer: ks, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(); _ = ks.Close() })
	return s, ks
}

// restart closes the log and its key store and opens both again on fs.
func restart(t *testing.T, s *Store, ks *keystore.Store, fs vfs.FS) (*Store, *keystore.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = ks.Close()
	return openCarrying(t, fs)
}

func carriedCount(t *testing.T, s *Store) int {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixCarried, UpperBound: prefixEnd(prefixCarried)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n
}

// TestCarriedKeysSurviveCrash: a batch's new keys ride in the log's batch
// (one fsync), so a crash that loses everything the key store had not
// fsynced loses no acknowledged event's key: the next Open takes the
// copies back into the key store, drops them from the log, and every
// event decrypts.
func TestCarriedKeysSurviveCrash(t *testing.T) {
	holdSettle(t)
	ctx := context.Background()
	fs := vfs.NewCrashableMem()
	s, ks := openCarrying(t, fs)
	var reqs []Request
	for i := range 40 {
		reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("ev-%d", i), fmt.Sprintf("cust-%d", i), t0.Add(timeStep(i)), "5.00")))
	}
	appendOK(t, s, reqs[:20]...)
	appendOK(t, s, reqs[20:]...)
	if n := carriedCount(t, s); n != 40 {
		t.Fatalf("the log carries %d keys, want 40", n)
	}
	// The machine stops now: only what was fsynced survives.
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	s, _ = restart(t, s, ks, crashed)
	if n := carriedCount(t, s); n != 0 {
		t.Fatalf("after the restart the log still carries %d keys", n)
	}
	n := 0
	err := s.Scan(ctx, 1, 0, func(r *Record) error {
		n++
		if r.Erased {
			return fmt.Errorf("record %d reads as erased: its key was lost", r.Seq)
		}
		return nil
	})
	if err != nil || n != 40 {
		t.Fatalf("after the crash: %d records, %v", n, err)
	}
	rep, err := s.Verify(ctx, nil)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// TestCarriedKeysSettle: once the key store has fsynced the keys, the log
// drops its copies (at the latest at Close).
func TestCarriedKeysSettle(t *testing.T) {
	fs := vfs.NewMem()
	s, ks := openCarrying(t, fs)
	appendOK(t, s, unchecked(mkEvent(t, "a", "ann", t0, "1.00")), unchecked(mkEvent(t, "b", "ben", t0, "1.00")))
	deadline := time.Now().Add(5 * time.Second)
	for carriedCount(t, s) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := carriedCount(t, s); n != 0 {
		t.Fatalf("the log still carries %d keys after the settle time", n)
	}
	holdSettle(t)
	appendOK(t, s, unchecked(mkEvent(t, "c", "cat", t0, "1.00")))
	s, _ = restart(t, s, ks, fs)
	if n := carriedCount(t, s); n != 0 {
		t.Fatalf("after Close the log carries %d keys", n)
	}
}

// TestForgetDropsCarriedKey: Forget removes the log's copy of the key it
// destroys, so no wrapped key of an erased customer stays in the log, and
// a restart does not bring the key back.
func TestForgetDropsCarriedKey(t *testing.T) {
	holdSettle(t)
	ctx := context.Background()
	fs := vfs.NewMem()
	s, ks := openCarrying(t, fs)
	appendOK(t, s, unchecked(mkEvent(t, "v1", "victim", t0, "3.00")), unchecked(mkEvent(t, "o1", "other", t0, "3.00")))
	if n := carriedCount(t, s); n != 2 {
		t.Fatalf("carried %d, want 2", n)
	}
	if _, err := s.Forget(ctx, "victim", "test"); err != nil {
		t.Fatal(err)
	}
	if _, closer, err := s.db.Get(carriedKey(ks.Pseudonym("victim"))); err == nil {
		closer.Close()
		t.Fatal("the erased customer's key is still carried in the log")
	}
	s, _ = restart(t, s, ks, fs)
	recs, err := s.CustomerEvents(ctx, "victim", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Type != KindCustomerErased && !r.Erased {
			t.Fatalf("record %d of the erased customer decrypts after a restart", r.Seq)
		}
	}
	if recs, err := s.CustomerEvents(ctx, "other", 0, 0); err != nil || len(recs) != 1 || recs[0].Erased {
		t.Fatalf("the other customer: %+v %v", recs, err)
	}
}
