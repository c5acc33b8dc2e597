package keystore_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"regexp"
	"testing"

	"github.com/journey-cdp/journey/keystore"
)

func open(t *testing.T, dir string, master []byte) (*keystore.Store, error) {
	t.Helper()
	w, err := keystore.NewLocalWrapper(master)
	if err != nil {
		t.Fatal(err)
	}
	return keystore.Open(dir, w, nil)
}

func masterKey(t *testing.T) []byte {
	t.Helper()
	text, err := keystore.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keystore.ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenDestroy(t *testing.T) {
	dir, master := t.TempDir(), masterKey(t)
	s, err := open(t, dir, master)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Pseudonym("cust-1")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(p) || p == s.Pseudonym("cust-2") || p != s.Pseudonym("cust-1") {
		t.Fatalf("pseudonym %q: want 32 hex digits, stable, distinct per customer", p)
	}
	ad, msg := []byte("purchase|"+p), []byte(`{"email":"ada@example.com"}`)
	sealed, err := s.Seal(nil, p, ad, msg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("ada@")) || len(sealed) != len(msg)+keystore.Overhead {
		t.Fatalf("sealed %q", sealed)
	}
	again, _ := s.Seal(nil, p, ad, msg)
	if bytes.Equal(again[1:13], sealed[1:13]) {
		t.Fatal("the same plaintext sealed twice shares a nonce: nonces are random")
	}
	got, err := s.Open(nil, []byte(p), ad, sealed)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %q %v", got, err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := s.Open(nil, []byte(p), ad, bad); !errors.Is(err, keystore.ErrTampered) {
			t.Fatalf("byte %d flipped: %v, want ErrTampered", i, err)
		}
	}
	if _, err := s.Open(nil, []byte(p), []byte("other ad"), sealed); !errors.Is(err, keystore.ErrTampered) {
		t.Fatalf("other associated data: %v", err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened with the same key: the data key is there.
	s, err = open(t, dir, master)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(nil, []byte(p), ad, sealed); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after reopen: %q %v", got, err)
	}
	tomb, err := s.Destroy(p, "art. 17 request #42")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(nil, []byte(p), ad, sealed); !errors.Is(err, keystore.ErrErased) {
		t.Fatalf("after Destroy: %v, want ErrErased", err)
	}
	if _, err := s.Seal(nil, p, ad, msg); !errors.Is(err, keystore.ErrErased) {
		t.Fatalf("Seal after Destroy: %v, want ErrErased (no new key for an erased customer)", err)
	}
	if tb, ok, err := s.Erased(p); err != nil || !ok || tb.Reason != "art. 17 request #42" || !tb.ErasedAt.Equal(tomb.ErasedAt) {
		t.Fatalf("Erased: %+v %v %v", tb, ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = open(t, dir, master)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Open(nil, []byte(p), ad, sealed); !errors.Is(err, keystore.ErrErased) {
		t.Fatalf("reopened after Destroy: %v, want ErrErased", err)
	}
}

// TestWrongMasterKey: a store is never opened under another master key.
func TestWrongMasterKey(t *testing.T) {
	dir := t.TempDir()
	s, err := open(t, dir, masterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := open(t, dir, masterKey(t)); !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("another master key: %v, want ErrWrongMasterKey", err)
	}
}

func mustSeal(t *testing.T, s *keystore.Store, p string) []byte {
	t.Helper()
	b, err := s.Seal(nil, p, nil, []byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMasterKey(t *testing.T) {
	for _, bad := range []string{"", "abc", "zz" + string(make([]byte, 62))} {
		if _, err := keystore.ParseMasterKey(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	t.Setenv(keystore.MasterKeyEnv, "")
	if _, err := keystore.LoadMasterKey(""); err == nil || !bytes.Contains([]byte(err.Error()), []byte("--master-key-file")) {
		t.Fatalf("no key: %v", err)
	}
}

// TestKeysDurableAtSync: a new key is written by Sync (one synced batch),
// a key destroyed before its Sync is never written, and after a reopen
// the known keys open what was sealed and the destroyed one stays erased.
func TestKeysDurableAtSync(t *testing.T) {
	dir, master := t.TempDir(), masterKey(t)
	s, err := open(t, dir, master)
	if err != nil {
		t.Fatal(err)
	}
	kept, gone := s.Pseudonym("kept"), s.Pseudonym("gone")
	sealedKept, err := s.Seal(nil, kept, nil, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(nil, gone, nil, []byte("g")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Destroy(gone, "before its sync"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(nil, gone, nil, []byte("g")); !errors.Is(err, keystore.ErrErased) {
		t.Fatalf("seal after destroy: %v, want ErrErased", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = open(t, dir, master)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Open(nil, []byte(kept), nil, sealedKept); err != nil || string(got) != "k" {
		t.Fatalf("after reopen: %q %v", got, err)
	}
	if _, ok, err := s.Erased(gone); err != nil || !ok {
		t.Fatalf("destroyed before its sync: erased=%v %v", ok, err)
	}
	if _, err := s.Seal(nil, gone, nil, []byte("g")); !errors.Is(err, keystore.ErrErased) {
		t.Fatalf("seal after reopen: %v, want ErrErased", err)
	}
}

// TestSealConcurrentNewCustomer: many goroutines sealing for the same new
// customer at once all use one key (each sealed value opens).
func TestSealConcurrentNewCustomer(t *testing.T) {
	s, err := open(t, t.TempDir(), masterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := range 20 {
		p := s.Pseudonym(string(rune('a' + round)))
		out := make([][]byte, 8)
		errs := make(chan error, len(out))
		for i := range out {
			go func() {
				var err error
				out[i], err = s.Seal(nil, p, nil, []byte{byte(i)})
				errs <- err
			}()
		}
		for range out {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for i, sealed := range out {
			if got, err := s.Open(nil, []byte(p), nil, sealed); err != nil || len(got) != 1 || got[0] != byte(i) {
				t.Fatalf("round %d, sealer %d: %v", round, i, err)
			}
		}
	}
}

// TestHMACPadsIsHMAC: the hand-rolled HMAC (pads and a pooled digest) is
// crypto/hmac's HMAC-SHA-256, for short, block-sized and long keys, so the
// nonces and pseudonyms of existing data dirs do not change.
func TestHMACPadsIsHMAC(t *testing.T) {
	for _, kl := range []int{0, 16, 32, 64, 65, 200} {
		key := bytes.Repeat([]byte{byte(kl + 1)}, kl)
		for _, parts := range [][][]byte{{}, {[]byte("a")}, {[]byte("ad-part"), bytes.Repeat([]byte("x"), 1000)}} {
			want := hmac.New(sha256.New, key)
			for _, p := range parts {
				want.Write(p)
			}
			if got := keystore.HMACForTest(key, parts...); !bytes.Equal(got, want.Sum(nil)) {
				t.Errorf("key %d bytes, %d parts: %x, want %x", kl, len(parts), got, want.Sum(nil))
			}
		}
	}
}

// TestSealKeyAfterDestroyUncached: a recent customer's name entry keeps
// their key, which may outlive the key cache; once the key is destroyed
// SealKey refuses with ErrErased, cached or not.
func TestSealKeyAfterDestroyUncached(t *testing.T) {
	w, err := keystore.NewLocalWrapper(masterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := keystore.Open(t.TempDir(), w, &keystore.Options{CacheKeys: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, k, err := s.SealKey("victim")
	if err != nil {
		t.Fatal(err)
	}
	if again, _, _ := s.SealKey("victim"); again != p || p != s.Pseudonym("victim") {
		t.Fatalf("pseudonym changed: %s, %s", p, again)
	}
	ad := []byte("ad")
	sealed := k.Seal(nil, ad, []byte("payload"))
	if got, err := s.Open(nil, []byte(p), ad, sealed); err != nil || string(got) != "payload" {
		t.Fatalf("open: %q, %v", got, err)
	}
	// Two other keys through Seal (not SealKey) turn the key cache over;
	// the victim's name entry stays.
	for _, other := range []string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"} {
		if _, err := s.Seal(nil, other, nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Destroy(p, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SealKey("victim"); !errors.Is(err, keystore.ErrErased) {
		t.Fatalf("SealKey after Destroy: %v, want ErrErased", err)
	}
	if _, err := s.Open(nil, []byte(p), ad, sealed); !errors.Is(err, keystore.ErrErased) {
		t.Fatalf("Open after Destroy: %v, want ErrErased", err)
	}
}

// TestClosedStoreRefuses: the log's writes to the key store (TakeNew,
// SyncTaken, Sync) after Close are an error, not a panic.
func TestClosedStoreRefuses(t *testing.T) {
	s, err := open(t, t.TempDir(), masterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SealKey("c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeNew(); !errors.Is(err, keystore.ErrClosed) {
		t.Fatalf("TakeNew after Close: %v", err)
	}
	if err := s.SyncTaken(); !errors.Is(err, keystore.ErrClosed) {
		t.Fatalf("SyncTaken after Close: %v", err)
	}
	if err := s.Sync(); !errors.Is(err, keystore.ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
}
