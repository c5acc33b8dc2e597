package customer

import (
	"encoding/hex"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

// v1GoldenEvents are the events whose fold testdata/state_v1.hex holds in
// the version-1 encoding (written by the codec before FirstDayRevenue).
var v1GoldenEvents = []string{
	"2024-01-02T10:00 purchase order_id=o1 amount=10.00 currency=EUR source=pos/store-1/till-2",
	"2024-01-02T15:00 purchase order_id=o2 amount=5.50 currency=EUR",
	"2024-01-09T10:00 purchase order_id=o3 amount=30.00 currency=EUR",
	"2024-01-10T10:00 feedback nps=9 csat=5",
	"2024-01-16T10:00 purchase order_id=o4 amount=20.00 currency=EUR",
}

func foldLines(t *testing.T, customer string, lines []string) *State {
	t.Helper()
	var evs []foldEvent
	for i, l := range lines {
		evs = append(evs, parseEventLine(t, customer, uint64(i+1), l))
	}
	return fold(customer, evs)
}

// TestFirstDayRevenue: the fold keeps the amounts of the first purchase
// day per currency, also when a purchase of an earlier day comes later (a
// new first day replaces them, with or without an amount), and
// RepeatRevenue is the rest.
func TestFirstDayRevenue(t *testing.T) {
	s := foldLines(t, "c", []string{
		"2024-03-05T09:00 purchase order_id=a amount=10.00 currency=EUR",
		"2024-03-05T18:00 purchase order_id=b amount=2.00 currency=GBP",
		"2024-03-05T19:00 purchase order_id=c amount=1.00 currency=EUR",
		"2024-03-12T09:00 purchase order_id=d amount=40.00 currency=EUR",
	})
	if want := (Money{"EUR": 1100, "GBP": 200}); !reflect.DeepEqual(s.FirstDayRevenue, want) {
		t.Fatalf("FirstDayRevenue %v, want %v", s.FirstDayRevenue, want)
	}
	if r, ok := s.RepeatRevenue("EUR"); !ok || r != 4000 {
		t.Fatalf("RepeatRevenue(EUR) = %d, %v; want 4000, true", r, ok)
	}
	if r, ok := s.RepeatRevenue("GBP"); !ok || r != 0 {
		t.Fatalf("RepeatRevenue(GBP) = %d, %v; want 0, true", r, ok)
	}
	// An earlier day arriving out of order becomes the first day.
	s.Apply(parseEventLine(t, "c", 9, "2024-03-01T09:00 purchase order_id=e amount=7.00 currency=EUR").ev, 9)
	if want := (Money{"EUR": 700}); !reflect.DeepEqual(s.FirstDayRevenue, want) {
		t.Fatalf("after an earlier day: FirstDayRevenue %v, want %v", s.FirstDayRevenue, want)
	}
	if r, _ := s.RepeatRevenue("EUR"); r != 5100 {
		t.Fatalf("RepeatRevenue(EUR) = %d after an earlier day, want 5100", r)
	}
	s.Apply(parseEventLine(t, "c", 10, "2024-02-01T09:00 purchase order_id=f amount=0.00 currency=GBP").ev, 10)
	if want := (Money{"GBP": 0}); !reflect.DeepEqual(s.FirstDayRevenue, want) {
		t.Fatalf("a new first day of GBP 0: FirstDayRevenue %v, want %v", s.FirstDayRevenue, want)
	}
	if r, _ := s.RepeatRevenue("EUR"); r != 5800 {
		t.Fatalf("RepeatRevenue(EUR) = %d, want 5800 (every EUR day is a repeat day now)", r)
	}
}

// TestDecodeVersion1: a state stored in the version-1 encoding still
// decodes, with FirstDayRevenue unknown (RepeatRevenue false, and the CLV
// falls back to the mean over all days) and stays unknown through a
// re-encoding; the fold of the same events (a rebuild) knows it, and its
// CLV takes the repeat-days mean.
func TestDecodeVersion1(t *testing.T) {
	hx, err := os.ReadFile("testdata/state_v1.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(hx)))
	if err != nil || b[0] != 1 {
		t.Fatalf("golden: %v, version %d", err, b[0])
	}
	var old State
	if err := old.UnmarshalBinary(b); err != nil {
		t.Fatalf("version-1 state: %v", err)
	}
	re := foldLines(t, "v1-golden", v1GoldenEvents)
	if re.FirstDayRevenue["EUR"] != 1550 {
		t.Fatalf("refolded FirstDayRevenue %v, want EUR 15.50", re.FirstDayRevenue)
	}
	if old.FirstDayRevenue != nil || !old.firstDayUnknown {
		t.Fatalf("version-1 state: FirstDayRevenue %v, unknown %v", old.FirstDayRevenue, old.firstDayUnknown)
	}
	// Apart from the new field, the old state is the fold's.
	cmp := *re
	cmp.FirstDayRevenue, cmp.firstDayUnknown = nil, true
	if !reflect.DeepEqual(&old, &cmp) {
		t.Fatalf("version-1 state differs from the fold:\n got %+v\nwant %+v", &old, &cmp)
	}
	if _, ok := old.RepeatRevenue("EUR"); ok {
		t.Fatal("RepeatRevenue known on a version-1 state")
	}
	b2, _ := old.MarshalBinary()
	var again State
	if err := again.UnmarshalBinary(b2); err != nil || b2[0] != stateCodecVersion || !reflect.DeepEqual(&again, &old) {
		t.Fatalf("re-encoded version-1 state: %v, version %d, equal %v", err, b2[0], reflect.DeepEqual(&again, &old))
	}
	// A version-1 state without purchase days knows its (empty) first day:
	// its first purchase after the upgrade is kept.
	vb, err := os.ReadFile("testdata/state_v1_visitor.hex")
	if err != nil {
		t.Fatal(err)
	}
	if b, err = hex.DecodeString(strings.TrimSpace(string(vb))); err != nil {
		t.Fatal(err)
	}
	var p State
	if err := p.UnmarshalBinary(b); err != nil || p.Visits != 1 || len(p.Stores) != 1 {
		t.Fatalf("version-1 visitor: %v, %+v", err, p)
	}
	p.Apply(parseEventLine(t, "v1-visitor", 2, "2024-01-05T10:00 purchase order_id=x amount=3.00 currency=EUR").ev, 2)
	if r, ok := p.RepeatRevenue("EUR"); !ok || r != 0 || p.FirstDayRevenue["EUR"] != 300 {
		t.Fatalf("version-1 visitor after a purchase: RepeatRevenue %d, %v; FirstDayRevenue %v", r, ok, p.FirstDayRevenue)
	}

	// CLV: the rebuilt state takes m̄ = 50.00 / 2, the old one 65.50 / 3.
	asOf := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	pop := &Population{CLV: &CLVFit{Model: "bgnbd", R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, Unit: "week",
		AsOf: asOf, Currency: "EUR", P: 6.25, Q: 3.74, Gamma: 15.44, HorizonMonths: 12, Discount: 0.01}}
	f := pop.CLV
	em := func(mean float64) string {
		v := f.P * (f.Gamma + 2*mean) / (2*f.P + f.Q - 1)
		return journey.FormatAmount(int64(math.Round(v*100)), "EUR")
	}
	var c Config
	if got, want := c.CLV(re, asOf, pop).ExpectedOrderValue, em(25); got != want {
		t.Errorf("rebuilt state: expected order value %s, want %s (m̄ of the repeat days 25.00)", got, want)
	}
	if got, want := c.CLV(&old, asOf, pop).ExpectedOrderValue, em(65.50/3); got != want {
		t.Errorf("version-1 state: expected order value %s, want %s (m̄ of all days)", got, want)
	}
}
