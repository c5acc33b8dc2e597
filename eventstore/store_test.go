package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// mkEvent builds and decodes a visit (or a purchase when amount != "").
func mkEvent(tb testing.TB, id, customer string, at time.Time, amount string) *journey.Event {
	tb.Helper()
	var (
		raw []byte
		err error
	)
	if amount == "" {
		raw, err = journey.NewEvent(id, "pos/test", journey.KindVisit, customer, at, map[string]any{"channel": "store"})
	} else {
		raw, err = journey.NewEvent(id, "pos/test", journey.KindPurchase, customer, at,
			map[string]any{"order_id": "o-" + id, "amount": amount, "currency": "EUR"})
	}
	if err != nil {
		tb.Fatalf("NewEvent: %v", err)
	}
	ev, err := journey.Decode(raw, at.Add(time.Hour))
	if err != nil {
		tb.Fatalf("Decode: %v", err)
	}
	return ev
}

// openMem opens a store on a fresh in-memory file system and registers a
// cleanup that verifies the chain and closes it.
func openMem(tb testing.TB) (*Store, vfs.FS) {
	tb.Helper()
	fs := vfs.NewMem()
	s, err := Open("log", &Options{FS: fs, Clock: func() time.Time { return t0 }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mustVerify(tb, s); s.Close() })
	return s, fs
}

func mustVerify(tb testing.TB, s *Store) VerifyReport {
	tb.Helper()
	rep, err := s.Verify(context.Background(), nil)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	if !rep.OK {
		tb.Fatalf("Verify: first bad seq %d: %s", rep.FirstBadSeq, rep.Reason)
	}
	return rep
}

func appendOK(tb testing.TB, s *Store, reqs ...Request) []Result {
	tb.Helper()
	res, err := s.Append(context.Background(), reqs)
	if err != nil {
		tb.Fatalf("Append: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			tb.Fatalf("Append[%d] (%s): %v", i, reqs[i].Event.ID, r.Err)
		}
	}
	return res
}

func unchecked(ev *journey.Event) Request { return Request{Event: ev, ExpectedVersion: AnyVersion} }

