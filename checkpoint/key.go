package checkpoint

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/journey-cdp/journey/eventstore"
)

// DirName is the checkpoint directory in the data dir; KeyFileName the
// signing key in it (PKCS #8 PEM, mode 0600).
const (
	DirName     = "checkpoint"
	KeyFileName = "ed25519.key"
)

// Dir is the checkpoint directory of a data dir.
func Dir(dataDir string) string { return filepath.Join(dataDir, DirName) }

// KeyPath is the signing key's file of a data dir.
func KeyPath(dataDir string) string { return filepath.Join(Dir(dataDir), KeyFileName) }

// Key is the engine's signing key.
type Key struct{ priv ed25519.PrivateKey }

// NewKey wraps a private key (tests, tools).
func NewKey(priv ed25519.PrivateKey) *Key { return &Key{priv: priv} }

// ErrNoKey: the data dir has no signing key yet.
var ErrNoKey = errors.New("checkpoint: no signing key")

// LoadKey reads the signing key of a data dir (ErrNoKey when there is none).
func LoadKey(dataDir string) (*Key, error) {
	path := KeyPath(dataDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: journey serve makes one on its first start, journey checkpoint key on a stopped engine's data dir", ErrNoKey, path)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read the signing key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("checkpoint: %s is not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("checkpoint: %s is not an Ed25519 key", path)
	}
	return &Key{priv: priv}, nil
}

// LoadOrCreateKey reads the signing key of a data dir, making one (mode
// 0600, written to a temporary file, fsynced and renamed into place) when
// there is none; created says it did.
func LoadOrCreateKey(dataDir string) (k *Key, created bool, err error) {
	k, err = LoadKey(dataDir)
	if !errors.Is(err, ErrNoKey) {
		return k, false, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("checkpoint: generate a key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, false, err
	}
	dir := Dir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ed25519.key-*")
	if err != nil {
		return nil, false, fmt.Errorf("checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("checkpoint: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("checkpoint: write the key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("checkpoint: write the key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("checkpoint: write the key: %w", err)
	}
	// Link, not rename: of two processes making the key at once, one wins
	// and the other reads the winner's.
	if err := os.Link(tmp.Name(), KeyPath(dataDir)); err != nil {
		if errors.Is(err, os.ErrExist) {
			k, err := LoadKey(dataDir)
			return k, false, err
		}
		return nil, false, fmt.Errorf("checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return &Key{priv: priv}, true, nil
}

// Public is the key's public half.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// PublicText is the public key as checkpoints and journey checkpoint key show it.
func (k *Key) PublicText() string { return EncodePublicKey(k.Public()) }

// Sign signs (seq, head, t) without anchors.
func (k *Key) Sign(seq uint64, head [32]byte, t time.Time) Checkpoint {
	return k.sign(Checkpoint{Version: Version, Seq: seq, Hash: hex.EncodeToString(head[:]), Time: t.UTC().Round(0)})
}

func (k *Key) sign(c Checkpoint) Checkpoint {
	c.Key = k.PublicText()
	c.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, c.Message()))
	return c
}

// Take signs the durable head of store at t, with its anchors.
func (k *Key) Take(ctx context.Context, store *eventstore.Store, t time.Time) (Checkpoint, error) {
	seq, head := store.Head()
	c := Checkpoint{Version: Version, Seq: seq, Hash: hex.EncodeToString(head[:]), Time: t.UTC().Round(0)}
	stride, seqs := AnchorSeqs(seq)
	if len(seqs) > 0 {
		c.AnchorEvery = stride
		c.Anchors = make([]string, 0, len(seqs))
		err := store.RecordHashes(ctx, seqs, func(_ uint64, h [32]byte) error {
			c.Anchors = append(c.Anchors, hex.EncodeToString(h[:]))
			return nil
		})
		if err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint: read the anchors: %w", err)
		}
	}
	return k.sign(c), nil
}
