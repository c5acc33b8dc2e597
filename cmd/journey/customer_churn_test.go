package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/journey-cdp/journey/projections/paretonbd"
)

// TestCustomerParetoNBD: after churn fit --model pareto-nbd on CDNOW
// (calibration to 1997-09-30) the customer's answer, from the data dir and
// over HTTP (journey serve, customer --server), carries the Pareto/NBD
// P(alive) and conditional expected purchases of the fitted parameters
// (computed here from cdnow-00004's three purchase days) and names the
// model, in the JSON (churn_model) and the text; churn fit --model bgnbd
// puts the BG/NBD ones back, named so.
func TestCustomerParetoNBD(t *testing.T) {
	dir := importCDNOW(t)
	const at = "1997-09-30"
	asOf := time.Date(1997, 9, 30, 23, 59, 59, 999999999, time.UTC)
	days := []int{bgnbd.Day(time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC)), bgnbd.Day(time.Date(1997, 1, 18, 0, 0, 0, 0, time.UTC)),
		bgnbd.Day(time.Date(1997, 8, 2, 0, 0, 0, 0, time.UTC))}
	bc := bgnbd.FromPurchaseDays(days, bgnbd.Day(asOf), 7)
	fit := func(model string) churnFitLine {
		var l churnFitLine
		if err := json.Unmarshal([]byte(mustRun(t, nil, "churn", "fit", "--data", dir, "--json", "--as-of", at, "--model", model)), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	type want struct {
		model, name string
		pAlive, exp float64
	}
	check := func(what string, w want, args ...string) {
		t.Helper()
		var ans customer.Answer
		if err := json.Unmarshal([]byte(mustRun(t, nil, append([]string{"customer", "--json", "--as-of", at, "cdnow-00004"}, args...)...)), &ans); err != nil {
			t.Fatal(err)
		}
		if ans.ChurnModel != w.model || ans.PAlive == nil || ans.ExpectedNext == nil ||
			math.Abs(*ans.PAlive-w.pAlive) > 1e-9 || math.Abs(*ans.ExpectedNext-w.exp) > 1e-9 {
			t.Fatalf("%s: churn_model %q p_alive %v expected %v; want %s %.6f %.6f", what, ans.ChurnModel, ans.PAlive, ans.ExpectedNext, w.model, w.pAlive, w.exp)
		}
		text := mustRun(t, nil, append([]string{"customer", "--as-of", at, "cdnow-00004"}, args...)...)
		for _, line := range []string{fmt.Sprintf("p_alive       %.3f (%s)\n", w.pAlive, w.name),
			fmt.Sprintf("expected      %.2f purchases in the next period (%s)\n", w.exp, w.name)} {
			if !strings.Contains(text, line) {
				t.Errorf("%s: text answer lacks %q:\n%s", what, line, text)
			}
		}
	}
	pn := fit(customer.ModelParetoNBD)
	pp := paretonbd.Params{R: pn.R, Alpha: pn.Alpha, S: pn.S, Beta: pn.Beta}
	pareto := want{customer.ModelParetoNBD, "Pareto/NBD", pp.PAlive(bc), pp.ConditionalExpected(90.0/7, bc)}
	check("pareto-nbd", pareto, "--data", dir)

	bn := fit(customer.ModelBGNBD)
	bp := bgnbd.Params{R: bn.R, Alpha: bn.Alpha, A: bn.A, B: bn.B}
	bg := want{customer.ModelBGNBD, "BG/NBD", bp.PAlive(bc), bp.ConditionalExpected(90.0/7, bc)}
	if math.Abs(bg.pAlive-pareto.pAlive) < 1e-3 {
		t.Fatalf("the two models give the same p_alive %.4f", bg.pAlive)
	}
	check("bgnbd", bg, "--data", dir)
	t.Logf("cdnow-00004 as of %s: BG/NBD p_alive %.4f, %.4f purchases in 90 days; Pareto/NBD %.4f, %.4f", at, bg.pAlive, bg.exp, pareto.pAlive, pareto.exp)

	// Over HTTP, after a Pareto/NBD fit again.
	fit(customer.ModelParetoNBD)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, httpURL, done, serveErr := startServe(t, ctx, dir)
	check("http", pareto, "--server", httpURL)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, serveErr.String())
	}
}
