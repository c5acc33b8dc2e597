package customer

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

// foldEvent is one event of a test journey with its log sequence.
type foldEvent struct {
	ev  *journey.Event
	seq uint64
}

// mkEvent builds a real CloudEvent with journey.NewEvent and decodes it
// with journey.Decode, as the engine does.
func mkEvent(tb testing.TB, subject string, seq uint64, t time.Time, kind journey.Kind, source string, data map[string]any) foldEvent {
	tb.Helper()
	if source == "" {
		source = "test/fold"
	}
	if data == nil {
		data = map[string]any{}
	}
	raw, err := journey.NewEvent(fmt.Sprintf("ev-%s-%d", subject, seq), source, kind, subject, t, data)
	if err != nil {
		tb.Fatalf("NewEvent(%s %v): %v", kind, data, err)
	}
	ev, err := journey.Decode(raw, time.Time{})
	if err != nil {
		tb.Fatalf("Decode(%s): %v", raw, err)
	}
	return foldEvent{ev, seq}
}

// sortFold sorts events into event-time order (time, then seq).
func sortFold(evs []foldEvent) {
	slices.SortFunc(evs, func(a, b foldEvent) int {
		if c := a.ev.Time.Compare(b.ev.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

func fold(customer string, evs []foldEvent) *State {
	s := NewState(customer)
	for _, e := range evs {
		s.Apply(e.ev, e.seq)
	}
	return s
}

func mustTime(tb testing.TB, v string) time.Time {
	tb.Helper()
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC()
		}
	}
	tb.Fatalf("bad time %q", v)
	return time.Time{}
}

// parseEventLine turns "2024-01-02 purchase amount=10.00 currency=GBP
// source=pos/store-1/till-2" into an event. Integer fields (csat, nps,
// items) become numbers, public=true a bool, traits.K=V a traits entry.
func parseEventLine(tb testing.TB, subject string, seq uint64, line string) foldEvent {
	tb.Helper()
	f := strings.Fields(line)
	if len(f) < 2 {
		tb.Fatalf("bad event line %q", line)
	}
	t := mustTime(tb, f[0])
	kind := journey.Kind(f[1])
	source := ""
	data := map[string]any{}
	for _, kv := range f[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			tb.Fatalf("bad field %q in %q", kv, line)
		}
		switch {
		case k == "source":
			source = v
		case k == "csat" || k == "nps" || k == "items":
			n, err := strconv.Atoi(v)
			if err != nil {
				tb.Fatalf("bad %s in %q", k, line)
			}
			data[k] = n
		case k == "public":
			data[k] = v == "true"
		case strings.HasPrefix(k, "traits."):
			tr, _ := data["traits"].(map[string]string)
			if tr == nil {
				tr = map[string]string{}
				data["traits"] = tr
			}
			tr[strings.TrimPrefix(k, "traits.")] = v
		default:
			data[k] = v
		}
	}
	return mkEvent(tb, subject, seq, t, kind, source, data)
}

// randomJourney returns n random events of one customer, with many equal
// times (so that seq decides), in log order (seq ascending).
func randomJourney(tb testing.TB, rng *rand.Rand, customer string, n int) []foldEvent {
	tb.Helper()
	base := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]foldEvent, 0, n)
	cases := 0
	for i := range n {
		t := base.Add(time.Duration(rng.IntN(800)) * 24 * time.Hour).Add(time.Duration(rng.IntN(3)) * time.Hour)
		seq := uint64(i + 1)
		store := fmt.Sprintf("pos/store-%d/till-1", rng.IntN(3))
		var e foldEvent
		switch rng.IntN(10) {
		case 0, 1:
			e = mkEvent(tb, customer, seq, t, journey.KindVisit, store, map[string]any{"channel": "store"})
		case 2, 3, 4:
			d := map[string]any{"order_id": fmt.Sprint("o", i), "amount": fmt.Sprintf("%d.%02d", rng.IntN(200), rng.IntN(100)),
				"currency": []string{"GBP", "EUR"}[rng.IntN(2)], "items": 1 + rng.IntN(4)}
			if rng.IntN(3) == 0 {
				d["discount"] = "1.50"
			}
			e = mkEvent(tb, customer, seq, t, journey.KindPurchase, store, d)
		case 5:
			e = mkEvent(tb, customer, seq, t, journey.KindReturn, "", map[string]any{"order_id": "o1", "amount": "5.00",
				"currency": "GBP", "kind": []string{"refund", "exchange"}[rng.IntN(2)]})
		case 6:
			cases++
			d := map[string]any{"case_id": fmt.Sprint("k", rng.IntN(cases)+1), "severity": []string{"low", "medium", "high"}[rng.IntN(3)]}
			if rng.IntN(4) == 0 {
				d["escalated_to"] = "media"
			}
			e = mkEvent(tb, customer, seq, t, journey.KindComplaint, "", d)
		case 7:
			e = mkEvent(tb, customer, seq, t, journey.KindComplaintResolved, "", map[string]any{"case_id": fmt.Sprint("k", rng.IntN(cases+1)+1),
				"outcome": []string{"resolved", "compensated", "rejected"}[rng.IntN(3)]})
		case 8:
			d := map[string]any{"nps": rng.IntN(11), "public": rng.IntN(2) == 0}
			if rng.IntN(2) == 0 {
				d["csat"] = 1 + rng.IntN(5)
			}
			e = mkEvent(tb, customer, seq, t, journey.KindFeedback, store, d)
		default:
			switch rng.IntN(3) {
			case 0:
				e = mkEvent(tb, customer, seq, t, journey.KindReferral, "", map[string]any{"referred": fmt.Sprint("friend-", i)})
			case 1:
				e = mkEvent(tb, customer, seq, t, journey.KindProfile, "", map[string]any{"kind": "individual",
					"country": []string{"GB", "FR"}[rng.IntN(2)], "traits": map[string]string{"tier": fmt.Sprint(rng.IntN(3))}})
			default:
				e = mkEvent(tb, customer, seq, t, journey.KindThankYou, "", map[string]any{"message_id": fmt.Sprint("m", i),
					"reason": "repeat_purchase", "channel": "email"})
			}
		}
		evs = append(evs, e)
	}
	return evs
}

