package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/journey-cdp/journey/projections/paretonbd"
)

// TestSetChurnParetoNBD: a Pareto/NBD fit stored with SetChurn gives each
// customer's answer its P(alive) and conditional expected purchases over
// the forecast period (90 days), named "pareto-nbd", kept across a rebuild
// and a reopen; FitChurn (BG/NBD) replaces it and the answer names
// "bgnbd"; a fit stored before the model was named reads as BG/NBD; a bad
// model or unit is refused.
func TestSetChurnParetoNBD(t *testing.T) {
	day := func(d int) time.Time { return simStart.Add(time.Duration(d) * 24 * time.Hour) }
	buy := func(id, who string, d int) []byte {
		return ev(id, "purchase", who, day(d), fmt.Sprintf(`{"order_id":%q,"amount":"10.00","currency":"EUR"}`, id))
	}
	raws := [][]byte{buy("b1", "bob", 1), buy("b2", "bob", 8), buy("b3", "bob", 15), buy("a1", "ann", 2)}
	opts := &Options{Clock: fixedClock(day(30))}
	dir, log, v := loadedViews(t, raws, opts)
	ctx := context.Background()
	fit := &customer.ChurnFit{Model: customer.ModelParetoNBD, R: 0.55, Alpha: 10.58, S: 0.61, Beta: 11.67,
		Unit: "week", AsOf: day(20), Customers: 2}
	if err := v.SetChurn(fit); err != nil {
		t.Fatal(err)
	}
	pn := paretonbd.Params{R: fit.R, Alpha: fit.Alpha, S: fit.S, Beta: fit.Beta}
	d0 := bgnbd.Day(simStart)
	want := map[string][]int{"bob": {d0 + 1, d0 + 8, d0 + 15}, "ann": {d0 + 2}}
	check := func(what, model string, p interface {
		PAlive(bgnbd.Customer) float64
		ConditionalExpected(float64, bgnbd.Customer) float64
	}) {
		t.Helper()
		for id, days := range want {
			c, err := v.Customer(ctx, id, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			bc := bgnbd.FromPurchaseDays(days, bgnbd.Day(day(30)), 7)
			pa, en := p.PAlive(bc), p.ConditionalExpected(90.0/7, bc)
			if c.ChurnModel != model || c.PAlive == nil || c.ExpectedNext == nil ||
				math.Abs(*c.PAlive-pa) > 1e-12 || math.Abs(*c.ExpectedNext-en) > 1e-12 {
				t.Fatalf("%s: %s: model %q p_alive %v expected %v; want %s %.6f %.6f", what, id, c.ChurnModel, c.PAlive, c.ExpectedNext, model, pa, en)
			}
		}
		if c, err := v.Customer(ctx, "bob", day(19)); err != nil || c.PAlive != nil || c.ChurnModel != "" {
			t.Fatalf("%s: bob as of before the calibration end: %v %q, %v", what, c.PAlive, c.ChurnModel, err)
		}
	}
	check("stored", customer.ModelParetoNBD, pn)
	// Pareto/NBD's P(alive) is its own, not BG/NBD's of the same customer.
	bob, _ := v.Customer(ctx, "bob", time.Time{})
	if bg := (bgnbd.Params{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}).PAlive(bgnbd.FromPurchaseDays(want["bob"], bgnbd.Day(day(30)), 7)); math.Abs(*bob.PAlive-bg) < 1e-3 {
		t.Fatalf("bob's Pareto/NBD p_alive %.4f equals a BG/NBD one %.4f", *bob.PAlive, bg)
	}
	js, _ := json.Marshal(bob)
	if !strings.Contains(string(js), `"churn_model":"pareto-nbd"`) {
		t.Fatalf("answer JSON has no churn_model: %.400s", js)
	}
	if _, err := v.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	check("rebuilt", customer.ModelParetoNBD, pn)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v = openViews(t, dir, log, opts)
	check("reopened", customer.ModelParetoNBD, pn)

	for _, bad := range []*customer.ChurnFit{{Model: "pareto", Unit: "week"}, {Model: customer.ModelParetoNBD, Unit: "month"}} {
		if err := v.SetChurn(bad); err == nil {
			t.Errorf("SetChurn(%+v) accepted", bad)
		}
	}
	bf, err := v.FitChurn(ctx, day(20), "week")
	if err != nil {
		t.Fatal(err)
	}
	check("bg/nbd fit", customer.ModelBGNBD, bgnbd.Params{R: bf.R, Alpha: bf.Alpha, A: bf.A, B: bf.B})
	// A fit stored before Model was kept (no "Model") is BG/NBD.
	old := *bf
	old.Model = ""
	if err := v.SetChurn(&old); err == nil {
		t.Fatal("SetChurn of an unnamed model accepted")
	}
	var legacy customer.Population
	if err := json.Unmarshal([]byte(`{"churn_fit":{"R":0.243,"Alpha":4.414,"A":0.793,"B":2.426,"Unit":"week"}}`), &legacy); err != nil || legacy.Churn.ModelName() != customer.ModelBGNBD {
		t.Fatalf("a stored fit without a model: %+v, %v", legacy.Churn, err)
	}
	if err := v.SetChurn(nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := v.Customer(ctx, "bob", time.Time{}); c.PAlive != nil || c.ChurnModel != "" {
		t.Fatalf("after SetChurn(nil): %v %q", c.PAlive, c.ChurnModel)
	}
}
