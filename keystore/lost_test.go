package keystore_test

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/journey-cdp/journey/keystore"
)

// TestLostKeyIsNotErased: a data key that vanished from the store without
// a tombstone (a damaged or older key store: Pebble replays a damaged WAL
// only up to the damage) is ErrKeyMissing, never ErrErased, so that the
// log's readers do not show the customer's events as forgotten.
func TestLostKeyIsNotErased(t *testing.T) {
	dir, master := t.TempDir(), masterKey(t)
	s, err := open(t, dir, master)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Pseudonym("cust-1")
	ad, msg := []byte("visit|"+p), []byte(`{"channel":"store"}`)
	sealed, err := s.Seal(nil, p, ad, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The key goes missing behind the store's back.
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Delete([]byte("k/"+p), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = open(t, dir, master)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Open(nil, []byte(p), ad, sealed)
	if !errors.Is(err, keystore.ErrKeyMissing) {
		t.Fatalf("Open of a value whose key was lost: %v, want ErrKeyMissing", err)
	}
	var erased interface{ Erased() bool }
	if errors.Is(err, keystore.ErrErased) || errors.As(err, &erased) && erased.Erased() {
		t.Fatalf("a lost key reads as erased: %v", err)
	}
	if _, ok, err := s.Erased(p); err != nil || ok {
		t.Fatalf("Erased of a lost key = %v, %v; want not erased", ok, err)
	}
}
