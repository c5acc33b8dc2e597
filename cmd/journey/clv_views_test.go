package main

import (
	"encoding/csv"
	"maps"
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
// expected order value and CLV of clv show to the cent, for several
// customers (cdnow-00004: $29.33, $29.73, $14.96 → x = 2, m̄ of the repeat
// days (29.73+14.96)/2, the first day left out as the fit does; one-time
// buyers; the highest CLVs); the customers export has clv show's CLV for
// every customer in its clv column; segments --by clv counts the bands of
// clv show's values, and is refused before any fit.
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
	var all clvReport // every customer, highest CLV first
	if err := json.Unmarshal([]byte(mustRun(t, nil, "clv", "show", "--data", dir, "--json", "--limit", "0")), &all); err != nil {
		t.Fatal(err)
	}
	if all.Customers != 2357 || len(all.Top) != 2357 {
		t.Fatalf("clv show: %d customers, %d listed", all.Customers, len(all.Top))
	}
	show := map[string]clvLine{}
	for _, l := range all.Top {
		show[l.Customer] = l
	}
	s := fit.Model.Spend
	wantEM := s.P * (s.Gamma + 2*((29.73+14.96)/2)) / (2*s.P + s.Q - 1)
	if want := journey.FormatAmount(int64(math.Round(wantEM*100)), "USD"); show["cdnow-00004"].ExpectedOrder != want {
		t.Errorf("clv show cdnow-00004: expected_order_value %s, want %s", show["cdnow-00004"].ExpectedOrder, want)
	}
	ids := []string{"cdnow-00004", all.Top[0].Customer, all.Top[1].Customer, all.Top[500].Customer, all.Top[2356].Customer}
	for _, f := range []int{0, 1, 5} { // the first customer of frequency 0, 1 and 5
		for _, l := range all.Top {
			if l.Frequency == f {
				ids = append(ids, l.Customer)
				break
			}
		}
	}
	var c *customer.CLVAnswer // cdnow-00004's
	for _, id := range ids {
		var ans customer.Answer
		if err := json.Unmarshal([]byte(mustRun(t, nil, "customer", "--data", dir, "--json", "--as-of", at, id)), &ans); err != nil {
			t.Fatal(err)
		}
		a, w := ans.CLV, show[id]
		if a == nil || a.Currency != "USD" || a.HorizonMonths != 12 || a.Discount != 0.01 {
			t.Fatalf("%s: answer clv %+v", id, a)
		}
		if a.ExpectedOrderValue != w.ExpectedOrder || a.CLV != w.CLV {
			t.Errorf("%s (frequency %d): answer order value %s, clv %s; clv show %s, %s", id, w.Frequency, a.ExpectedOrderValue, a.CLV, w.ExpectedOrder, w.CLV)
		}
		if id == "cdnow-00004" {
			c = a
		}
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
		if w := show[r[0]]; r[col] != w.CLV+" USD" || r[ocol] != w.ExpectedOrder+" USD" {
			t.Errorf("customer %s: export clv %q order %q, clv show %s / %s", r[0], r[col], r[ocol], w.CLV, w.ExpectedOrder)
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
	want := map[string]int{}
	for _, l := range all.Top {
		v, err := journey.ParseAmount(l.CLV, "USD")
		if err != nil {
			t.Fatal(err)
		}
		want[customer.CLVBand(&customer.CLVAnswer{Currency: "USD", Major: float64(v) / 100})]++
	}
	if !maps.Equal(counts, want) || counts[customer.CLVBand(c)] == 0 {
		t.Errorf("segments --by clv %v, want the bands of clv show's values %v", counts, want)
	}
}
