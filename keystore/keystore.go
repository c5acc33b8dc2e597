package keystore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/journey-cdp/journey/internal/freshwal"
	"github.com/journey-cdp/journey/internal/keyspace"
	"github.com/journey-cdp/journey/internal/pebbleguard"
	"github.com/journey-cdp/journey/internal/rofs"
	"github.com/journey-cdp/journey/internal/sealing"
)

// Errors of the key store.
var (
	// ErrWrongMasterKey: the master key does not unwrap the store's check
	// record; it is not the key the store was created with.
	ErrWrongMasterKey = errors.New("the master key does not open this key store (not the key it was created with)")
	// ErrErased: the customer's data key was destroyed (journey forget).
	// It has the method Erased() bool (true) that eventstore looks for.
	ErrErased error = erasedError{}
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("key store: closed")
	// ErrTampered: a sealed value failed authentication.
	ErrTampered = errors.New("sealed bytes fail authentication (altered, or sealed under another key)")
	// ErrKeyMissing: a sealed value's data key is not in the store and
	// was never destroyed (no tombstone): the store lost it (damaged, or
	// an older copy), or it is not the key store of the log. Not ErrErased:
	// nothing was forgotten.
	ErrKeyMissing error = keyMissingError{}
)

type keyMissingError struct{}

func (keyMissingError) Error() string {
	return "its customer's data key is missing from the key store (keys/) and no erasure of it is recorded: the key store is damaged, older than the log or not its own; restore keys/ from a backup"
}

// KeyMissing marks the error for eventstore, which does not take it for
// an erasure.
func (keyMissingError) KeyMissing() bool { return true }

type erasedError struct{}

func (erasedError) Error() string { return "erased: the customer's data key was destroyed" }
func (erasedError) Erased() bool  { return true }

// Key layout of the key store's Pebble database (<data>/keys):
//
//	"m/check"            the wrapped check value: proves the master key at Open
//	"m/pseudonym"        the wrapped pseudonym secret (HMAC-SHA-256 key)
//	"k/" pseudonym       the customer's wrapped data key (64 bytes: AES-256 key | nonce key)
//	"t/" pseudonym       tombstone JSON {"erased_at","reason"} once the data key is destroyed
var (
	keyCheck     = []byte("m/check")
	keyPseudonym = []byte("m/pseudonym")
	prefixDEK    = []byte("k/")
	prefixTomb   = []byte("t/")
	checkValue   = []byte("journey keystore v1")
	keyTurnover  = []byte("m/turnover") // written by Destroy only to turn the files over
)

// dekLen is a data key: 32 bytes of AES-256 key, 32 bytes of the key that
// derived the nonces before they were random (still made, so that every
// key has one length).
const dekLen = 64

// PseudonymLen is the length of a pseudonym: 32 lowercase hex digits, the
// first 128 bits of HMAC-SHA-256(secret, customer id).
const PseudonymLen = 32

// Options configure a Store.
type Options struct {
	Logger *slog.Logger     // nil: discard
	Clock  func() time.Time // nil: time.Now
	// CacheKeys bounds the data keys kept unwrapped in memory; 0: 65536.
	CacheKeys int
	// ReadOnly opens the store without writing: Seal of a customer without
	// a key fails.
	ReadOnly bool
	// FS is the file system (tests: a crashable one); nil: the OS's.
	FS vfs.FS
}

// withDefaults is o (nil: the zero Options) with every default filled in.
func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Clock == nil {
		r.Clock = time.Now
	}
	if r.CacheKeys <= 0 {
		r.CacheKeys = 65536
	}
	if r.FS == nil {
		r.FS = vfs.Default
	}
	return r
}

// Store keeps each customer's data key, wrapped by the master key, apart
// from the log. It seals and opens event bytes for eventstore (it is an
// eventstore.Sealer) and destroys a customer's key on erasure.
type Store struct {
	db      *pebble.DB
	wrapper Wrapper
	o       Options
	secret  []byte // pseudonym HMAC key

	mu      sync.RWMutex
	cache   map[string]*dataKey   // pseudonym → unwrapped key (every pending one too)
	pending map[string]pendingKey // keys created since the last Sync, not yet written
	carried map[string][]byte     // wrapped keys a read-only store got from the log (RestoreCarried)
	known   map[uint64]struct{}   // the first 64 bits of every pseudonym with a key or a tombstone
	syncMu  sync.Mutex            // one Sync or Destroy at a time
	closeMu sync.RWMutex          // held shared by the writes that may race with Close
	closed  bool                  // Close was called (closeMu)
	pads    hmacPads              // HMAC-SHA-256 under secret

	pmu   sync.RWMutex
	names map[string]*nameEntry // customer id → pseudonym and key, the recent ones
	// epoch counts the keys destroyed (evict): a nameEntry's key is used
	// only while the epoch it was looked up in is still the current one.
	epoch atomic.Uint64
}

