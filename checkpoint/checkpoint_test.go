package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/checkpoint"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/logforge"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// appendEvents appends events from+1..from+n (customers c0..c4) to the log at dir.
func appendEvents(t *testing.T, dir string, from, n int) {
	t.Helper()
	s, err := eventstore.Open(dir, &eventstore.Options{NoSync: true, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var reqs []eventstore.Request
	for i := from + 1; i <= from+n; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		raw, err := journey.NewEvent(fmt.Sprintf("ev-%04d", i), "pos/test", journey.KindVisit, fmt.Sprintf("c%d", i%5), at,
			map[string]any{"channel": "store"})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := journey.Decode(raw, at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
	}
	res, err := s.Append(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || r.Duplicate {
			t.Fatalf("append: %+v", r)
		}
	}
}

// withStore opens the log at dir read-only for fn.
func withStore(t *testing.T, dir string, fn func(s *eventstore.Store)) {
	t.Helper()
	s, err := eventstore.Open(dir, &eventstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fn(s)
}

func newKey(t *testing.T) *checkpoint.Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return checkpoint.NewKey(priv)
}

// take signs the head of the log at dir.
func take(t *testing.T, dir string, key *checkpoint.Key) checkpoint.Checkpoint {
	t.Helper()
	s, err := eventstore.Open(dir, &eventstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cp, err := key.Take(context.Background(), s, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func verifySince(t *testing.T, dir string, cp checkpoint.Checkpoint, trusted ed25519.PublicKey) checkpoint.Report {
	t.Helper()
	var rep checkpoint.Report
	withStore(t, dir, func(s *eventstore.Store) {
		var err error
		if rep, err = checkpoint.VerifySince(context.Background(), s, cp, trusted); err != nil {
			t.Fatal(err)
		}
	})
	return rep
}

// chainVerifies asserts that the log's own chain verifies: the rewrite
// is invisible without the checkpoint.
func chainVerifies(t *testing.T, dir string) {
	t.Helper()
	withStore(t, dir, func(s *eventstore.Store) {
		rep, err := s.Verify(context.Background(), nil)
		if err != nil || !rep.OK {
			t.Fatalf("the forged log's own chain does not verify (%+v, %v): the forgery is not a full re-chain", rep, err)
		}
	})
}

// changeStore alters the "channel" of an event.
func changeStore(raw []byte) []byte {
	out := bytes.Replace(raw, []byte(`"store"`), []byte(`"web"`), 1)
	if bytes.Equal(out, raw) {
		panic("nothing changed")
	}
	return out
}

func TestMessageIsCanonical(t *testing.T) {
	var head [32]byte
	head[0] = 0xab
	cp := checkpoint.Checkpoint{Version: checkpoint.Version, Seq: 12, Hash: fmt.Sprintf("%x", head),
		Time: time.Date(2026, 3, 1, 10, 0, 0, 500, time.FixedZone("x", 3600)), AnchorEvery: 4,
		Anchors: []string{strings.Repeat("01", 32), strings.Repeat("02", 32)}}
	want := "journey-checkpoint-v1\nseq 12\nhash ab" + strings.Repeat("00", 31) + "\ntime 2026-03-01T09:00:00.0000005Z\n" +
		"anchor 4 " + strings.Repeat("01", 32) + "\nanchor 8 " + strings.Repeat("02", 32) + "\n"
	if got := string(cp.Message()); got != want {
		t.Fatalf("Message =\n%s\nwant\n%s", got, want)
	}
}

func TestSignVerifyAndParse(t *testing.T) {
	key := newKey(t)
	var head [32]byte
	head[3] = 7
	cp := key.Sign(42, head, t0)
	if err := cp.Verify(key.Public()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	b, err := cp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"seq":42`, `"hash":"00000007`, `"time":"2026-03-01T10:00:00Z"`, `"key":"` + key.PublicText() + `"`, `"sig":"`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("file %s lacks %s", b, field)
		}
	}
	cps, err := checkpoint.Parse(append(b, b...)) // two lines: a history
	if err != nil || len(cps) != 2 {
		t.Fatalf("Parse = %d, %v", len(cps), err)
	}
	if err := cps[1].Verify(key.Public()); err != nil {
		t.Fatalf("Verify after a round trip: %v", err)
	}
	altered := cps[0]
	altered.Seq = 41
	if err := altered.Verify(key.Public()); err != checkpoint.ErrBadSignature {
		t.Fatalf("altered seq: Verify = %v, want ErrBadSignature", err)
	}
	altered = cps[0]
	altered.Time = altered.Time.Add(time.Nanosecond)
	if err := altered.Verify(key.Public()); err != checkpoint.ErrBadSignature {
		t.Fatalf("altered time: Verify = %v, want ErrBadSignature", err)
	}
	if err := cps[0].Verify(newKey(t).Public()); err != checkpoint.ErrBadSignature {
		t.Fatalf("another key: Verify = %v, want ErrBadSignature", err)
	}
	if _, err := checkpoint.Parse([]byte(`{"seq":`)); err == nil {
		t.Fatal("Parse took a broken file")
	}
	for _, s := range []string{key.PublicText(), fmt.Sprintf("%x", []byte(key.Public())), " " + key.PublicText() + "\n"} {
		pk, err := checkpoint.ParsePublicKey(s)
		if err != nil || !pk.Equal(key.Public()) {
			t.Fatalf("ParsePublicKey(%q) = %v, %v", s, pk, err)
		}
	}
	if _, err := checkpoint.ParsePublicKey("not-a-key"); err == nil || !strings.Contains(err.Error(), "not an Ed25519 public key") {
		t.Fatalf("ParsePublicKey(junk) = %v", err)
	}
}

func TestVerifySinceIntactExtendedLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	key := newKey(t)
	appendEvents(t, dir, 0, 30)
	cp := take(t, dir, key)
	if cp.Seq != 30 || cp.AnchorEvery != 1 || len(cp.Anchors) != 29 {
		t.Fatalf("checkpoint seq %d, anchors every %d × %d; want 30, 1 × 29", cp.Seq, cp.AnchorEvery, len(cp.Anchors))
	}
	if rep := verifySince(t, dir, cp, key.Public()); !rep.OK || rep.Events != 30 || rep.KeyFromFile {
		t.Fatalf("same log: %+v", rep)
	}
	appendEvents(t, dir, 30, 25)
	rep := verifySince(t, dir, cp, key.Public())
	if !rep.OK || rep.Events != 55 || rep.FirstBadSeq != 0 {
		t.Fatalf("extended log: %+v", rep)
	}
	// Without a trusted key: verified with the file's, and said so.
	rep = verifySince(t, dir, cp, nil)
	if !rep.OK || !rep.KeyFromFile || rep.Warning == "" {
		t.Fatalf("no trusted key: %+v", rep)
	}
	// A rewrite after the checkpoint is beyond what it signed.
	if err := logforge.Rewrite(dir, nil, logforge.Change(40, changeStore)); err != nil {
		t.Fatal(err)
	}
	if rep := verifySince(t, dir, cp, key.Public()); !rep.OK {
		t.Fatalf("rewrite after the checkpoint's sequence: %+v", rep)
	}
}

// TestVerifySinceRewrittenLog is the test: the log is rewritten
// behind the engine's back, record k changed and everything after it
// re-chained, so that the chain alone still verifies.
func TestVerifySinceRewrittenLog(t *testing.T) {
	for _, k := range []int{1, 17, 39, 40} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			key := newKey(t)
			appendEvents(t, dir, 0, 40)
			cp := take(t, dir, key)
			appendEvents(t, dir, 40, 5) // the log went on after the checkpoint
			if err := logforge.Rewrite(dir, nil, logforge.Change(k, changeStore)); err != nil {
				t.Fatal(err)
			}
			chainVerifies(t, dir)
			rep := verifySince(t, dir, cp, key.Public())
			if rep.OK || rep.FirstBadSeq != uint64(k) || rep.LastBadSeq != uint64(k) ||
				!strings.Contains(rep.Reason, fmt.Sprintf("rewritten or reordered from sequence %d", k)) {
				t.Fatalf("rewrite at %d: %+v", k, rep)
			}
		})
	}
}

func TestVerifySinceTruncatedLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	key := newKey(t)
	appendEvents(t, dir, 0, 40)
	cp := take(t, dir, key)
	if err := logforge.Rewrite(dir, nil, logforge.Truncate(33)); err != nil {
		t.Fatal(err)
	}
	chainVerifies(t, dir)
	rep := verifySince(t, dir, cp, key.Public())
	if rep.OK || rep.FirstBadSeq != 34 || rep.LastBadSeq != 40 || !strings.Contains(rep.Reason, "records 34..40 are missing") {
		t.Fatalf("truncated: %+v", rep)
	}
	// Truncated, then refilled with other events up to past the checkpoint.
	appendEvents(t, dir, 1000, 20)
	chainVerifies(t, dir)
	rep = verifySince(t, dir, cp, key.Public())
	if rep.OK || rep.FirstBadSeq != 34 {
		t.Fatalf("truncated and refilled: %+v", rep)
	}
}

func TestVerifySinceReorderedLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	key := newKey(t)
	appendEvents(t, dir, 0, 40)
	cp := take(t, dir, key)
	if err := logforge.Rewrite(dir, nil, logforge.Swap(12, 13)); err != nil {
		t.Fatal(err)
	}
	chainVerifies(t, dir)
	rep := verifySince(t, dir, cp, key.Public())
	if rep.OK || rep.FirstBadSeq != 12 || rep.LastBadSeq != 12 {
		t.Fatalf("reordered: %+v", rep)
	}
}

// TestVerifySinceLongLog: past MaxAnchors+1 records the anchors are
// strided, and a rewrite is named within the stride holding it.
func TestVerifySinceLongLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	key := newKey(t)
	appendEvents(t, dir, 0, 300)
	cp := take(t, dir, key)
	if cp.AnchorEvery != 8 || len(cp.Anchors) != 37 {
		t.Fatalf("300 records: anchors every %d × %d, want 8 × 37", cp.AnchorEvery, len(cp.Anchors))
	}
	const k = 150
	if err := logforge.Rewrite(dir, nil, logforge.Change(k, changeStore)); err != nil {
		t.Fatal(err)
	}
	chainVerifies(t, dir)
	rep := verifySince(t, dir, cp, key.Public())
	if rep.OK || rep.FirstBadSeq != 145 || rep.LastBadSeq != 152 || !strings.Contains(rep.Reason, "145..152") {
		t.Fatalf("rewrite at %d: %+v, want the range 145..152", k, rep)
	}
}

// TestVerifySinceRewriteBeforeFirstAnchor: a rewrite before the first
// strided anchor is named as the range from 1, without claiming that a
// "record 0" matched.
func TestVerifySinceRewriteBeforeFirstAnchor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	key := newKey(t)
	appendEvents(t, dir, 0, 300)
	cp := take(t, dir, key)
	if err := logforge.Rewrite(dir, nil, logforge.Change(3, changeStore)); err != nil {
		t.Fatal(err)
	}
	chainVerifies(t, dir)
	rep := verifySince(t, dir, cp, key.Public())
	if rep.OK || rep.FirstBadSeq != 1 || rep.LastBadSeq != 8 || !strings.Contains(rep.Reason, "from a sequence in 1..8") ||
		strings.Contains(rep.Reason, "record 0") {
		t.Fatalf("rewrite at 3: %+v, want the range 1..8 and no record 0", rep)
	}
}

// TestParsePublicKeyDoesNotEchoKeys: a value that is not a public key —
// perhaps the private key — is not repeated in the error.
func TestParsePublicKeyDoesNotEchoKeys(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	b64 := base64.StdEncoding.EncodeToString(priv) // 64 bytes: seed and public key
	for _, s := range []string{pemText, b64, hex.EncodeToString(priv.Seed()) + "00"} {
		_, err := checkpoint.ParsePublicKey(s)
		if err == nil || !strings.Contains(err.Error(), "not an Ed25519 public key") {
			t.Fatalf("ParsePublicKey(private key) = %v", err)
		}
		seed := priv.Seed()
		for _, part := range []string{base64.StdEncoding.EncodeToString(der)[24:48], b64[:24], hex.EncodeToString(seed)[:24]} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("the error shows the key's text: %v", err)
			}
		}
	}
}

func TestVerifySinceRefusesBadCheckpoints(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	key := newKey(t)
	appendEvents(t, dir, 0, 20)
	cp := take(t, dir, key)

	forged := cp
	forged.Hash = strings.Repeat("0", 64) // another head than the signed one
	if rep := verifySince(t, dir, forged, key.Public()); rep.OK || !strings.Contains(rep.Reason, "signature does not verify") {
		t.Fatalf("altered checkpoint: %+v", rep)
	}
	if rep := verifySince(t, dir, forged, nil); rep.OK || !strings.Contains(rep.Reason, "signature does not verify") {
		t.Fatalf("altered checkpoint, the file's key: %+v", rep)
	}
	other := newKey(t)
	if rep := verifySince(t, dir, cp, other.Public()); rep.OK || !strings.Contains(rep.Reason, "not the trusted key") {
		t.Fatalf("another key: %+v", rep)
	}
	// Re-signed by another key that the file names: still not the trusted one.
	resigned := take(t, dir, other)
	if rep := verifySince(t, dir, resigned, key.Public()); rep.OK || !strings.Contains(rep.Reason, "not the trusted key") {
		t.Fatalf("re-signed by another key: %+v", rep)
	}
	// Re-signed by another key whose name is taken out: the signature fails.
	resigned.Key = ""
	if rep := verifySince(t, dir, resigned, key.Public()); rep.OK || !strings.Contains(rep.Reason, "signature does not verify") {
		t.Fatalf("re-signed by another key, unnamed: %+v", rep)
	}
	bad := cp
	bad.Version = "journey-checkpoint-v9"
	if rep := verifySince(t, dir, bad, key.Public()); rep.OK || !strings.Contains(rep.Reason, `"version"`) {
		t.Fatalf("unknown version: %+v", rep)
	}
}

// TestVerifySinceReasonHasNoPackagePrefix: a Reason is shown as it is
// (the FAILED line, the JSON reply), so it does not start with the Go
// package's "checkpoint: ".
func TestVerifySinceReasonHasNoPackagePrefix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	key := newKey(t)
	appendEvents(t, dir, 0, 5)
	cp := take(t, dir, key)
	forged := cp
	forged.Hash = strings.Repeat("0", 64)
	badKey := cp
	badKey.Key = "not-a-key"
	badVersion := cp
	badVersion.Version = "journey-checkpoint-v9"
	for name, c := range map[string]struct {
		cp      checkpoint.Checkpoint
		trusted ed25519.PublicKey
	}{
		"altered": {forged, key.Public()}, "altered, the file's key": {forged, nil},
		"bad key": {badKey, key.Public()}, "bad key, the file's key": {badKey, nil}, "version": {badVersion, key.Public()},
	} {
		rep := verifySince(t, dir, c.cp, c.trusted)
		if rep.OK || rep.Reason == "" || strings.Contains(rep.Reason, "checkpoint: ") {
			t.Errorf("%s: Reason %q, want no \"checkpoint: \" prefix", name, rep.Reason)
		}
	}
}

func TestKeyFileAndKeeper(t *testing.T) {
	data := t.TempDir()
	if _, err := checkpoint.LoadKey(data); err == nil || !strings.Contains(err.Error(), "journey checkpoint key") {
		t.Fatalf("LoadKey of a new data dir = %v", err)
	}
	k1, created, err := checkpoint.LoadOrCreateKey(data)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateKey = %v, %v", created, err)
	}
	fi, err := os.Stat(checkpoint.KeyPath(data))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	k2, created, err := checkpoint.LoadOrCreateKey(data)
	if err != nil || created || !k2.Public().Equal(k1.Public()) {
		t.Fatalf("second LoadOrCreateKey: created %v, same key %v, %v", created, k2.Public().Equal(k1.Public()), err)
	}

	logDir := filepath.Join(data, "log")
	appendEvents(t, logDir, 0, 5)
	s, err := eventstore.Open(logDir, &eventstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kp, err := checkpoint.OpenKeeper(data, s, checkpoint.KeeperOptions{Keep: 3, Clock: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if !kp.Key().Public().Equal(k1.Public()) {
		t.Fatal("the keeper signs with another key than the data dir's")
	}
	for range 7 {
		if _, err := kp.Take(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := kp.History()
	if err != nil {
		t.Fatal(err)
	}
	// 7 taken, cut back to 3 at the 6th: 4 kept.
	if len(hist) != 4 {
		t.Fatalf("history holds %d, want 4 (kept 3, cut at 6, one more)", len(hist))
	}
	for _, cp := range hist {
		if err := cp.Verify(k1.Public()); err != nil || cp.Seq != 5 {
			t.Fatalf("kept checkpoint %+v: %v", cp, err)
		}
	}
	fi, err = os.Stat(filepath.Join(checkpoint.Dir(data), checkpoint.HistoryFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("history file: %v, %v", fi, err)
	}
	// Run signs at once when the log grew, then only when it grows.
	kp2, err := checkpoint.OpenKeeper(data, s, checkpoint.KeeperOptions{Keep: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := kp2.Run(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if hist2, _ := kp2.History(); len(hist2) != len(hist) {
		t.Fatalf("Run signed an unchanged head: %d checkpoints, had %d", len(hist2), len(hist))
	}
}