func TestAppendAndRead(t *testing.T) {
	s, _ := openMem(t)
	ctx := context.Background()
	var reqs []Request
	for i := range 10 {
		cust := []string{"alice", "bob"}[i%2]
		reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("ev-%02d", i), cust, t0.Add(time.Duration(i)*time.Minute), "")))
	}
	res := appendOK(t, s, reqs...)
	for i, r := range res {
		if got, want := r.Seq, uint64(i+1); got != want {
			t.Fatalf("res[%d].Seq=%d, want %d", i, got, want)
		}
		if got, want := r.Version, uint64(i/2+1); got != want {
			t.Fatalf("res[%d].Version=%d, want %d", i, got, want)
		}
		if r.Duplicate {
			t.Fatalf("res[%d] duplicate", i)
		}
	}
	if got := s.DurableSeq(); got != 10 {
		t.Fatalf("DurableSeq()=%d, want 10", got)
	}

	// By range.
	var seqs []uint64
	err := s.Scan(ctx, 3, 6, func(rec *Record) error {
		seqs = append(seqs, rec.Seq)
		want := reqs[rec.Seq-1].Event
		if string(rec.Raw) != string(want.Raw) || rec.ID != want.ID || rec.Customer != want.Subject ||
			rec.Type != journey.KindVisit || !rec.EventTime.Equal(want.Time) || !rec.RecordedAt.Equal(t0) {
			t.Errorf("record %d = %+v, want event %s", rec.Seq, rec, want.ID)
		}
		return nil
	})
	if err != nil || fmt.Sprint(seqs) != "[3 4 5 6]" {
		t.Fatalf("Scan(3,6) = %v, %v", seqs, err)
	}
	n := 0
	if err := s.Scan(ctx, 0, 0, func(*Record) error { n++; return nil }); err != nil || n != 10 {
		t.Fatalf("Scan(0,0) saw %d, %v; want 10", n, err)
	}
	stop := errors.New("stop")
	if err := s.Scan(ctx, 1, 0, func(*Record) error { return stop }); err != stop {
		t.Fatalf("Scan with failing fn = %v, want stop", err)
	}

	// By customer, paged.
	var got []string
	after := uint64(0)
	for {
		page, err := s.CustomerEvents(ctx, "bob", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			got = append(got, fmt.Sprintf("%d:%s", r.Version, r.ID))
			after = r.Version
		}
	}
	if want := "[1:ev-01 2:ev-03 3:ev-05 4:ev-07 5:ev-09]"; fmt.Sprint(got) != want {
		t.Fatalf("bob's history = %v, want %s", got, want)
	}
	if recs, err := s.CustomerEvents(ctx, "nobody", 0, 0); err != nil || len(recs) != 0 {
		t.Fatalf("CustomerEvents(nobody) = %v, %v", recs, err)
	}
	if v, err := s.CustomerVersion("alice"); err != nil || v != 5 {
		t.Fatalf("CustomerVersion(alice) = %d, %v; want 5", v, err)
	}
	if v, err := s.CustomerVersion("nobody"); err != nil || v != 0 {
		t.Fatalf("CustomerVersion(nobody) = %d, %v; want 0", v, err)
	}

	// By id.
	rec, found, err := s.Get("ev-04")
	if err != nil || !found || rec.Seq != 5 || rec.Customer != "alice" || rec.Version != 3 || string(rec.Raw) != string(reqs[4].Event.Raw) {
		t.Fatalf("Get(ev-04) = %+v, %v, %v", rec, found, err)
	}
	if _, found, err := s.Get("nope"); err != nil || found {
		t.Fatalf("Get(nope) found=%v err=%v", found, err)
	}

	// Hash chain: each record's hash chains from the previous one.
	head, hash := s.Head()
	if head != 10 {
		t.Fatalf("Head()=%d", head)
	}
	rep := mustVerify(t, s)
	if rep.Events != 10 || rep.Head != hash {
		t.Fatalf("Verify = %+v, head hash %x", rep, hash)
	}
}

