package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey"
)

// TestCLVCDNOW fits CLV on the CDNOW sample (calibration to 1997-09-30):
// the Gamma-Gamma parameters are the published ones for the 946 repeat
// buyers (lifetimes' documentation and Hardie's note: p=6.25, q=3.74,
// γ=15.44) within 1%, and one customer's expected order value and CLV
// follow from her raw purchases.
func TestCLVCDNOW(t *testing.T) {
	dir := importCDNOW(t)
	var fit clvReport
	out := mustRun(t, nil, "clv", "fit", "--data", dir, "--json", "--as-of", "1997-09-30", "--limit", "0")
	if err := json.Unmarshal([]byte(out), &fit); err != nil {
		t.Fatalf("%v\n%.500s", err, out)
	}
	m := fit.Model
	if m == nil || m.Currency != "USD" || m.Spend.Customers != 946 || m.Transactions.Customers != 2357 || fit.Customers != 2357 {
		t.Fatalf("model %+v", m)
	}
	for _, p := range []struct {
		name      string
		got, want float64
	}{{"p", m.Spend.P, 6.25}, {"q", m.Spend.Q, 3.74}, {"gamma", m.Spend.Gamma, 15.44}, {"r", m.Transactions.R, 0.243}, {"alpha", m.Transactions.Alpha, 4.414}} {
		if math.Abs(p.got-p.want) > 0.01*p.want {
			t.Errorf("%s = %v, want %v ± 1%%", p.name, p.got, p.want)
		}
	}
	if d := m.Spend.Diagnostics; !d.Converged || !d.HessianPD || len(d.Params) != 3 || !(d.Params[0].SE > 0) {
		t.Errorf("spend diagnostics %+v", d)
	}
	// The total is the sum of the customers' rounded CLVs, exactly.
	var sum int64
	for _, l := range fit.Top {
		v, err := journey.ParseAmount(l.CLV, "USD")
		if err != nil {
			t.Fatalf("clv %q: %v", l.CLV, err)
		}
		sum += v
	}
	if total, _ := journey.ParseAmount(fit.TotalCLV, "USD"); len(fit.Top) != 2357 || sum != total {
		t.Errorf("%d customers listed, their CLVs add to %d cents, total %s", len(fit.Top), sum, fit.TotalCLV)
	}
	// cdnow-00004 (sample id 0001) bought on 1997-01-01 ($29.33),
	// 1997-01-18 ($29.73) and 1997-08-02 ($14.96) in the calibration period:
	// x = 2, m̄ = (29.73 + 14.96)/2 = 22.345, so
	// E[M] = p(γ + x m̄)/(px + q − 1).
	var show clvReport
	if err := json.Unmarshal([]byte(mustRun(t, nil, "clv", "show", "--data", dir, "--json", "cdnow-00004")), &show); err != nil {
		t.Fatal(err)
	}
	s := m.Spend
	wantEM := s.P * (s.Gamma + 2*22.345) / (2*s.P + s.Q - 1)
	if len(show.Top) != 1 || show.Top[0].Frequency != 2 || show.Top[0].ExpectedOrder != journey.FormatAmount(int64(math.Round(wantEM*100)), "USD") {
		t.Fatalf("show cdnow-00004: %+v, want E[M] %.4f", show.Top, wantEM)
	}
	// Her CLV is the same in fit's list and in show; more months, more value;
	// a higher discount rate, less.
	c12 := show.Top[0].CLV
	for _, l := range fit.Top {
		if l.Customer == "cdnow-00004" && l.CLV != c12 {
			t.Errorf("fit lists %s, show %s", l.CLV, c12)
		}
	}
	clvOf := func(args ...string) float64 {
		var r clvReport
		if err := json.Unmarshal([]byte(mustRun(t, nil, append([]string{"clv", "show", "--data", dir, "--json", "cdnow-00004"}, args...)...)), &r); err != nil {
			t.Fatal(err)
		}
		v, _ := journey.ParseAmount(r.Top[0].CLV, "USD")
		return float64(v)
	}
	base := clvOf()
	if !(clvOf("--horizon", "24") > base && clvOf("--discount", "0.05") < base && base > 0) {
		t.Errorf("CLV of cdnow-00004: %v; not increasing with the horizon or decreasing with the discount", base)
	}
	text := mustRun(t, nil, "clv", "show", "--data", dir, "--limit", "3")
	if !strings.Contains(text, "CLV over 12 months at 1% a month: 2357 customers") || strings.Count(text, "cdnow-") != 3 {
		t.Errorf("show text:\n%s", text)
	}
	if r := runCLI(t, nil, "clv", "show", "--data", dir, "nobody"); r.code != 1 || !strings.Contains(r.err.Error(), `"nobody"`) {
		t.Errorf("show nobody: exit %d, %v", r.code, r.err)
	}
}

// TestCLVCurrencies: purchases in two currencies are refused, naming both,
// unless --currency picks one; an unknown one is named too; show before fit
// says what to run.
func TestCLVCurrencies(t *testing.T) {
	var events strings.Builder
	for i, p := range []struct{ cust, day, amount, cur string }{
		{"c-1", "2025-01-02", "10.00", "EUR"}, {"c-1", "2025-02-03", "12.50", "EUR"},
		{"c-2", "2025-01-05", "20.00", "USD"}, {"c-2", "2025-03-01", "25.00", "USD"},
	} {
		events.WriteString(`{"specversion":"1.0","id":"p-` + string(rune('a'+i)) + `","source":"pos/store-1/till-1","type":"purchase","subject":"` + p.cust +
			`","time":"` + p.day + `T10:00:00Z","data":{"order_id":"o-` + string(rune('a'+i)) + `","amount":"` + p.amount + `","currency":"` + p.cur + `","items":1}}` + "\n")
	}
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, []byte(events.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if out := mustRun(t, nil, "import", "--data", dir, file); !strings.HasPrefix(out, "appended 4,") {
		t.Fatalf("import: %s", out)
	}
	if r := runCLI(t, nil, "clv", "show", "--data", dir); r.code == 0 || !strings.Contains(r.err.Error(), "journey clv fit") {
		t.Errorf("show before fit: exit %d, %v", r.code, r.err)
	}
	r := runCLI(t, nil, "clv", "fit", "--data", dir, "--as-of", "2025-06-30")
	if r.code == 0 || !strings.Contains(r.err.Error(), "EUR, USD") || !strings.Contains(r.err.Error(), "--currency") || !strings.Contains(r.err.Error(), "currency") {
		t.Errorf("mixed currencies: exit %d, %v", r.code, r.err)
	}
	r = runCLI(t, nil, "clv", "fit", "--data", dir, "--as-of", "2025-06-30", "--currency", "GBP")
	if r.code == 0 || !strings.Contains(r.err.Error(), `"GBP"`) || !strings.Contains(r.err.Error(), "EUR, USD") {
		t.Errorf("--currency GBP: exit %d, %v", r.code, r.err)
	}
	for _, args := range [][]string{{"--discount", "-0.1"}, {"--horizon", "-1"}, {"--model", "x"}, {"--unit", "month"}} {
		if r := runCLI(t, nil, append([]string{"clv", "fit", "--data", dir}, args...)...); r.code != 2 {
			t.Errorf("clv fit %v: exit %d, want 2", args, r.code)
		}
	}
}
