package keystore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyFileName is where a data dir keeps a master key generated for
// it (<data>/keys/master.key) when none was given: the data is then
// encrypted at rest and forgettable, but whoever copies the whole data dir
// has the key too. Production keeps the key elsewhere (--master-key-file).
const MasterKeyFileName = "master.key"

// DataDirOptions say how to open the keys of a data dir.
type DataDirOptions struct {
	// MasterKeyFile names the master key ("": $JOURNEY_MASTER_KEY, then
	// <data>/keys/master.key).
	MasterKeyFile string
	// Create: the caller may create the data dir's log. A new data dir is
	// encrypted (with a generated master key when none is given) unless
	// Plaintext.
	Create    bool
	Plaintext bool
	ReadOnly  bool
	Logger    *slog.Logger
}

// KeysDir is a data dir's key store directory.
func KeysDir(dataDir string) string { return filepath.Join(dataDir, "keys") }

// OpenDataDir opens the key store of dataDir: nil (and no error) when the
// data dir's log is plaintext, or new and to be created plaintext. A data
// dir with keys needs its master key: a missing or wrong one is an error
// naming the flag, never a new key.
func OpenDataDir(dataDir string, o DataDirOptions) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := KeysDir(dataDir)
	m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	haveKeys := len(m) > 0
	if !haveKeys {
		// The store's other files without its MANIFEST: a damaged key
		// store, not a plaintext log.
		var found []string
		for _, pattern := range []string{"*.log", "*.sst", "marker.manifest.*"} {
			f, _ := filepath.Glob(filepath.Join(dir, pattern))
			for _, name := range f {
				found = append(found, filepath.Base(name))
			}
		}
		if len(found) > 0 {
			return nil, fmt.Errorf("the key store %s is damaged: it has no MANIFEST (Pebble's list of its files) but holds its files (%s); restore it from a backup", dir, strings.Join(found, ", "))
		}
	}
	if !haveKeys {
		logs, _ := filepath.Glob(filepath.Join(dataDir, "log", "MANIFEST-*"))
		if len(logs) > 0 || !o.Create || o.Plaintext || o.ReadOnly {
			return nil, nil // a plaintext log, or nothing to create
		}
	}
	file := o.MasterKeyFile
	if file == "" && os.Getenv(MasterKeyEnv) == "" {
		local := filepath.Join(dir, MasterKeyFileName)
		if _, err := os.Stat(local); err == nil {
			file = local
		} else if !haveKeys {
			// A new encrypted data dir without a key given: make one.
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("keys: %w", err)
			}
			text, err := NewMasterKey()
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(local, []byte(text+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("keys: %w", err)
			}
			log.Info("generated a master key inside the data dir; keep it elsewhere for production (--master-key-file), and back it up: without it the data cannot be read", "file", local)
			file = local
		}
	}
	master, err := LoadMasterKey(file)
	if err != nil {
		return nil, fmt.Errorf("the data dir %s is encrypted: %w", dataDir, err)
	}
	w, err := NewLocalWrapper(master)
	if err != nil {
		return nil, err
	}
	s, err := Open(dir, w, &Options{Logger: log, ReadOnly: o.ReadOnly})
	if errors.Is(err, ErrWrongMasterKey) {
		return nil, fmt.Errorf("the data dir %s is encrypted under another master key than the one given (%s): %w", dataDir, keySource(file), err)
	}
	return s, err
}

// keySource says where a master key came from, never the key.
func keySource(file string) string {
	if file != "" {
		return file
	}
	return "$" + MasterKeyEnv
}