func TestDuplicateAndConflict(t *testing.T) {
	s, _ := openMem(t)
	a := mkEvent(t, "id-a", "carol", t0, "10.00")
	appendOK(t, s, unchecked(a))

	// Same id, same bytes: the original sequence, marked duplicate.
	again := mkEvent(t, "id-a", "carol", t0, "10.00")
	res := appendOK(t, s, unchecked(again))
	if r := res[0]; !r.Duplicate || r.Seq != 1 || r.Version != 1 {
		t.Fatalf("re-append = %+v, want duplicate of seq 1", r)
	}
	// Same id, other bytes: conflict, nothing written.
	other := mkEvent(t, "id-a", "carol", t0, "99.00")
	res, err := s.Append(context.Background(), []Request{unchecked(other)})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, &journey.Error{Code: journey.CodeIDConflict, Field: "id"}) {
		t.Fatalf("conflict Err = %v", res[0].Err)
	}
	// Within one call: the second copy is a duplicate of the first, the
	// third (other bytes) a conflict; and the batch goes on after them.
	b1 := mkEvent(t, "id-b", "carol", t0, "")
	b2 := mkEvent(t, "id-b", "carol", t0, "")
	b3 := mkEvent(t, "id-b", "carol", t0, "1.00")
	c := mkEvent(t, "id-c", "carol", t0, "")
	res, err = s.Append(context.Background(), []Request{unchecked(b1), unchecked(b2), unchecked(b3), unchecked(c)})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Seq != 2 || res[0].Duplicate || !res[1].Duplicate || res[1].Seq != 2 ||
		!errors.Is(res[2].Err, &journey.Error{Code: journey.CodeIDConflict}) || res[3].Seq != 3 || res[3].Version != 3 {
		t.Fatalf("in-call duplicates = %+v", res)
	}
	if got := s.DurableSeq(); got != 3 {
		t.Fatalf("DurableSeq()=%d, want 3", got)
	}
	// Invalid requests are refused one by one.
	res, err = s.Append(context.Background(), []Request{{Event: nil}, {Event: &journey.Event{ID: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, ErrInvalidRequest) {
			t.Fatalf("invalid request %d: Err=%v", i, r.Err)
		}
	}
}

func TestExpectedVersion(t *testing.T) {
	s, _ := openMem(t)
	req := func(id string, v int64) Request {
		return Request{Event: mkEvent(t, id, "dave", t0, ""), ExpectedVersion: v}
	}
	appendOK(t, s, req("v1", 0)) // 0: a new customer
	appendOK(t, s, req("v2", 1), req("v3", 2))
	res, err := s.Append(context.Background(), []Request{req("v4", 1)})
	if err != nil {
		t.Fatal(err)
	}
	var je *journey.Error
	if !errors.As(res[0].Err, &je) || je.Code != journey.CodeVersionConflict || je.Field != "subject" ||
		je.Rule != "expected version 1, customer is at 3" {
		t.Fatalf("mismatch Err=%v", res[0].Err)
	}
	if got := s.DurableSeq(); got != 3 {
		t.Fatalf("DurableSeq()=%d after a refused request, want 3", got)
	}
	if _, found, _ := s.Get("v4"); found {
		t.Fatal("refused event was written")
	}
	// A new customer expected at 1 is refused; at 0 accepted.
	res, _ = s.Append(context.Background(), []Request{{Event: mkEvent(t, "e1", "erin", t0, ""), ExpectedVersion: 1}})
	if !errors.Is(res[0].Err, &journey.Error{Code: journey.CodeVersionConflict}) {
		t.Fatalf("new customer at 1: %v", res[0].Err)
	}
	appendOK(t, s, Request{Event: mkEvent(t, "e1", "erin", t0, ""), ExpectedVersion: 0})
	// A retried request whose version check once passed is a duplicate.
	res = appendOK(t, s, req("v2", 1))
	if !res[0].Duplicate || res[0].Seq != 2 {
		t.Fatalf("retry = %+v", res[0])
	}
}

func TestConcurrentAppendersDense(t *testing.T) {
	s, _ := openMem(t)
	const writers, each = 64, 20
	var wg sync.WaitGroup
	seqs := make([][]uint64, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ev := mkEvent(t, fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("cust-%d", w%8), t0, "")
				res, err := s.Append(context.Background(), []Request{unchecked(ev)})
				if err != nil || res[0].Err != nil {
					t.Errorf("append: %v %v", err, res)
					return
				}
				if d := s.DurableSeq(); d < res[0].Seq {
					t.Errorf("acknowledged seq %d before durable %d", res[0].Seq, d)
				}
				seqs[w] = append(seqs[w], res[0].Seq)
			}
		})
	}
	wg.Wait()
	seen := make(map[uint64]bool)
	for _, ss := range seqs {
		for _, q := range ss {
			if seen[q] {
				t.Fatalf("seq %d twice", q)
			}
			seen[q] = true
		}
	}
	for q := uint64(1); q <= writers*each; q++ {
		if !seen[q] {
			t.Fatalf("seq %d missing", q)
		}
	}
	// Per-customer versions are dense too.
	for c := range 8 {
		recs, err := s.CustomerEvents(context.Background(), fmt.Sprintf("cust-%d", c), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != writers/8*each {
			t.Fatalf("cust-%d has %d events", c, len(recs))
		}
		for i, r := range recs {
			if r.Version != uint64(i+1) || (i > 0 && r.Seq <= recs[i-1].Seq) {
				t.Fatalf("cust-%d record %d: version %d seq %d", c, i, r.Version, r.Seq)
			}
		}
	}
}