// nameEntry is a recent customer's pseudonym and, once looked up, data
// key, so that sealing an event costs one lookup.
type nameEntry struct {
	p     string
	k     *dataKey // nil: not looked up yet (pmu)
	epoch uint64   // s.epoch when k was looked up (pmu)
}

// dataKey is one customer's unwrapped key.
type dataKey struct {
	aead cipher.AEAD
}

// hmacPads are an HMAC-SHA-256 key's inner and outer pad blocks: the MAC
// of a message is sha256(opad | sha256(ipad | message)), computed with a
// pooled digest and no lock (crypto/hmac's Reset restores saved digest
// states, which cost more than the whole MAC of an event).
type hmacPads struct {
	ipad, opad [sha256.BlockSize]byte
}

func newHMACPads(key []byte) hmacPads {
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	var p hmacPads
	copy(p.ipad[:], key)
	copy(p.opad[:], key)
	for i := range p.ipad {
		p.ipad[i] ^= 0x36
		p.opad[i] ^= 0x5c
	}
	return p
}

var digests = sync.Pool{New: func() any { return sha256.New() }}

// mac returns HMAC-SHA-256 of the concatenated parts.
func (p *hmacPads) mac(parts ...[]byte) [sha256.Size]byte {
	d := digests.Get().(hash.Hash)
	d.Reset()
	d.Write(p.ipad[:])
	for _, b := range parts {
		d.Write(b)
	}
	var inner, out [sha256.Size]byte
	d.Sum(inner[:0])
	d.Reset()
	d.Write(p.opad[:])
	d.Write(inner[:])
	d.Sum(out[:0])
	digests.Put(d)
	return out
}

// Open opens (creating when missing) the key store in dir, its keys
// wrapped by w. A store created under another master key is refused with
// ErrWrongMasterKey, before anything is read or written.
func Open(dir string, w Wrapper, o *Options) (*Store, error) {
	opts := o.withDefaults()
	// A WAL reused keeps its old tail: freshwal removes it instead; Destroy
	// turns the WALs over so the one that logged a destroyed key is gone.
	fs := freshwal.FS(opts.FS)
	if opts.ReadOnly {
		// Pebble locks the directory even read-only; on a read-only file
		// system nothing can be writing, and the lock cannot be taken.
		fs = rofs.FS(fs)
	}
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: opts.ReadOnly, Logger: quietLogger{},
		FS: fs, MemTableStopWritesThreshold: 2})
	if err != nil {
		return nil, fmt.Errorf("key store %s: %w", dir, err)
	}
	s := &Store{db: db, wrapper: w, o: opts, cache: map[string]*dataKey{},
		pending: map[string]pendingKey{}, known: map[uint64]struct{}{}, names: map[string]*nameEntry{},
		carried: map[string][]byte{}}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadKnown(); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.pads = newHMACPads(s.secret)
	return s, nil
}

// init checks the master key against the check record and loads the
// pseudonym secret, creating both in a new store.
func (s *Store) init() error {
	wrapped, err := s.get(keyCheck)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if s.o.ReadOnly {
			return errors.New("key store: empty, and opened read-only")
		}
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		wc, err := s.wrapper.Wrap(checkValue)
		if err != nil {
			return fmt.Errorf("key store: wrap: %w", err)
		}
		ws, err := s.wrapper.Wrap(secret)
		if err != nil {
			return fmt.Errorf("key store: wrap: %w", err)
		}
		b := s.db.NewBatch()
		_ = b.Set(keyPseudonym, ws, nil)
		_ = b.Set(keyCheck, wc, nil)
		if err := guard(func() error { return b.Commit(pebble.Sync) }); err != nil {
			return fmt.Errorf("key store: %w", err)
		}
		s.secret = secret
		return nil
	case err != nil:
		return fmt.Errorf("key store: %w", err)
	}
	check, err := s.wrapper.Unwrap(wrapped)
	if err != nil || !bytes.Equal(check, checkValue) {
		return ErrWrongMasterKey
	}
	ws, err := s.get(keyPseudonym)
	if err != nil {
		return fmt.Errorf("key store: pseudonym secret: %w", err)
	}
	if s.secret, err = s.wrapper.Unwrap(ws); err != nil {
		return fmt.Errorf("key store: pseudonym secret: %w", err)
	}
	return nil
}

