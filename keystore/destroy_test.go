package keystore

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDestroyLeavesNoKeyBytes: once destroyed, the wrapped data key is in
// no file of the store (no WAL; the range compacted; the obsolete tables
// deleted), while the other customers' keys stay.
func TestDestroyLeavesNoKeyBytes(t *testing.T) {
	dir := t.TempDir()
	master := bytes.Repeat([]byte{7}, MasterKeyLen)
	w, err := NewLocalWrapper(master)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ps []string
	wrapped := map[string][]byte{}
	for _, c := range []string{"a", "b", "c"} {
		p := s.Pseudonym(c)
		if _, err := s.Seal(nil, p, nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps { // written by Sync
		if wrapped[p], err = s.get(append(bytes.Clone(prefixDEK), p...)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Destroy(ps[1], "test"); err != nil {
		t.Fatal(err)
	}
	// Pebble deletes obsolete files in the background.
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := filesHolding(t, dir, wrapped)
		if len(found[ps[1]]) == 0 {
			if len(found[ps[0]]) == 0 || len(found[ps[2]]) == 0 {
				t.Fatalf("the other keys are gone too: %v", found)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the destroyed key is still in %v", found[ps[1]])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// filesHolding maps each name of want to the files under dir holding its bytes.
func filesHolding(t *testing.T, dir string, want map[string][]byte) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // deleted while walking
			}
			return err
		}
		if fi.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil
		} else if err != nil {
			return err
		}
		for name, w := range want {
			if bytes.Contains(b, w) {
				found[name] = append(found[name], filepath.Base(path))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