func TestBigCallSpansBatches(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("log", &Options{FS: fs, MaxBatchEvents: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var reqs []Request
	for i := range 50 {
		reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("big-%d", i), fmt.Sprintf("c%d", i%3), t0, "")))
	}
	reqs = append(reqs, reqs[3]) // a duplicate from an earlier batch of the same call
	res := appendOK(t, s, reqs...)
	for i := range 50 {
		if res[i].Seq != uint64(i+1) {
			t.Fatalf("res[%d].Seq=%d", i, res[i].Seq)
		}
	}
	if !res[50].Duplicate || res[50].Seq != 4 {
		t.Fatalf("dup = %+v", res[50])
	}
	mustVerify(t, s)
}

func TestReopenPreservesHeadAndVersions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		appendOK(t, s, unchecked(mkEvent(t, fmt.Sprintf("r-%d", i), fmt.Sprintf("c%d", i%4), t0, "")))
	}
	seq, hash := s.Head()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), []Request{unchecked(mkEvent(t, "late", "c0", t0, ""))}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
	if _, _, err := s.Get("r-1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}

	s, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if seq2, hash2 := s.Head(); seq2 != seq || hash2 != hash {
		t.Fatalf("Head after reopen = %d %x, want %d %x", seq2, hash2, seq, hash)
	}
	res := appendOK(t, s, Request{Event: mkEvent(t, "r-20", "c0", t0, ""), ExpectedVersion: 5})
	if res[0].Seq != 21 || res[0].Version != 6 {
		t.Fatalf("after reopen: %+v", res[0])
	}
	res = appendOK(t, s, unchecked(mkEvent(t, "r-3", "c3", t0, "")))
	if !res[0].Duplicate || res[0].Seq != 4 {
		t.Fatalf("duplicate after reopen: %+v", res[0])
	}
	if rep := mustVerify(t, s); rep.Events != 21 {
		t.Fatalf("verify events=%d", rep.Events)
	}
}

