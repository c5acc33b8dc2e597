package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultFile is where the token file is under a data dir.
const DefaultFile = "auth/tokens.json"

// TokenPrefix starts every token's text: "jy_" + base64url(32 random bytes).
const TokenPrefix = "jy_"

// reloadEvery is how often Authenticate looks whether the file changed
// (a token revoked while serve runs is refused within a second).
const reloadEvery = 250 * time.Millisecond

// The refusals of Authenticate (and of the Authorizer: Forbidden). Reason
// gives each one's short name, the label of the refusal counter.
var (
	ErrNoToken   = errors.New("no bearer token")
	ErrBadToken  = errors.New("the bearer token is not known")
	ErrExpired   = errors.New("the bearer token has expired")
	ErrRevoked   = errors.New("the bearer token was revoked")
	ErrForbidden = errors.New("the token's role does not allow this")
)

// Reason is err's short name: missing, invalid, expired, revoked,
// forbidden ("" for another error).
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrNoToken):
		return "missing"
	case errors.Is(err, ErrBadToken):
		return "invalid"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrRevoked):
		return "revoked"
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	}
	return ""
}

// TokenInfo is what the file keeps of one token: never its text, only
// its SHA-256 hash (which List does not show either).
type TokenInfo struct {
	Name         string     `json:"name"`
	Role         Role       `json:"role"`
	Created      time.Time  `json:"created"`
	Expires      *time.Time `json:"expires,omitempty"`
	Revoked      *time.Time `json:"revoked,omitempty"`
	SourcePrefix string     `json:"source_prefix,omitempty"`
	Hash         string     `json:"sha256,omitempty"` // hex; empty in List
}

// Principal is who the token authenticates as.
func (t TokenInfo) Principal() Principal {
	return Principal{Name: t.Name, Role: t.Role, SourcePrefix: t.SourcePrefix}
}

// file is the token file's JSON.
type file struct {
	Version int         `json:"version"`
	Tokens  []TokenInfo `json:"tokens"`
}

// snapshot is the file as last read: its tokens by hash.
type snapshot struct {
	byHash map[[sha256.Size]byte]entry
	list   []TokenInfo
	stat   fs.FileInfo // nil: the file did not exist
}

// entry is one token of a snapshot: what the file keeps and its hash.
type entry struct {
	info *TokenInfo
	hash [sha256.Size]byte
}

// Tokens is the token file: create, list, revoke, and authenticate a
// bearer token. The file is rewritten atomically (a temporary file
// renamed over it) with mode 0600; Authenticate rereads it when it
// changed, so a token created or revoked by another process (journey
// token revoke while serve runs) counts within a second.
type Tokens struct {
	path string
	mu   sync.Mutex // serializes Create, Revoke and reloads
	snap atomic.Pointer[snapshot]
	// nextCheck is when (unix nanos) Authenticate next stats the file.
	nextCheck atomic.Int64
	clock     func() time.Time
}

// OpenTokens reads the token file at path. A missing file is an empty
// set of tokens (Create makes it, and its directory, mode 0700); a file
// that others than its owner may write, or that is not the token file's
// JSON, is an error.
func OpenTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path, clock: time.Now}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Path is the file's path.
func (t *Tokens) Path() string { return t.path }

// SetClock sets the clock that expiry is judged by (tests); nil: time.Now.
func (t *Tokens) SetClock(clock func() time.Time) {
	if clock == nil {
		clock = time.Now
	}
	t.clock = clock
}

// reload reads the file into a new snapshot. t.mu is held.
func (t *Tokens) reload() error {
	st, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.snap.Store(&snapshot{byHash: map[[sha256.Size]byte]entry{}})
		return nil
	}
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("token file %s: mode %v lets others than its owner write it; want 0600 (chmod 600 %s)",
			t.path, st.Mode().Perm(), t.path)
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("token file %s is not a journey token file: %v", t.path, err)
	}
	s := &snapshot{byHash: make(map[[sha256.Size]byte]entry, len(f.Tokens)), list: f.Tokens, stat: st}
	for i := range f.Tokens {
		ti := &f.Tokens[i]
		h, err := hex.DecodeString(ti.Hash)
		if err != nil || len(h) != sha256.Size {
			return fmt.Errorf("token file %s: token %q: sha256 is not 64 hex digits", t.path, ti.Name)
		}
		if _, err := ParseRole(string(ti.Role)); err != nil {
			return fmt.Errorf("token file %s: token %q: %v", t.path, ti.Name, err)
		}
		s.byHash[[sha256.Size]byte(h)] = entry{info: ti, hash: [sha256.Size]byte(h)}
	}
	t.snap.Store(s)
	return nil
}

