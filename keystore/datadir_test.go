package keystore_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/journey-cdp/journey/keystore"
)

// TestOpenDataDir: a new data dir gets keys (and a generated master key),
// which the next open finds; a plaintext data dir stays so; another master
// key is refused naming where it came from.
func TestOpenDataDir(t *testing.T) {
	t.Setenv(keystore.MasterKeyEnv, "")
	data := t.TempDir()
	if ks, err := keystore.OpenDataDir(data, keystore.DataDirOptions{}); err != nil || ks != nil {
		t.Fatalf("without Create: %v %v, want no key store", ks, err)
	}
	ks, err := keystore.OpenDataDir(data, keystore.DataDirOptions{Create: true})
	if err != nil || ks == nil {
		t.Fatalf("new data dir: %v %v", ks, err)
	}
	p := ks.Pseudonym("c")
	sealed, err := ks.Seal(nil, p, nil, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	ks.Close()
	fi, err := os.Stat(filepath.Join(data, "keys", keystore.MasterKeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated master key: %v %v", fi, err)
	}
	// Found again by a reader (read-only, no Create).
	ks, err = keystore.OpenDataDir(data, keystore.DataDirOptions{ReadOnly: true})
	if err != nil || ks == nil {
		t.Fatalf("reopen: %v %v", ks, err)
	}
	if pt, err := ks.Open(nil, []byte(p), nil, sealed); err != nil || string(pt) != "hello" {
		t.Fatalf("open after reopen: %q %v", pt, err)
	}
	ks.Close()
	other := filepath.Join(t.TempDir(), "other.key")
	text, _ := keystore.NewMasterKey()
	os.WriteFile(other, []byte(text), 0o600)
	_, err = keystore.OpenDataDir(data, keystore.DataDirOptions{MasterKeyFile: other})
	if err == nil || !strings.Contains(err.Error(), other) || strings.Contains(err.Error(), text) {
		t.Fatalf("another master key: %v", err)
	}

	plain := t.TempDir()
	os.MkdirAll(filepath.Join(plain, "log"), 0o755)
	os.WriteFile(filepath.Join(plain, "log", "MANIFEST-000001"), nil, 0o644)
	if ks, err := keystore.OpenDataDir(plain, keystore.DataDirOptions{Create: true}); err != nil || ks != nil {
		t.Fatalf("existing plaintext data dir: %v %v, want it left plaintext", ks, err)
	}
}

// TestOpenDataDirLostManifest: a key store that lost its MANIFEST but still
// holds its WAL is a damaged key store, named as such — not a plaintext
// data dir (whose sealed log would then ask for a master key it has).
func TestOpenDataDirLostManifest(t *testing.T) {
	t.Setenv(keystore.MasterKeyEnv, "")
	data := t.TempDir()
	ks, err := keystore.OpenDataDir(data, keystore.DataDirOptions{Create: true})
	if err != nil || ks == nil {
		t.Fatalf("new data dir: %v %v", ks, err)
	}
	ks.Close()
	m, _ := filepath.Glob(filepath.Join(keystore.KeysDir(data), "MANIFEST-*"))
	if len(m) == 0 {
		t.Fatal("no MANIFEST in the new key store")
	}
	for _, f := range m {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []keystore.DataDirOptions{{}, {ReadOnly: true}, {Create: true}} {
		ks, err := keystore.OpenDataDir(data, o)
		if ks != nil {
			ks.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "key store "+keystore.KeysDir(data)+" is damaged") || !strings.Contains(err.Error(), "no MANIFEST") {
			t.Errorf("OpenDataDir(%+v) of a key store without its MANIFEST: %v, want it named damaged", o, err)
		}
	}
}
