package projections

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/customer"
)

// TestCLVStoredAppliedAndCarried: a stored CLV model gives each customer
// with a purchase in its currency an expected order value (Gamma-Gamma
// from x = purchase days − 1 and m̄ = the revenue of the repeat purchase
// days / x, the first day left out as clv fit does) and a
// discounted CLV (summed here month by month from the BG/NBD conditional
// expectation), none to a customer without a purchase or as of before
// the calibration end; segments by clv count the bands; a rebuild and a
// reopen keep the model; SetCLV(nil) removes it.
func TestCLVStoredAppliedAndCarried(t *testing.T) {
	day := func(d int) time.Time { return simStart.Add(time.Duration(d) * 24 * time.Hour) }
	buy := func(id, who string, d int, amount string) []byte {
		return ev(id, "purchase", who, day(d), fmt.Sprintf(`{"order_id":%q,"amount":%q,"currency":"EUR"}`, id, amount))
	}
	raws := [][]byte{
		buy("b1", "bob", 1, "10.00"), buy("b2", "bob", 8, "30.00"), buy("b3", "bob", 15, "20.00"),
		buy("a1", "ann", 2, "10.00"),
		ev("c1", "visit", "cid", day(3), `{"channel":"store","store_id":"store-1"}`),
	}
	opts := &Options{Clock: fixedClock(day(30))}
	dir, log, v := loadedViews(t, raws, opts)
	ctx := context.Background()
	if _, err := v.Segments(ctx, ByCLV, time.Time{}); !errors.Is(err, ErrNoCLV) {
		t.Fatalf("segments by clv before a fit: %v, want ErrNoCLV", err)
	}
	if c, err := v.Customer(ctx, "bob", time.Time{}); err != nil || c.CLV != nil {
		t.Fatalf("bob before a fit: %+v, %v", c, err)
	}
	fit := &customer.CLVFit{Model: "bgnbd", R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, Unit: "week", AsOf: day(20),
		Currency: "EUR", P: 6.25, Q: 3.74, Gamma: 15.44, HorizonMonths: 12, Discount: 0.01}
	if err := v.SetCLV(fit); err != nil {
		t.Fatal(err)
	}
	tm := bgnbd.Params{R: fit.R, Alpha: fit.Alpha, A: fit.A, B: fit.B}
	want := func(days []int, em float64) (string, string) {
		c := bgnbd.FromPurchaseDays(days, bgnbd.Day(day(30)), 7)
		var clv, prev float64
		for m := 1; m <= 12; m++ {
			e := tm.ConditionalExpected(float64(30*m)/7, c)
			clv += em * (e - prev) / math.Pow(1.01, float64(m))
			prev = e
		}
		return journey.FormatAmount(int64(math.Round(em*100)), "EUR"), journey.FormatAmount(int64(math.Round(clv*100)), "EUR")
	}
	d0 := bgnbd.Day(simStart)
	bobEM := fit.P * (fit.Gamma + 2*25) / (2*fit.P + fit.Q - 1) // m̄ = (30+20)/2
	annEM := fit.P * fit.Gamma / (fit.Q - 1)
	bobOrder, bobCLV := want([]int{d0 + 1, d0 + 8, d0 + 15}, bobEM)
	annOrder, annCLV := want([]int{d0 + 2}, annEM)
	check := func(what string, v *Views) {
		t.Helper()
		for _, w := range []struct{ id, order, clv string }{{"bob", bobOrder, bobCLV}, {"ann", annOrder, annCLV}} {
			c, err := v.Customer(ctx, w.id, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if c.CLV == nil || c.CLV.Currency != "EUR" || c.CLV.ExpectedOrderValue != w.order || c.CLV.CLV != w.clv {
				t.Fatalf("%s: %s clv %+v, want order %s clv %s", what, w.id, c.CLV, w.order, w.clv)
			}
		}
		if c, err := v.Customer(ctx, "cid", time.Time{}); err != nil || c.CLV != nil {
			t.Fatalf("%s: cid (no purchase): %+v, %v", what, c, err)
		}
		if c, err := v.Customer(ctx, "bob", day(19)); err != nil || c.CLV != nil {
			t.Fatalf("%s: bob as of before the calibration end: clv %+v, %v", what, c.CLV, err)
		}
		counts, err := v.Segments(ctx, ByCLV, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		bob, _ := v.Customer(ctx, "bob", time.Time{})
		ann, _ := v.Customer(ctx, "ann", time.Time{})
		exp := map[string]int{customer.NoCLV: 1}
		exp[customer.CLVBand(bob.CLV)]++
		exp[customer.CLVBand(ann.CLV)]++
		if fmt.Sprint(counts) != fmt.Sprint(exp) {
			t.Fatalf("%s: segments by clv %v, want %v", what, counts, exp)
		}
	}
	check("stored", v)
	if _, err := v.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	check("rebuilt", v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v = openViews(t, dir, log, opts)
	check("reopened", v)
	if err := v.SetCLV(nil); err != nil {
		t.Fatal(err)
	}
	if c, err := v.Customer(ctx, "bob", time.Time{}); err != nil || c.CLV != nil {
		t.Fatalf("bob after SetCLV(nil): %+v, %v", c.CLV, err)
	}
}

func TestCLVBands(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "0-10 EUR"}, {9.99, "0-10 EUR"}, {10, "10-100 EUR"}, {999.99, "100-1000 EUR"}, {1000, "1000-10000 EUR"}, {12345, "10000+ EUR"}} {
		if got := customer.CLVBand(&customer.CLVAnswer{Currency: "EUR", Major: c.v}); got != c.want {
			t.Errorf("band of %v: %q, want %q", c.v, got, c.want)
		}
	}
	if got := customer.CLVBand(nil); got != customer.NoCLV {
		t.Errorf("band of no clv: %q", got)
	}
}
