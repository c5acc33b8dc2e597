package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/keystore"
)

func openKeys(t *testing.T, dir string) *keystore.Store {
	t.Helper()
	w, err := keystore.NewLocalWrapper(bytes.Repeat([]byte{9}, keystore.MasterKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(dir, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// openSealed opens a sealed log in a fresh dir with its key store (closed
// at the end of the test); the caller closes the log.
func openSealed(t *testing.T) (s *Store, ks *keystore.Store, logDir string) {
	t.Helper()
	dir := t.TempDir()
	ks = openKeys(t, filepath.Join(dir, "keys"))
	t.Cleanup(func() { ks.Close() })
	logDir = filepath.Join(dir, "log")
	s, err := Open(logDir, &Options{Sealer: ks})
	if err != nil {
		t.Fatal(err)
	}
	return s, ks, logDir
}

// TestSealedLog: a log created with a Sealer stores each customer's events
// sealed under their key and their id only as a pseudonym; reads return
// the events byte for byte; idempotency holds; verify needs no keys; a
// destroyed key leaves the records in the chain, unreadable, and refuses
// new events for that customer with CodeErased.
func TestSealedLog(t *testing.T) {
	ctx := context.Background()
	s, ks, logDir := openSealed(t)
	var err error
	if !s.Sealed() {
		t.Fatal("a new log opened with a Sealer is not sealed")
	}
	var evs []*journey.Event
	for i, c := range []string{"ada-lovelace-1815", "bob", "ada-lovelace-1815", "bob", "ada-lovelace-1815"} {
		evs = append(evs, mkEvent(t, "e"+string(rune('1'+i)), c, t0.Add(timeStep(i)), "12.50"))
	}
	var reqs []Request
	for _, ev := range evs {
		reqs = append(reqs, unchecked(ev))
	}
	appendOK(t, s, reqs...)
	// Again: duplicates, the same bytes.
	for _, r := range appendOK(t, s, reqs...) {
		if !r.Duplicate {
			t.Fatalf("re-append: %+v, want duplicate", r)
		}
	}
	other := mkEvent(t, "e1", "ada-lovelace-1815", t0, "99.00")
	res, err := s.Append(ctx, []Request{unchecked(other)})
	if err != nil || res[0].Err == nil || res[0].Err.(*journey.Error).Code != journey.CodeIDConflict {
		t.Fatalf("same id, other bytes: %+v %v", res, err)
	}
	var got []Record
	if err := s.Scan(ctx, 1, 0, func(r *Record) error {
		r.Raw = bytes.Clone(r.Raw)
		got = append(got, *r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("%d records, want %d", len(got), len(evs))
	}
	for i, r := range got {
		if !bytes.Equal(r.Raw, evs[i].Raw) || r.Customer != evs[i].Subject || r.Erased {
			t.Fatalf("record %d: %q %q, want the event as received", i+1, r.Customer, r.Raw)
		}
	}
	hist, err := s.CustomerEvents(ctx, "ada-lovelace-1815", 0, 0)
	if err != nil || len(hist) != 3 || hist[2].Version != 3 {
		t.Fatalf("history: %d records %v", len(hist), err)
	}
	if v, err := s.CustomerVersion("bob"); err != nil || v != 2 {
		t.Fatalf("CustomerVersion(bob) = %d %v", v, err)
	}
	mustVerify(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing of the customer id nor of the event bytes in the log's files.
	for _, secret := range []string{"ada-lovelace", "12.50", "pos/test"} {
		if f := filesWith(t, logDir, secret); len(f) > 0 {
			t.Fatalf("%q in the clear in %v", secret, f)
		}
	}

	// Verify without keys; reads refuse.
	s, err = Open(logDir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, s); rep.Events != 5 {
		t.Fatalf("verify without keys: %+v", rep)
	}
	if err := s.Scan(ctx, 1, 0, func(*Record) error { return nil }); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("scan without keys: %v, want ErrNoKeys", err)
	}
	s.Close()

	// Forget ada: her records stay in the chain, erased.
	if _, err := ks.Destroy(ks.Pseudonym("ada-lovelace-1815"), "test"); err != nil {
		t.Fatal(err)
	}
	s, err = Open(logDir, &Options{Sealer: ks})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustVerify(t, s)
	var erased, kept int
	if err := s.ScanRaw(ctx, 1, 0, func(r *RawRecord) error {
		switch {
		case r.Erased && r.Raw == nil && r.Customer == nil:
			erased++
		case !r.Erased && string(r.Customer) == "bob":
			kept++
		default:
			t.Errorf("record %d: erased=%v customer %q", r.Seq, r.Erased, r.Customer)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if erased != 3 || kept != 2 {
		t.Fatalf("%d erased, %d kept; want 3, 2", erased, kept)
	}
	hist, err = s.CustomerEvents(ctx, "ada-lovelace-1815", 0, 0)
	if err != nil || len(hist) != 3 || !hist[0].Erased || hist[0].Raw != nil {
		t.Fatalf("erased history: %+v %v", hist, err)
	}
	late := mkEvent(t, "e9", "ada-lovelace-1815", t0, "")
	res, err = s.Append(ctx, []Request{unchecked(late)})
	if err != nil || res[0].Err == nil || res[0].Err.(*journey.Error).Code != journey.CodeErased {
		t.Fatalf("event for an erased customer: %+v %v, want CodeErased", res, err)
	}
}

// TestSealedTamperFound: one flipped ciphertext byte breaks the chain for
// Verify (no keys needed) and fails authentication on read.
func TestSealedTamperFound(t *testing.T) {
	s, ks, logDir := openSealed(t)
	var err error
	for i := range 3 {
		appendOK(t, s, unchecked(mkEvent(t, "t"+string(rune('1'+i)), "c", t0.Add(timeStep(i)), "")))
	}
	s.Close()
	behindTheBack(t, vfs.Default, logDir, func(db *pebble.DB) {
		v := getRaw(t, db, eventKey(nil, 2))
		v[len(v)-5] ^= 1
		if err := db.Set(eventKey(nil, 2), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	rep := verifyAfter(t, vfs.Default, logDir)
	if rep.OK || rep.FirstBadSeq != 2 {
		t.Fatalf("verify: %+v, want first bad seq 2", rep)
	}
	s, err = Open(logDir, &Options{Sealer: ks, AllowDamaged: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Scan(context.Background(), 2, 2, func(*Record) error { return nil })
	if !errors.Is(err, keystore.ErrTampered) {
		t.Fatalf("read of the altered record: %v, want ErrTampered", err)
	}
}

// TestPlainLogStaysPlain: a log created without a Sealer keeps working as
// it was when opened with one.
func TestPlainLogStaysPlain(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	fillLog(t, vfs.Default, logDir, 4)
	ks := openKeys(t, filepath.Join(dir, "keys"))
	defer ks.Close()
	s, err := Open(logDir, &Options{Sealer: ks})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Sealed() {
		t.Fatal("an existing plaintext log became sealed")
	}
	appendOK(t, s, unchecked(mkEvent(t, "t-new", "c0", t0, "")))
	hist, err := s.CustomerEvents(context.Background(), "c0", 0, 0)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history of c0: %d %v", len(hist), err)
	}
	mustVerify(t, s)
}

func timeStep(i int) time.Duration { return time.Duration(i) * time.Hour }

// filesWith lists the files under dir that hold s.
func filesWith(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			out = append(out, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForget: Forget destroys the key, appends the erasure record (no
// personal data), deletes the customer's quarantine entries, leaves no
// plaintext of theirs in the log's files, keeps the chain verifying, and
// completes when run again; the other customer is untouched.
func TestForget(t *testing.T) {
	ctx := context.Background()
	s, _, logDir := openSealed(t)
	var err error
	defer s.Close()
	for i, c := range []string{"grace-hopper-1906", "bob", "grace-hopper-1906"} {
		appendOK(t, s, unchecked(mkEvent(t, "f"+string(rune('1'+i)), c, t0.Add(timeStep(i)), "7.25")))
	}
	bad := []byte(`{"specversion":"1.0","id":"q1","subject":"grace-hopper-1906","type":"visit","note":"grace@example.com"}`)
	if _, err := s.Quarantine(ctx, QuarantineEntry{Code: journey.CodeInvalidField, Field: "time", Reason: "x", Origin: "test", Raw: bad}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Forget(ctx, "grace-hopper-1906", "art. 17 request 7")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 2 || rep.Quarantine != 1 || rep.Again || rep.Seq != 4 {
		t.Fatalf("forget: %+v", rep)
	}
	again, err := s.Forget(ctx, "grace-hopper-1906", "another reason")
	if err != nil || !again.Again || again.Seq != 4 || again.Reason != "art. 17 request 7" {
		t.Fatalf("forget again: %+v %v", again, err)
	}
	mustVerify(t, s)
	hist, err := s.CustomerEvents(ctx, "grace-hopper-1906", 0, 0)
	if err != nil || len(hist) != 3 || !hist[0].Erased || !hist[2].Erased || hist[2].Type != KindCustomerErased ||
		!bytes.Contains(hist[2].Raw, []byte("art. 17 request 7")) {
		t.Fatalf("history after forget: %+v %v", hist, err)
	}
	var n, erased int
	if err := s.ScanRaw(ctx, 1, 0, func(r *RawRecord) error {
		n++
		if r.Erased {
			erased++
			if r.Raw != nil {
				t.Errorf("record %d: erased with bytes", r.Seq)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 || erased != 3 {
		t.Fatalf("scan: %d records, %d erased; want 4, 3", n, erased)
	}
	if s.QuarantineCount() != 0 {
		t.Fatalf("%d quarantine entries left", s.QuarantineCount())
	}
	late := mkEvent(t, "f9", "grace-hopper-1906", t0, "")
	res, _ := s.Append(ctx, []Request{unchecked(late)})
	if res[0].Err == nil || res[0].Err.(*journey.Error).Code != journey.CodeErased {
		t.Fatalf("late event: %+v", res[0])
	}
	if _, err := s.Quarantine(ctx, QuarantineEntry{Code: journey.CodeErased, Field: "subject", Reason: "erased", Origin: "test", Raw: late.Raw}); err != nil {
		t.Fatal(err)
	}
	if err := s.QuarantineScan(ctx, func(e *QuarantineEntry) error {
		if len(e.Raw) != 0 {
			t.Errorf("an erased customer's refused event kept with its data: %q", e.Raw)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.purge(ctx, prefixQuarantine); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found []string
		for _, secret := range []string{"grace-hopper", "grace@example.com"} {
			found = append(found, filesWith(t, logDir, secret)...)
		}
		if len(found) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plaintext of the forgotten customer still in %v", found)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v, err := s.CustomerVersion("bob"); err != nil || v != 1 {
		t.Fatalf("bob: %d %v", v, err)
	}
}

// TestForgetCutShort: a Forget that stopped right after destroying the key
// (a crash) leaves a customer who no longer decrypts, and running Forget
// again completes it (the erasure record, the quarantine).
func TestForgetCutShort(t *testing.T) {
	ctx := context.Background()
	s, ks, logDir := openSealed(t)
	var err error
	appendOK(t, s, unchecked(mkEvent(t, "k1", "ida", t0, "1.00")), unchecked(mkEvent(t, "k2", "ida", t0.Add(time.Hour), "")))
	// The first step of Forget, then the "crash".
	if _, err := ks.Destroy(ks.Pseudonym("ida"), "first try"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(logDir, &Options{Sealer: ks})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hist, err := s.CustomerEvents(ctx, "ida", 0, 0)
	if err != nil || len(hist) != 2 || !hist[0].Erased || !hist[1].Erased {
		t.Fatalf("after the cut-short forget: %+v %v, want both records erased", hist, err)
	}
	// Before the erasure record, the key store's tombstone says erased.
	if n, err := s.Erasure(ctx, "ida"); err != nil || n == nil || n.Reason != "first try" || n.ErasedAt.IsZero() {
		t.Fatalf("Erasure before the erasure record: %+v %v, want the key's tombstone", n, err)
	}
	appendOK(t, s, unchecked(mkEvent(t, "k3", "bob", t0, "2.00")))
	for _, c := range []string{"nobody", "bob"} {
		if n, err := s.Erasure(ctx, c); err != nil || n != nil {
			t.Fatalf("Erasure of %s, never forgotten: %+v %v", c, n, err)
		}
	}
	rep, err := s.Forget(ctx, "ida", "second try")
	if err != nil || rep.Again || rep.Seq != 4 || rep.Reason != "first try" {
		t.Fatalf("forget again: %+v %v, want the erasure record at 4 with the first reason", rep, err)
	}
	mustVerify(t, s)
	if n, err := s.Erasure(ctx, "ida"); err != nil || n == nil || n.Reason != "first try" {
		t.Fatalf("Erasure: %+v %v", n, err)
	}
}

// TestSealedIdempotencyByContent: sealing is randomised, so a re-sent
// event is recognised by opening the stored one — within one call, in a
// later call, after reopening, and in a large call sealed on several
// goroutines — while the same id with other content, another customer or
// another event time is a conflict.
func TestSealedIdempotencyByContent(t *testing.T) {
	ctx := context.Background()
	s, ks, logDir := openSealed(t)
	ev := mkEvent(t, "dup-1", "carol", t0, "10.00")
	res := appendOK(t, s, unchecked(ev), unchecked(ev))
	if res[0].Duplicate || !res[1].Duplicate || res[1].Seq != res[0].Seq {
		t.Fatalf("same event twice in one call: %+v", res)
	}
	var large []Request
	for i := range 300 {
		large = append(large, unchecked(mkEvent(t, fmt.Sprintf("big-%d", i), fmt.Sprintf("c%d", i%7), t0.Add(timeStep(i)), "1.00")))
	}
	large = append(large, unchecked(ev))
	res = appendOK(t, s, large...)
	if !res[len(res)-1].Duplicate || res[len(res)-1].Seq != 1 {
		t.Fatalf("re-sent in a large call: %+v", res[len(res)-1])
	}
	for i, r := range appendOK(t, s, large...) {
		if !r.Duplicate {
			t.Fatalf("large call again, request %d: %+v", i, r)
		}
	}
	conflicts := map[string]*journey.Event{
		"other amount":   mkEvent(t, "dup-1", "carol", t0, "11.00"),
		"other customer": mkEvent(t, "dup-1", "dave", t0, "10.00"),
		"other time":     mkEvent(t, "dup-1", "carol", t0.Add(time.Second), "10.00"),
	}
	check := func(s *Store, when string) {
		t.Helper()
		if res := appendOK(t, s, unchecked(ev)); !res[0].Duplicate || res[0].Seq != 1 {
			t.Fatalf("%s: re-sent: %+v", when, res[0])
		}
		for name, other := range conflicts {
			res, err := s.Append(ctx, []Request{unchecked(other)})
			if err != nil || res[0].Err == nil || res[0].Err.(*journey.Error).Code != journey.CodeIDConflict {
				t.Fatalf("%s: %s: %+v %v, want id_conflict", when, name, res, err)
			}
		}
	}
	check(s, "open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(logDir, &Options{Sealer: ks})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "reopened")
	if got := s.DurableSeq(); got != 301 {
		t.Fatalf("head %d, want 301 (each event once)", got)
	}
}