// loadKnown fills known from the keys and tombstones in the store: a
// pseudonym it does not hold is new without a lookup (a new customer's
// first event costs no read of the store).
func (s *Store) loadKnown() error {
	for _, prefix := range [][]byte{prefixDEK, prefixTomb} {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: keyspace.PrefixEnd(prefix)})
		if err != nil {
			return fmt.Errorf("key store: %w", err)
		}
		for it.First(); it.Valid(); it.Next() {
			s.known[knownKey(it.Key()[len(prefix):])] = struct{}{}
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("key store: %w", err)
		}
	}
	return nil
}

// knownKey is a pseudonym's entry in known: its first 64 bits (a
// pseudonym is HMAC output, so a shorter or foreign one only costs a
// lookup when two share them).
func knownKey[T string | []byte](pseudonym T) uint64 {
	var k uint64
	for i := 0; i < len(pseudonym) && i < 16; i++ {
		k = k<<4 | uint64(unhex(pseudonym[i]))
	}
	return k
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c & 0xf
}

func (s *Store) get(k []byte) ([]byte, error) {
	v, closer, err := s.db.Get(k)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// Close makes the keys created since the last Sync durable and closes
// the store.
func (s *Store) Close() error {
	err := s.Sync()
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Pseudonym is the keyed pseudonym of a customer id that the log's index
// keys and record headers carry instead of the id.
func (s *Store) Pseudonym(customer string) string {
	return s.entry(customer).p
}

// entry is the customer's name entry, made (and cached) when missing.
func (s *Store) entry(customer string) *nameEntry {
	s.pmu.RLock()
	e := s.names[customer]
	s.pmu.RUnlock()
	if e != nil {
		return e
	}
	e = &nameEntry{p: s.pseudonym(customer)}
	s.pmu.Lock()
	if len(s.names) >= s.o.CacheKeys {
		clear(s.names)
	}
	if other := s.names[customer]; other != nil {
		e = other
	} else {
		s.names[strings.Clone(customer)] = e
	}
	s.pmu.Unlock()
	return e
}

func (s *Store) pseudonym(customer string) string {
	sum := s.pads.mac(unsafe.Slice(unsafe.StringData(customer), len(customer)))
	return hex.EncodeToString(sum[:PseudonymLen/2])
}

// SealKey returns the customer's pseudonym and data key (created on first
// use), for eventstore: one lookup for a recent customer. ErrErased when
// the key was destroyed.
func (s *Store) SealKey(customer string) (string, sealing.Key, error) {
	e := s.entry(customer)
	s.pmu.RLock()
	k, ep := e.k, e.epoch
	s.pmu.RUnlock()
	if k != nil && ep == s.epoch.Load() {
		return e.p, k, nil
	}
	ep = s.epoch.Load() // before the lookup: a key destroyed meanwhile leaves a stale epoch
	k, err := s.key(e.p, true)
	if err != nil {
		return e.p, nil, err
	}
	s.pmu.Lock()
	e.k, e.epoch = k, ep
	s.pmu.Unlock()
	return e.p, k, nil
}

// key returns the unwrapped data key of a pseudonym, creating it when
// create and it does not exist. ErrErased when it was destroyed. The
// store is read and a new key made outside the lock, so that sealing runs
// in parallel; a key created meanwhile by another caller wins.
func (s *Store) key(pseudonym string, create bool) (*dataKey, error) {
	for {
		s.mu.RLock()
		k := s.cache[pseudonym]
		_, known := s.known[knownKey(pseudonym)]
		s.mu.RUnlock()
		if k != nil {
			return k, nil
		}
		var dek, wrapped []byte
		if known {
			w, err := s.get(append(bytes.Clone(prefixDEK), pseudonym...))
			switch {
			case err == nil:
				if dek, err = s.wrapper.Unwrap(w); err != nil || len(dek) != dekLen {
					return nil, fmt.Errorf("key store: the data key of %s does not unwrap", pseudonym)
				}
			case errors.Is(err, pebble.ErrNotFound):
				if _, terr := s.get(append(bytes.Clone(prefixTomb), pseudonym...)); terr == nil {
					return nil, ErrErased
				}
				s.mu.RLock()
				w := s.carried[pseudonym]
				s.mu.RUnlock()
				if w != nil {
					if dek, err = s.wrapper.Unwrap(w); err != nil || len(dek) != dekLen {
						return nil, fmt.Errorf("key store: the data key of %s does not unwrap", pseudonym)
					}
				}
			default:
				return nil, fmt.Errorf("key store: %w", err)
			}
		}
		if dek == nil {
			if !create {
				// No key and no tombstone (that is ErrErased, above), yet
				// something was sealed under it: the key was lost.
				return nil, ErrKeyMissing
			}
			if s.o.ReadOnly {
				return nil, errors.New("key store: opened read-only, cannot create a data key")
			}
			dek = make([]byte, dekLen)
			if _, err := rand.Read(dek); err != nil {
				return nil, err
			}
			var err error
			if wrapped, err = s.wrapper.Wrap(dek); err != nil {
				return nil, fmt.Errorf("key store: wrap: %w", err)
			}
		}
		k, err := newDataKey(dek)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if other := s.cache[pseudonym]; other != nil {
			s.mu.Unlock()
			return other, nil // another caller's, made meanwhile
		}
		if _, now := s.known[knownKey(pseudonym)]; wrapped != nil && now && !known {
			// Made (or destroyed) by another caller since our look, and
			// no longer cached: look again rather than shadow it.
			s.mu.Unlock()
			continue
		}
		if wrapped != nil {
			// Written and made durable by Sync, which the log calls
			// before it commits the events sealed under it.
			s.pending[pseudonym] = pendingKey{wrapped: wrapped, k: k}
			s.known[knownKey(pseudonym)] = struct{}{}
		}
		if len(s.cache) >= s.o.CacheKeys {
			clear(s.cache)
			for p, pk := range s.pending { // a pending key lives only here until Sync
				s.cache[p] = pk.k
			}
		}
		s.cache[pseudonym] = k
		s.mu.Unlock()
		return k, nil
	}
}

// pendingKey is a data key made since the last Sync.
type pendingKey struct {
	wrapped []byte
	k       *dataKey
}

func newDataKey(dek []byte) (*dataKey, error) {
	block, err := aes.NewCipher(dek[:32])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &dataKey{aead: aead}, nil
}

// Sync makes the data keys created so far durable: one synced batch of
// them (nothing to do when none was created since the last Sync). The log
// calls it before committing events sealed under new keys, so an
// acknowledged event's key is never lost.
func (s *Store) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.mu.RLock()
	n := len(s.pending)
	s.mu.RUnlock()
	if n == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	s.mu.RLock()
	written := make([]string, 0, len(s.pending))
	for p, pk := range s.pending {
		_ = b.Set(append(bytes.Clone(prefixDEK), p...), pk.wrapped, nil)
		written = append(written, p)
	}
	s.mu.RUnlock()
	if err := guard(func() error { return s.db.Apply(b, pebble.Sync) }); err != nil {
		return fmt.Errorf("key store: sync: %w", err)
	}
	// Keys made meanwhile stay pending for the next Sync; Destroy waits
	// for syncMu, so none of these was destroyed since.
	s.mu.Lock()
	for _, p := range written {
		delete(s.pending, p)
	}
	s.mu.Unlock()
	return nil
}

// TakeNew writes the data keys created since the last TakeNew or Sync to
// the store without waiting for its fsync and returns them: the log
// carries them in the batch of the events sealed under them, so that one
// fsync makes both durable, until SyncTaken has made them durable here
// (eventstore.KeyCarrier).
func (s *Store) TakeNew() ([]sealing.CarriedKey, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.mu.RLock()
	n := len(s.pending)
	s.mu.RUnlock()
	if n == 0 {
		return nil, nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	s.mu.RLock()
	out := make([]sealing.CarriedKey, 0, len(s.pending))
	for p, pk := range s.pending {
		_ = b.Set(append(bytes.Clone(prefixDEK), p...), pk.wrapped, nil)
		out = append(out, sealing.CarriedKey{Pseudonym: p, Wrapped: pk.wrapped})
	}
	s.mu.RUnlock()
	if err := guard(func() error { return s.db.Apply(b, pebble.NoSync) }); err != nil {
		return nil, fmt.Errorf("key store: write keys: %w", err)
	}
	s.mu.Lock()
	for _, k := range out {
		delete(s.pending, k.Pseudonym)
	}
	s.mu.Unlock()
	return out, nil
}

// SyncTaken makes every key written so far durable (an fsync of the
// store's WAL): the log may then drop the copies it carries.
func (s *Store) SyncTaken() error {
	s.closeMu.RLock() // not syncMu: TakeNew goes on during the fsync
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := guard(func() error { return s.db.LogData(nil, pebble.Sync) }); err != nil {
		return fmt.Errorf("key store: sync: %w", err)
	}
	return nil
}

// RestoreCarried takes back the keys the log still carries — what a crash
// between the log's commit and the store's own fsync left only there —
// writing, synced, those the store lacks; a destroyed key (tombstone) is
// not restored and counted in destroyed. A read-only store keeps them in
// memory.
func (s *Store) RestoreCarried(keys []sealing.CarriedKey) (restored, destroyed int, err error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for _, k := range keys {
		if _, err := s.get(append(bytes.Clone(prefixTomb), k.Pseudonym...)); err == nil {
			destroyed++
			continue
		}
		if _, err := s.get(append(bytes.Clone(prefixDEK), k.Pseudonym...)); err == nil {
			continue
		} else if !errors.Is(err, pebble.ErrNotFound) {
			return restored, destroyed, fmt.Errorf("key store: %w", err)
		}
		restored++
		s.mu.Lock()
		s.known[knownKey(k.Pseudonym)] = struct{}{}
		if s.o.ReadOnly {
			s.carried[k.Pseudonym] = bytes.Clone(k.Wrapped)
		}
		s.mu.Unlock()
		_ = b.Set(append(bytes.Clone(prefixDEK), k.Pseudonym...), k.Wrapped, nil)
	}
	if restored > 0 && !s.o.ReadOnly {
		if err := guard(func() error { return s.db.Apply(b, pebble.Sync) }); err != nil {
			return 0, destroyed, fmt.Errorf("key store: restore keys: %w", err)
		}
	}
	return restored, destroyed, nil
}

// sealedFormat is the first byte of a sealed value.
const sealedFormat byte = 1

// Overhead is what sealing adds to the plaintext: format, nonce, tag.
const Overhead = 1 + 12 + 16

// Seal appends to dst the plaintext sealed under the pseudonym's data key
// (created on first use) with ad as associated data:
// format(1)=1 | nonce(12) | AES-256-GCM ciphertext and tag. The nonce is
// random (crypto/rand), so the same event sealed twice gives other bytes:
// the log's idempotency compares plaintexts. (Data dirs made before
// derived it as HMAC-SHA-256(nonce key, ad | plaintext); Open needs no
// change for them.)
func (s *Store) Seal(dst []byte, pseudonym string, ad, plaintext []byte) ([]byte, error) {
	k, err := s.key(pseudonym, true)
	if err != nil {
		return dst, err
	}
	return k.Seal(dst, ad, plaintext), nil
}

// Seal appends plaintext sealed under the key with ad as associated data
// (the format of Store.Seal).
func (k *dataKey) Seal(dst, ad, plaintext []byte) []byte {
	var nonce [12]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	dst = append(dst, sealedFormat)
	dst = append(dst, nonce[:]...)
	return k.aead.Seal(dst, nonce[:], plaintext, ad)
}

// Open appends to dst the plaintext of sealed. ErrErased when the
// pseudonym's data key was destroyed, ErrTampered when the bytes fail
// authentication.
func (s *Store) Open(dst []byte, pseudonym []byte, ad, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead || sealed[0] != sealedFormat {
		return dst, ErrTampered
	}
	s.mu.RLock()
	k := s.cache[string(pseudonym)]
	s.mu.RUnlock()
	var err error
	if k == nil {
		k, err = s.key(string(pseudonym), false)
	}
	if err != nil {
		return dst, err
	}
	out, err := k.aead.Open(dst, sealed[1:13], sealed[13:], ad)
	if err != nil {
		return dst, ErrTampered
	}
	return out, nil
}

// Tombstone records an erasure.
type Tombstone struct {
	ErasedAt time.Time `json:"erased_at"`
	Reason   string    `json:"reason"`
}

// Erased reports whether the pseudonym's key was destroyed, and when and why.
func (s *Store) Erased(pseudonym string) (Tombstone, bool, error) {
	v, err := s.get(append(bytes.Clone(prefixTomb), pseudonym...))
	if errors.Is(err, pebble.ErrNotFound) {
		return Tombstone{}, false, nil
	}
	if err != nil {
		return Tombstone{}, false, err
	}
	var t Tombstone
	if err := json.Unmarshal(v, &t); err != nil {
		return Tombstone{}, false, fmt.Errorf("key store: tombstone of %s: %w", pseudonym, err)
	}
	return t, true, nil
}

// Destroy destroys the pseudonym's data key, leaving a tombstone (when,
// why), and forces the key's bytes out of the store's files: the deletion
// is synced, the memtable flushed and the key range compacted, so no
// sstable or WAL the store keeps still holds the wrapped key. Destroying
// again is a no-op that keeps the first tombstone.
func (s *Store) Destroy(pseudonym, reason string) (Tombstone, error) {
	t, err := s.tombstone(pseudonym, reason)
	if err != nil {
		return Tombstone{}, err
	}
	// The purge (flushes, a compaction) runs without syncMu: the key is
	// neither written nor pending any more, so the log's Syncs go on.
	return t, s.purgeKey(pseudonym)
}

// tombstone deletes the pseudonym's key and writes its tombstone, synced
// (the first one kept), and forgets the key in memory, under syncMu so
// that no Sync writes it afterwards.
func (s *Store) tombstone(pseudonym, reason string) (Tombstone, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if t, ok, err := s.Erased(pseudonym); err != nil || ok {
		if ok {
			s.evict(pseudonym)
		}
		return t, err
	}
	t := Tombstone{ErasedAt: s.o.Clock().UTC(), Reason: reason}
	tv, err := json.Marshal(t)
	if err != nil {
		return Tombstone{}, err
	}
	b := s.db.NewBatch()
	_ = b.Delete(append(bytes.Clone(prefixDEK), pseudonym...), nil)
	_ = b.Set(append(bytes.Clone(prefixTomb), pseudonym...), tv, nil)
	if err := guard(func() error { return b.Commit(pebble.Sync) }); err != nil {
		return Tombstone{}, fmt.Errorf("key store: %w", err)
	}
	s.evict(pseudonym)
	return t, nil
}

// KeyErased is Erased for eventstore (an eventstore.KeyEraser).
func (s *Store) KeyErased(pseudonym string) (time.Time, string, bool, error) {
	t, ok, err := s.Erased(pseudonym)
	return t.ErasedAt, t.Reason, ok, err
}

// DestroyKey is Destroy for eventstore (an eventstore.Destroyer): when
// and why the key was first destroyed.
func (s *Store) DestroyKey(pseudonym, reason string) (time.Time, string, error) {
	t, err := s.Destroy(pseudonym, reason)
	return t.ErasedAt, t.Reason, err
}

// evict forgets the pseudonym's key in memory: cached, and pending (a
// key made but not yet synced is never written after its destruction).
func (s *Store) evict(pseudonym string) {
	s.mu.Lock()
	s.epoch.Add(1) // no name entry's key is used again without a lookup
	delete(s.cache, pseudonym)
	delete(s.pending, pseudonym)
	delete(s.carried, pseudonym)
	s.known[knownKey(pseudonym)] = struct{}{} // the tombstone
	s.mu.Unlock()
}

// purgeKey flushes the memtable and compacts the range of the pseudonym's
// key, so that its old value is gone from the store's sstables and WAL.
func (s *Store) purgeKey(pseudonym string) error {
	if err := guard(s.db.Flush); err != nil {
		return fmt.Errorf("key store: flush: %w", err)
	}
	k := append(bytes.Clone(prefixDEK), pseudonym...)
	if err := guard(func() error { return s.db.Compact(context.Background(), k, keyspace.PrefixEnd(k), true) }); err != nil {
		return fmt.Errorf("key store: compact: %w", err)
	}
	// Pebble keeps up to MemTableStopWritesThreshold+1 obsolete WALs for
	// reuse; each flush of a write starts the next WAL in the oldest one
	// (which freshwal removes first): turn them all over.
	for i := range 4 {
		if err := guard(func() error { return s.db.Set(keyTurnover, []byte{byte(i)}, pebble.NoSync) }); err != nil {
			return fmt.Errorf("key store: %w", err)
		}
		if err := guard(s.db.Flush); err != nil {
			return fmt.Errorf("key store: flush: %w", err)
		}
	}
	return nil
}

// quietLogger drops Pebble's informational logging; a fatal error (a
// failed WAL write or fsync: a full disk) panics with a pebbleguard.Fatal,
// which guard turns into the write's error.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(pebbleguard.Fatal(fmt.Sprintf(format, args...)))
}

// guard runs a write to the store's Pebble: a fatal error is the write's
// error, one from a full disk wraps syscall.ENOSPC.
func guard(write func() error) error { return pebbleguard.Run(write, syscall.ENOSPC) }
