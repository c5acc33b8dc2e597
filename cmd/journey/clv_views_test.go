package main

import (
	"encoding/csv"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/customer"
)

// TestCLVInAnswerExportSegments: after clv fit on CDNOW (calibration to
// 1997-09-30), the customer's answer as of the calibration end carries the
// expected order value (Gamma-Gamma from all her purchase days there:
// $29.33, $29.73, $14.96, x = 2, m̄ = 74.02/3) and a CLV in proportion to
// clv show's (same transaction model, horizon and discount); the customers
// export has the same CLV in its clv column; segments --by clv counts every
// customer in the documented bands, and is refused before any fit.
func TestCLVInAnswerExportSegments(t *testing.T) {
	dir := importCDNOW(t)
	const at = "1997-09-30"
	if r := runCLI(t, nil, "segments", "--data", dir, "--by", "clv", "--json"); r.code == 0 || !strings.Contains(r.stderr+r.err.Error(), "clv fit") {
		t.Fatalf("segments --by clv before a fit: exit %d, %v %s", r.code, r.err, r.stderr)
	}
	var before customer.Answer
	if err := json.Unmarshal([]byte(mustRun(t, nil, "customer", "--data", dir, "--json", "--as-of", at, "cdnow-00004")), &before); err != nil {
		t.Fatal(err)
	}
	if before.CLV != nil {
		t.Fatalf("clv before a fit: %+v", before.CLV)
	}
	var fit clvReport
	if err := json.Unmarshal([]byte(mustRun(t, nil, "clv", "fit", "--data", dir, "--json", "--as-of", at, "--limit", "1")), &fit); err != nil {
		t.Fatal(err)
	}
	var show clvReport
	if err := json.Unmarshal([]byte(mustRun(t, nil, "clv", "show", "--data", dir, "--json", "cdnow-00004")), &show); err != nil {
		t.Fatal(err)
	}
	var ans customer.Answer
	if err := json.Unmarshal([]byte(mustRun(t, nil, "customer", "--data", dir, "--json", "--as-of", at, "cdnow-00004")), &ans); err != nil {
		t.Fatal(err)
	}
	c := ans.CLV
	if c == nil || c.Currency != "USD" || c.HorizonMonths != 12 || c.Discount != 0.01 {
		t.Fatalf("answer clv %+v", c)
	}
	s := fit.Model.Spend
	wantEM := s.P * (s.Gamma + 2*(74.02/3)) / (2*s.P + s.Q - 1)
	if want := journey.FormatAmount(int64(math.Round(wantEM*100)), "USD"); c.ExpectedOrderValue != want {
		t.Errorf("expected_order_value %s, want %s", c.ExpectedOrderValue, want)
	}
	showEM, _ := journey.ParseAmount(show.Top[0].ExpectedOrder, "USD")
	showCLV, _ := journey.ParseAmount(show.Top[0].CLV, "USD")
	gotCLV, err := journey.ParseAmount(c.CLV, "USD")
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(showCLV) * wantEM * 100 / float64(showEM); math.Abs(float64(gotCLV)-want) > 0.01*want {
		t.Errorf("clv %s, want ≈ %.0f cents (show's %s × E[M] ratio)", c.CLV, want, show.Top[0].CLV)
	}

	// Export: the clv column of the same customer.
	rows, err := csv.NewReader(strings.NewReader(mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "csv", "--as-of", at))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col, ocol := slices.Index(rows[0], "clv"), slices.Index(rows[0], "expected_order_value")
	if col < 0 || ocol < 0 || len(rows) != 2358 {
		t.Fatalf("header %v, %d rows", rows[0], len(rows))
	}
	found := false
	for _, r := range rows[1:] {
		if r[0] == "cdnow-00004" {
			found = true
			if r[col] != c.CLV+" USD" || r[ocol] != c.ExpectedOrderValue+" USD" {
				t.Errorf("export clv %q order %q, answer %s / %s", r[col], r[ocol], c.CLV, c.ExpectedOrderValue)
			}
		}
		if r[col] == "" {
			t.Errorf("customer %s has no clv in the export", r[0])
		}
	}
	if !found {
		t.Fatal("cdnow-00004 not exported")
	}
	jl := mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "jsonl", "--as-of", at)
	if !strings.Contains(jl, `"clv":{"currency":"USD"`) {
		t.Errorf("jsonl export has no clv object: %.300s", jl)
	}

	// Segments: every customer in a band, cdnow-00004 in hers.
	var counts map[string]int
	if err := json.Unmarshal([]byte(mustRun(t, nil, "segments", "--data", dir, "--by", "clv", "--json", "--as-of", at)), &counts); err != nil {
		t.Fatal(err)
	}
	total := 0
	bands := []string{"0-10 USD", "10-100 USD", "100-1000 USD", "1000-10000 USD", "10000+ USD"}
	for k, n := range counts {
		if !slices.Contains(bands, k) {
			t.Errorf("unexpected band %q", k)
		}
		total += n
	}
	if total != 2357 || counts[customer.CLVBand(c)] == 0 {
		t.Errorf("bands %v (total %d, want 2357)", counts, total)
	}
}