// TestFoldArrivalOrder: whatever order the events arrive in, sorting them
// by (time, seq) and folding gives the identical state.
func TestFoldArrivalOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 40 {
		evs := randomJourney(t, rng, "c1", 5+rng.IntN(120))
		want := slices.Clone(evs)
		sortFold(want)
		ws := fold("c1", want)
		for range 5 {
			got := slices.Clone(evs)
			rng.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
			sortFold(got)
			gs := fold("c1", got)
			if !reflect.DeepEqual(gs, ws) {
				t.Fatalf("trial %d: fold after shuffle+sort differs:\n got %+v\nwant %+v", trial, gs, ws)
			}
			wb, _ := ws.MarshalBinary()
			gb, _ := gs.MarshalBinary()
			if !bytes.Equal(wb, gb) {
				t.Fatalf("trial %d: encodings differ", trial)
			}
		}
		if ws.Events != len(evs) || ws.LastSeq != uint64(len(evs)) {
			t.Fatalf("Events=%d LastSeq=%d, want %d", ws.Events, ws.LastSeq, len(evs))
		}
	}
}

// TestFoldIncremental: folding a prefix, storing it (MarshalBinary),
// loading it and folding the rest gives the state of one fold, as live
// projection does.
func TestFoldIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 40 {
		evs := randomJourney(t, rng, "c2", 2+rng.IntN(100))
		sortFold(evs)
		want := fold("c2", evs)
		cut := rng.IntN(len(evs))
		s := fold("c2", evs[:cut])
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 State
		if err := s2.UnmarshalBinary(b); err != nil {
			t.Fatalf("trial %d: UnmarshalBinary: %v", trial, err)
		}
		for _, e := range evs[cut:] {
			s2.Apply(e.ev, e.seq)
		}
		if !reflect.DeepEqual(&s2, want) {
			t.Fatalf("trial %d (cut %d): incremental fold differs:\n got %+v\nwant %+v", trial, cut, &s2, want)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	states := []*State{NewState("empty")}
	for i := range 30 {
		evs := randomJourney(t, rng, fmt.Sprint("cust-", i), 1+rng.IntN(150))
		sortFold(evs)
		s := fold(fmt.Sprint("cust-", i), evs)
		if i%3 == 0 {
			s.MarkReferred("ref-"+fmt.Sprint(i), time.Date(2023, 5, 1, 12, 0, 0, 5, time.UTC), 77)
		}
		states = append(states, s)
	}
	for _, s := range states {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got State
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: UnmarshalBinary: %v", s.Customer, err)
		}
		if !reflect.DeepEqual(&got, s) {
			t.Fatalf("%s: round trip differs:\n got %+v\nwant %+v", s.Customer, &got, s)
		}
		// Every truncation is an error, never a panic or a silent success.
		for n := 0; n < len(b); n++ {
			var x State
			if err := x.UnmarshalBinary(b[:n]); err == nil {
				t.Fatalf("%s: UnmarshalBinary of %d/%d bytes succeeded", s.Customer, n, len(b))
			}
		}
	}
	var x State
	if err := x.UnmarshalBinary([]byte{99}); err == nil {
		t.Fatal("unknown version accepted")
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 5 {
		evs := randomJourney(f, rng, "f", 1+rng.IntN(40))
		sortFold(evs)
		b, _ := fold("f", evs).MarshalBinary()
		f.Add(b)
	}
	for _, name := range []string{"testdata/state_v1.hex", "testdata/state_v1_visitor.hex"} { // version-1 states
		hx, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(hx)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if s.UnmarshalBinary(b) != nil {
			return
		}
		// What decodes must re-encode to bytes that decode to the same state.
		b2, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 State
		if err := s2.UnmarshalBinary(b2); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(&s, &s2) {
			t.Fatalf("re-decoded state differs")
		}
	})
}