func TestWaitDurable(t *testing.T) {
	s, _ := openMem(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if seq, err := s.WaitDurable(ctx, 0); !errors.Is(err, context.DeadlineExceeded) || seq != 0 {
		t.Fatalf("WaitDurable on empty = %d, %v", seq, err)
	}
	got := make(chan uint64)
	go func() {
		seq, _ := s.WaitDurable(context.Background(), 0)
		got <- seq
	}()
	appendOK(t, s, unchecked(mkEvent(t, "w1", "c", t0, "")))
	if seq := <-got; seq != 1 {
		t.Fatalf("WaitDurable = %d, want 1", seq)
	}
}

func TestQuarantineRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := []QuarantineEntry{
		{ReceivedAt: t0, Code: journey.CodeInvalidJSON, Reason: "invalid_json: not an object", Origin: "import", Raw: []byte("[1,2]")},
		{ReceivedAt: t0.Add(time.Second), Code: journey.CodeInvalidField, Field: "data.amount", Reason: "bad amount", Origin: "nats:journey.events.x", Raw: []byte(`{"id":"q"}`)},
		{ReceivedAt: t0.Add(2 * time.Second), Code: journey.CodeUnknownType, Field: "type", Reason: "unknown", Origin: "http", Raw: []byte(`{}`)},
	}
	for i, e := range in {
		seq, err := s.Quarantine(ctx, e)
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("Quarantine %d = %d, %v", i, seq, err)
		}
	}
	if err := s.QuarantineDelete(3); err != nil {
		t.Fatal(err)
	}
	if err := s.QuarantineDelete(3); !errors.Is(err, ErrNotQuarantined) {
		t.Fatalf("second delete = %v", err)
	}
	s.Close()

	s, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.QuarantineCount(); got != 2 {
		t.Fatalf("QuarantineCount()=%d, want 2", got)
	}
	var out []QuarantineEntry
	if err := s.QuarantineScan(ctx, func(e *QuarantineEntry) error { out = append(out, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range out {
		want := in[i]
		want.Seq = uint64(i + 1)
		if fmt.Sprint(out[i]) != fmt.Sprint(want) {
			t.Fatalf("entry %d = %+v, want %+v", i, out[i], want)
		}
	}
	// Sequences are not reused after deleting the last one (the deleted
	// input, quarantined again, is a new entry).
	if seq, err := s.Quarantine(ctx, in[2]); err != nil || seq != 4 {
		t.Fatalf("Quarantine after reopen = %d, %v; want 4", seq, err)
	}
	if got := s.QuarantineCount(); got != 3 {
		t.Fatalf("QuarantineCount()=%d, want 3", got)
	}
}

// TestScanRawAndReadSeqs: ScanRaw hands over the same records as Scan;
// CustomerSeqs lists a customer's sequences; ReadSeqs reads the merged
// histories of several customers in one forward sweep, and refuses
// unsorted or not yet durable sequences.
func TestScanRawAndReadSeqs(t *testing.T) {
	s, _ := openMem(t)
	ctx := context.Background()
	custs := []string{"ann", "ben", "cat"}
	var reqs []Request
	for i := range 12 {
		reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("rs-%02d", i), custs[i%3], t0.Add(time.Duration(i)*time.Minute), "")))
	}
	appendOK(t, s, reqs...)

	var viaScan, viaRaw []string
	if err := s.Scan(ctx, 0, 0, func(r *Record) error {
		viaScan = append(viaScan, fmt.Sprintf("%d %s %s %v %d %x", r.Seq, r.Customer, r.Raw, r.Type, r.EventTime.UnixNano(), r.Hash))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.ScanRaw(ctx, 0, 0, func(r *RawRecord) error {
		viaRaw = append(viaRaw, fmt.Sprintf("%d %s %s %v %d %x", r.Seq, r.Customer, r.Raw, r.Type, r.EventSec*1e9+int64(r.EventNsec), r.Hash))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(viaScan) != fmt.Sprint(viaRaw) || len(viaRaw) != 12 {
		t.Fatalf("ScanRaw gave\n%v\nScan gave\n%v", viaRaw, viaScan)
	}

	ann, err := s.CustomerSeqs(ctx, "ann")
	if err != nil || fmt.Sprint(ann) != "[1 4 7 10]" {
		t.Fatalf("CustomerSeqs(ann) = %v, %v", ann, err)
	}
	cat, err := s.CustomerSeqs(ctx, "cat")
	if err != nil || fmt.Sprint(cat) != "[3 6 9 12]" {
		t.Fatalf("CustomerSeqs(cat) = %v, %v", cat, err)
	}
	if none, err := s.CustomerSeqs(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Fatalf("CustomerSeqs(nobody) = %v, %v", none, err)
	}
	merged := append(append([]uint64{}, ann...), cat...)
	slices.Sort(merged)
	var got []string
	if err := s.ReadSeqs(ctx, merged, func(r *RawRecord) error {
		want := reqs[r.Seq-1].Event
		if string(r.Raw) != string(want.Raw) || string(r.Customer) != want.Subject {
			t.Errorf("record %d is %s of %s, want %s", r.Seq, r.Raw, r.Customer, want.ID)
		}
		got = append(got, fmt.Sprintf("%d %s", r.Seq, r.Customer))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 ann 3 cat 4 ann 6 cat 7 ann 9 cat 10 ann 12 cat]" {
		t.Fatalf("ReadSeqs read %v", got)
	}
	if err := s.ReadSeqs(ctx, []uint64{4, 1}, func(*RawRecord) error { return nil }); err == nil {
		t.Fatal("ReadSeqs accepted descending sequences")
	}
	if err := s.ReadSeqs(ctx, []uint64{5, 13}, func(*RawRecord) error { return nil }); err == nil {
		t.Fatal("ReadSeqs read past the durable position")
	}
}