// refresh rereads the file when it changed since the snapshot, at most
// every reloadEvery. A file that became unreadable keeps the last good
// snapshot (and the change is retried).
func (t *Tokens) refresh() {
	now := time.Now().UnixNano()
	next := t.nextCheck.Load()
	if now < next || !t.nextCheck.CompareAndSwap(next, now+int64(reloadEvery)) {
		return
	}
	st, err := os.Stat(t.path)
	old := t.snap.Load().stat
	switch {
	case err != nil && old == nil:
		return
	case err == nil && old != nil && os.SameFile(st, old) && st.ModTime().Equal(old.ModTime()) && st.Size() == old.Size():
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = t.reload()
}

// hashOf is the SHA-256 of a token's text.
func hashOf(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// Authenticate is the principal of the bearer token text, or ErrNoToken
// (empty), ErrBadToken (not a token of the file), ErrExpired or
// ErrRevoked (with the principal the token was, to name it). The text is hashed and looked up by its hash, then the
// stored hash compared in constant time: what a lookup's timing could
// tell is about a SHA-256 digest, never about the token's text.
func (t *Tokens) Authenticate(token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrNoToken
	}
	t.refresh()
	h := hashOf(token)
	e, ok := t.snap.Load().byHash[h]
	if !ok || subtle.ConstantTimeCompare(h[:], e.hash[:]) != 1 {
		return Principal{}, ErrBadToken
	}
	ti := e.info
	if ti.Revoked != nil {
		return ti.Principal(), ErrRevoked
	}
	if ti.Expires != nil && !t.clock().Before(*ti.Expires) {
		return ti.Principal(), ErrExpired
	}
	return ti.Principal(), nil
}

// List is every token of the file (revoked ones too), without hashes, in
// the order they were created.
func (t *Tokens) List() []TokenInfo {
	t.refresh()
	list := slices.Clone(t.snap.Load().list)
	for i := range list {
		list[i].Hash = ""
	}
	return list
}

// ValidName checks a token's name: 1 to 64 ASCII letters, digits and
// . _ - : @ (names are shown in logs, metrics and the access log).
func ValidName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("token name %q must be 1 to 64 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-', c == ':', c == '@':
		default:
			return fmt.Errorf("token name %q may hold only letters, digits and . _ - : @", name)
		}
	}
	return nil
}

// Create makes a token named name with role, valid for expires from now
// (0: without end) and, for a writer, limited to events whose source
// starts with sourcePrefix (""; any source). It returns the token's text
// — shown once: the file keeps only its hash — and what the file keeps.
// A name is used once (a revoked token stays listed under its name).
func (t *Tokens) Create(name string, role Role, expires time.Duration, sourcePrefix string) (string, TokenInfo, error) {
	if err := ValidName(name); err != nil {
		return "", TokenInfo{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", TokenInfo{}, err
	}
	if expires < 0 {
		return "", TokenInfo{}, fmt.Errorf("expires %v is negative; want a duration from now, or 0 for none", expires)
	}
	if sourcePrefix != "" && role != Writer {
		return "", TokenInfo{}, fmt.Errorf("source prefix %q is for writer tokens only (role %s appends nothing)", sourcePrefix, role)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", TokenInfo{}, fmt.Errorf("token: %w", err)
	}
	text := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := hashOf(text)
	now := t.clock().UTC().Truncate(time.Second)
	ti := TokenInfo{Name: name, Role: role, Created: now, SourcePrefix: sourcePrefix, Hash: hex.EncodeToString(h[:])}
	if expires > 0 {
		e := now.Add(expires)
		ti.Expires = &e
	}
	err := t.update(func(list []TokenInfo) ([]TokenInfo, error) {
		for _, o := range list {
			if o.Name == name {
				return nil, fmt.Errorf("a token named %q exists already (revoked tokens stay listed); pick another name", name)
			}
		}
		return append(list, ti), nil
	})
	if err != nil {
		return "", TokenInfo{}, err
	}
	out := ti
	out.Hash = ""
	return text, out, nil
}

// Revoke marks the token named name revoked: from then on (within a
// second in a running serve) it is refused.
func (t *Tokens) Revoke(name string) (TokenInfo, error) {
	var out TokenInfo
	err := t.update(func(list []TokenInfo) ([]TokenInfo, error) {
		for i := range list {
			if list[i].Name == name {
				if list[i].Revoked == nil {
					now := t.clock().UTC().Truncate(time.Second)
					list[i].Revoked = &now
				}
				out = list[i]
				out.Hash = ""
				return list, nil
			}
		}
		return nil, fmt.Errorf("no token named %q (journey token list shows them)", name)
	})
	return out, err
}

// update rereads the file, applies fn and writes the result atomically.
func (t *Tokens) update(fn func([]TokenInfo) ([]TokenInfo, error)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reload(); err != nil {
		return err
	}
	list, err := fn(slices.Clone(t.snap.Load().list))
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(file{Version: 1, Tokens: list}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(t.path, append(b, '\n')); err != nil {
		return err
	}
	return t.reload()
}

// writeAtomic writes b to path through a temporary file of mode 0600 in
// the same directory, fsynced and renamed over path.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tokens-*.tmp")
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: nothing there
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// maxExpiry is the longest lifetime a token may be given: 36500 days.
const maxExpiry = 36500 * 24 * time.Hour

// ParseExpiry parses a token's lifetime: a Go duration ("36h", "90m") or
// a number of days ("90d"); "" or "0" is none (0).
func ParseExpiry(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > 36500 {
			return 0, fmt.Errorf("expires %q: want a number of days from 1 to 36500 (90d) or a duration from 1s to 876000h (36h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	// A token's times are whole seconds: under 1s it would be expired
	// when made.
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > maxExpiry {
		return 0, fmt.Errorf("expires %q: want a number of days from 1 to 36500 (90d) or a duration from 1s to 876000h (36h)", s)
	}
	return d, nil
}