func TestApplyFacts(t *testing.T) {
	var evs []foldEvent
	add := func(line string) { evs = append(evs, parseEventLine(t, "c", uint64(len(evs)+1), line)) }
	add("2024-01-01T10:00:00Z visit channel=store store_id=store-7")
	add("2024-01-01T11:00:00Z purchase order_id=o1 amount=10.50 currency=GBP items=2 discount=1.00 source=pos/store-3/till-1")
	add("2024-01-01T12:00:00Z purchase order_id=o2 amount=4.00 currency=GBP")
	add("2024-01-11T12:00:00Z purchase order_id=o3 amount=100 currency=JPY")
	add("2024-01-12T12:00:00Z return order_id=o1 amount=2.50 currency=GBP kind=refund")
	add("2024-01-12T13:00:00Z return order_id=o2 amount=4.00 currency=GBP kind=exchange")
	add("2024-01-13T00:00:00Z complaint case_id=k1 severity=low")
	add("2024-01-14T00:00:00Z complaint case_id=k1 severity=high escalated_to=media")
	add("2024-01-15T00:00:00Z complaint case_id=k2 severity=medium")
	add("2024-01-16T00:00:00Z complaint_resolved case_id=k1 outcome=compensated")
	add("2024-01-17T00:00:00Z feedback nps=3 csat=2 public=true")
	add("2024-01-18T00:00:00Z referral referred=friend")
	add("2024-01-18T00:00:00Z referral referred=c")
	add("2024-01-19T00:00:00Z profile kind=business country=FR traits.tier=gold")
	add("2024-01-20T00:00:00Z profile kind=business traits.size=large")
	add("2024-01-21T00:00:00Z thank_you message_id=m1 reason=feedback channel=email")
	s := fold("c", evs)
	if got, want := s.Revenue, (Money{"GBP": 1450, "JPY": 100}); !reflect.DeepEqual(got, want) {
		t.Errorf("Revenue=%v, want %v", got, want)
	}
	if got, want := s.Refunds, (Money{"GBP": 250}); !reflect.DeepEqual(got, want) {
		t.Errorf("Refunds=%v, want %v", got, want)
	}
	if got, want := s.NetRevenue(), (Money{"GBP": 1200, "JPY": 100}); !reflect.DeepEqual(got, want) {
		t.Errorf("NetRevenue=%v, want %v", got, want)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s=%v, want %v", name, got, want)
		}
	}
	check("Events", s.Events, 16)
	check("Visits", s.Visits, 1)
	check("Purchases", s.Purchases, 3)
	check("DiscountedPurchases", s.DiscountedPurchases, 1)
	check("Items", s.Items, 2)
	check("ShoppingDays", s.ShoppingDays, []int32{19723, 19733}) // 2024-01-01, 2024-01-11
	check("PurchaseDays(2024-01-05)", s.PurchaseDays(mustTime(t, "2024-01-05")), []int{19723})
	check("Returns", s.Returns, 2)
	check("Exchanges", s.Exchanges, 1)
	check("Complaints", s.Complaints, 2) // k1 twice is one case
	check("Escalations", s.Escalations, 1)
	check("ComplaintsResolved", s.ComplaintsResolved, 1)
	check("OpenComplaints", s.OpenComplaints, []Complaint{{CaseID: "k2", Severity: "medium", Opened: mustTime(t, "2024-01-15")}})
	check("LastNPS", s.LastNPS, 3)
	check("LastCSAT", s.LastCSAT, 2)
	check("Detractors", s.Detractors, 1)
	check("PublicReviews/Praise", [2]int{s.PublicReviews, s.PublicPraise}, [2]int{1, 0})
	check("ReferralsMade", s.ReferralsMade, 1) // a self-referral does not count
	check("Country", s.Country, "FR")
	check("ProfileKind", s.ProfileKind, "business")
	check("Traits", s.Traits, map[string]string{"tier": "gold", "size": "large"})
	check("Stores", s.Stores, []string{"store-7", "store-3"})
	check("LastStore", s.LastStore, "store-3")
	check("ThankYous", s.ThankYous, 1)
	check("FirstSeen", s.FirstSeen, mustTime(t, "2024-01-01T10:00:00Z"))
	check("LastPurchase", s.LastPurchase, mustTime(t, "2024-01-11T12:00:00Z"))
	// Signals: 3 purchases, 2 returns, low, escalated, medium complaints,
	// compensated, csat, nps (the feedback's store: its source names none,
	// so the last visit/purchase store, store-3 = index 1 → Store 2).
	var kinds []SignalKind
	for _, sg := range s.Signals {
		kinds = append(kinds, sg.Kind)
	}
	check("signal kinds", kinds, []SignalKind{SignalPurchase, SignalPurchase, SignalPurchase, SignalReturn, SignalReturn,
		SignalComplaintLow, SignalComplaintEscalated, SignalComplaintMedium, SignalCompensated, SignalCSAT, SignalNPS})
	check("nps signal", s.Signals[len(s.Signals)-1], Signal{At: mustTime(t, "2024-01-17").Unix(), Kind: SignalNPS, Value: 3, Store: 2})
}

