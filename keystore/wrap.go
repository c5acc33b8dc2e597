package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// A Wrapper encrypts and decrypts the data keys (and the store's own
// secrets) under a master key. The local one keeps the master key in
// memory; an external KMS implements the same two calls.
type Wrapper interface {
	Wrap(plaintext []byte) ([]byte, error)
	Unwrap(wrapped []byte) ([]byte, error)
}

// MasterKeyLen is the length of a master key: 32 bytes (AES-256).
const MasterKeyLen = 32

// MasterKeyEnv is the environment variable that may hold the master key.
const MasterKeyEnv = "JOURNEY_MASTER_KEY"

// LocalWrapper wraps with AES-256-GCM under a master key held in memory:
// nonce(12) | ciphertext and tag.
type LocalWrapper struct{ aead cipher.AEAD }

// NewLocalWrapper returns the wrapper of a 32-byte master key.
func NewLocalWrapper(master []byte) (*LocalWrapper, error) {
	if len(master) != MasterKeyLen {
		return nil, fmt.Errorf("master key: %d bytes, want %d", len(master), MasterKeyLen)
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &LocalWrapper{aead: aead}, nil
}

// Wrap seals plaintext under the master key with a random nonce.
func (w *LocalWrapper) Wrap(plaintext []byte) ([]byte, error) {
	out := make([]byte, 12, 12+len(plaintext)+16)
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return w.aead.Seal(out, out[:12], plaintext, nil), nil
}

// Unwrap opens what Wrap sealed.
func (w *LocalWrapper) Unwrap(wrapped []byte) ([]byte, error) {
	if len(wrapped) < 12+16 {
		return nil, errors.New("wrapped key too short")
	}
	return w.aead.Open(nil, wrapped[:12], wrapped[12:], nil)
}

// NewMasterKey returns a random master key in the text form that
// ParseMasterKey reads (64 hex digits).
func NewMasterKey() (string, error) {
	k := make([]byte, MasterKeyLen)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return hex.EncodeToString(k), nil
}

// ParseMasterKey reads a master key written as 64 hex digits or as
// standard base64 of 32 bytes (surrounding space ignored).
func ParseMasterKey(text string) ([]byte, error) {
	t := strings.TrimSpace(text)
	if k, err := hex.DecodeString(t); err == nil && len(k) == MasterKeyLen {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(t); err == nil && len(k) == MasterKeyLen {
		return k, nil
	}
	return nil, fmt.Errorf("master key: want %d bytes as 64 hex digits or base64", MasterKeyLen)
}

// LoadMasterKey reads the master key from file (when not "") or from the
// environment variable JOURNEY_MASTER_KEY. The error never shows the key.
func LoadMasterKey(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("master key file: %w", err)
		}
		k, err := ParseMasterKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return k, nil
	}
	if v := os.Getenv(MasterKeyEnv); v != "" {
		k, err := ParseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", MasterKeyEnv, err)
		}
		return k, nil
	}
	return nil, errors.New("no master key: pass --master-key-file FILE or set $" + MasterKeyEnv)
}
