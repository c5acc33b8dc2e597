package customer

import (
	"fmt"
	"math"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/bgnbd"
)

// purchasesOnDays folds one purchase at noon UTC on each day after first.
func purchasesOnDays(t *testing.T, first time.Time, days ...int) *State {
	t.Helper()
	var evs []foldEvent
	for i, d := range days {
		evs = append(evs, mkEvent(t, "b", uint64(i+1), first.AddDate(0, 0, d).Add(12*time.Hour), journey.KindPurchase, "",
			map[string]any{"order_id": fmt.Sprint(i), "amount": "10.00", "currency": "GBP"}))
	}
	return fold("b", evs)
}

// pAlive is the BG/NBD P(alive) of Fader, Hardie & Lee (2005), eq. (13),
// for x > 0: 1 / (1 + a/(b+x−1) · ((α+T)/(α+tx))^(r+x)).
func pAlive(r, alpha, a, b, x, tx, T float64) float64 {
	return 1 / (1 + a/(b+x-1)*math.Pow((alpha+T)/(alpha+tx), r+x))
}

// TestChurnBGNBDPublished: the CDNOW customer of the paper (x = 2,
// t_x = 30.43, T = 38.86 weeks) expects 1.226 purchases in the next 39
// weeks under the published fit.
func TestChurnBGNBDPublished(t *testing.T) {
	first := time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC)
	s := purchasesOnDays(t, first, 0, 100, 213)          // t_x = 213/7 = 30.43 weeks
	asOf := first.AddDate(0, 0, 272).Add(23 * time.Hour) // T = 272/7 = 38.86 weeks
	if got, want := s.PurchaseDays(asOf), []int{bgnbd.Day(first), bgnbd.Day(first) + 100, bgnbd.Day(first) + 213}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("PurchaseDays=%v, want %v", got, want)
	}
	pop := &Population{Churn: &ChurnFit{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, Unit: "week"}}
	c := &Config{ForecastDays: 39 * 7}
	a := c.Churn(s, asOf, pop)
	if a.ExpectedNext == nil || math.Abs(*a.ExpectedNext-1.226) > 0.001 {
		t.Fatalf("expected purchases next 39 weeks = %v, want 1.226", a.ExpectedNext)
	}
	if want := pAlive(0.243, 4.414, 0.793, 2.426, 2, 213.0/7, 272.0/7); a.PAlive == nil || math.Abs(*a.PAlive-want) > 1e-9 {
		t.Fatalf("p_alive = %v, want %v", a.PAlive, want)
	}
	// Mean gap 106.5 days, 59.5 days since the last purchase: active.
	if a.Status != ChurnActive {
		t.Fatalf("status %s, want active", a.Status)
	}
}

// TestChurnPAlive: a customer who bought every 20 days and has been silent
// 70 days is at_risk by recency (3.5 × the gap) but churned by a BG/NBD
// fit that puts p_alive below 0.2.
func TestChurnPAlive(t *testing.T) {
	first := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var days []int
	for d := 0; d <= 200; d += 20 {
		days = append(days, d)
	}
	s := purchasesOnDays(t, first, days...)
	asOf := first.AddDate(0, 0, 270).Add(12 * time.Hour)
	if a := (*Config)(nil).Churn(s, asOf, nil); a.Status != ChurnAtRisk || a.ExpectedGap != 20 || *a.RecencyDays != 70 {
		t.Fatalf("without a fit: %+v (recency %v), want at_risk, gap 20, recency 70", a, *a.RecencyDays)
	}
	pop := &Population{Churn: &ChurnFit{R: 1, Alpha: 1, A: 5, B: 1, Unit: "week"}}
	a := (*Config)(nil).Churn(s, asOf, pop)
	want := pAlive(1, 1, 5, 1, 10, 200.0/7, 270.0/7)
	if want >= MinPAlive {
		t.Fatalf("test setup: p_alive %v not below %v", want, MinPAlive)
	}
	if a.PAlive == nil || math.Abs(*a.PAlive-want) > 1e-9 || a.Status != ChurnChurned {
		t.Fatalf("with the fit: status %s p_alive %v, want churned, %v", a.Status, a.PAlive, want)
	}
	cu := (*Config)(nil).Derive(s, asOf, pop)
	if cu.Stage != StageChurned || cu.PAlive == nil || cu.ExpectedNext == nil {
		t.Fatalf("Derive: stage %s p_alive %v next %v", cu.Stage, cu.PAlive, cu.ExpectedNext)
	}
	// Day units: the same history in days gives the same p_alive with α in days.
	popDay := &Population{Churn: &ChurnFit{R: 1, Alpha: 7, A: 5, B: 1, Unit: "day"}}
	if ad := (*Config)(nil).Churn(s, asOf, popDay); math.Abs(*ad.PAlive-want) > 1e-9 {
		t.Fatalf("unit day: p_alive %v, want %v", *ad.PAlive, want)
	}
}

func TestChurnRecency(t *testing.T) {
	first := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s := purchasesOnDays(t, first, 0, 10, 20) // mean gap 10 days, last purchase day 20 at noon
	last := first.AddDate(0, 0, 20).Add(12 * time.Hour)
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{
		{20 * 24 * time.Hour, ChurnActive},            // exactly 2 × gap
		{20*24*time.Hour + time.Second, ChurnAtRisk},  // past 2 × gap
		{40 * 24 * time.Hour, ChurnAtRisk},            // exactly 4 × gap
		{40*24*time.Hour + time.Second, ChurnChurned}, // past 4 × gap
	} {
		if got := (*Config)(nil).Churn(s, last.Add(tc.after), nil).Status; got != tc.want {
			t.Errorf("%v after the last purchase: %s, want %s", tc.after, got, tc.want)
		}
	}
}

// TestChurnDegenerateFitFinite: a fit at which BG/NBD's prediction is
// undefined (a = 1, where eq. 10 is singular) leaves the expected
// purchases out of the answer rather than carrying NaN (which JSON cannot
// write: journey customer --json and the exports failed).
func TestChurnDegenerateFitFinite(t *testing.T) {
	first := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s := purchasesOnDays(t, first, 0, 4, 19)
	asOf := first.AddDate(0, 0, 365)
	fit := &ChurnFit{R: 1, Alpha: 1, A: 1, B: 1, Unit: "week"}
	if v := fit.predictor().ConditionalExpected(90.0/7, bgnbd.FromPurchaseDays(s.PurchaseDays(asOf), bgnbd.Day(asOf), 7)); !math.IsNaN(v) {
		t.Fatalf("test setup: expected purchases %v, want NaN at a = 1", v)
	}
	a := (*Config)(nil).Churn(s, asOf, &Population{Churn: fit})
	for name, v := range map[string]*float64{"p_alive": a.PAlive, "expected": a.ExpectedNext} {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			t.Errorf("%s = %v, want a finite value or none", name, *v)
		}
	}
	if a.PAlive == nil || a.Model != ModelBGNBD {
		t.Errorf("p_alive %v model %q, want p_alive kept (it is defined) and bgnbd", a.PAlive, a.Model)
	}
}