func TestMarkReferred(t *testing.T) {
	s := NewState("b")
	t1, t2 := mustTime(t, "2024-02-01"), mustTime(t, "2024-01-01")
	s.MarkReferred("b", t2, 1) // self: ignored
	s.MarkReferred("x", t1, 10)
	s.MarkReferred("y", t2, 20) // earlier time wins
	s.MarkReferred("z", t2, 30) // same time, later seq: loses
	s.MarkReferred("y", t2, 20) // idempotent
	if s.ReferredBy != "y" || !s.ReferredAt.Equal(t2) || s.ReferredSeq != 20 {
		t.Fatalf("referred by %q at %v seq %d, want y at %v seq 20", s.ReferredBy, s.ReferredAt, s.ReferredSeq, t2)
	}
	if s.LastSeq != 0 || !s.LastTime.IsZero() {
		t.Fatalf("MarkReferred moved LastSeq/LastTime")
	}
}

func TestReactivationRule(t *testing.T) {
	// Purchase days 0, 10, 20 (mean gap 10): a purchase 40 days after the
	// last is not past 4 × 10; 41 days is. With one earlier purchase day
	// only the 365-day rule applies.
	base := mustTime(t, "2024-01-01T12:00:00Z")
	day := func(d int) time.Time { return base.AddDate(0, 0, d) }
	for _, tc := range []struct {
		days []int
		want int // reactivations
	}{
		{[]int{0, 10, 20, 60}, 0},
		{[]int{0, 10, 20, 61}, 1},
		{[]int{0, 365}, 0},
		{[]int{0, 366}, 1},
		{[]int{0, 366, 370, 800}, 2},
		{[]int{0, 0, 10, 20, 61}, 1}, // same-day purchases count once
	} {
		var evs []foldEvent
		for i, d := range tc.days {
			evs = append(evs, mkEvent(t, "r", uint64(i+1), day(d), journey.KindPurchase, "",
				map[string]any{"order_id": fmt.Sprint(i), "amount": "1.00", "currency": "GBP"}))
		}
		s := fold("r", evs)
		if s.Reactivations != tc.want {
			t.Errorf("days %v: %d reactivations, want %d", tc.days, s.Reactivations, tc.want)
		}
		if tc.want > 0 && !s.ReactivatedAt.Equal(day(tc.days[len(tc.days)-1])) {
			t.Errorf("days %v: ReactivatedAt %v", tc.days, s.ReactivatedAt)
		}
	}
}

func TestStoreFromSource(t *testing.T) {
	for src, want := range map[string]string{
		"pos/store-042/till-3": "store-042",
		"store-1":              "store-1",
		"web/checkout":         "",
		"":                     "",
		"a/b/storefront":       "storefront",
	} {
		if got := storeFromSource(src); got != want {
			t.Errorf("storeFromSource(%q)=%q, want %q", src, got, want)
		}
	}
}
