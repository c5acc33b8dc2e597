package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	journey "github.com/journey-cdp/journey"
)

// moneyData imports a few purchases in EUR, USD and JPY (and a refund)
// into a fresh data dir and returns it.
func moneyData(t *testing.T) string {
	t.Helper()
	at := func(d int) time.Time { return time.Date(2025, 3, d, 10, 0, 0, 0, time.UTC) }
	type ev struct {
		kind     journey.Kind
		customer string
		day      int
		data     map[string]any
	}
	evs := []ev{
		{journey.KindPurchase, "cust-eur", 1, map[string]any{"order_id": "o1", "amount": "1370.56", "currency": "EUR", "items": 2}},
		{journey.KindPurchase, "cust-eur", 3, map[string]any{"order_id": "o2", "amount": "12", "currency": "USD", "items": 1}},
		{journey.KindPurchase, "cust-jpy", 2, map[string]any{"order_id": "o3", "amount": "1500", "currency": "JPY", "items": 1}},
		{journey.KindReturn, "cust-jpy", 4, map[string]any{"order_id": "o3", "amount": "500", "currency": "JPY", "kind": "refund"}},
		{journey.KindVisit, "cust-none", 2, map[string]any{"channel": "web"}},
	}
	var b strings.Builder
	for i, e := range evs {
		raw, err := journey.NewEvent("m-"+string(rune('a'+i)), "pos/1", e.kind, e.customer, at(e.day), e.data)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
		b.WriteByte('\n')
	}
	file := filepath.Join(t.TempDir(), "money.jsonl")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, file)
	return dir
}

// TestMoneyOut: money leaves the CLI and the exports as the events carried
// it (decimal strings with their currency, never minor units), and the CSV
// export carries the R, F and M scores.
func TestMoneyOut(t *testing.T) {
	dir := moneyData(t)
	asOf := "2025-03-10"

	rows, err := csv.NewReader(strings.NewReader(mustRun(t, nil, "export", "--data", dir, "--what", "customers",
		"--format", "csv", "--as-of", asOf))).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"rfm_segment", "r", "f", "m", "revenue"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("csv header %v lacks %s", rows[0], h)
		}
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[col["customer"]]] = r
	}
	if got := byID["cust-eur"][col["revenue"]]; got != "1370.56 EUR, 12.00 USD" {
		t.Errorf("cust-eur csv revenue %q", got)
	}
	if got := byID["cust-jpy"][col["revenue"]]; got != "1500 JPY" {
		t.Errorf("cust-jpy csv revenue %q", got)
	}
	for _, id := range []string{"cust-eur", "cust-jpy"} {
		r := byID[id]
		for _, s := range []string{"r", "f", "m"} {
			if v := r[col[s]]; len(v) != 1 || v < "1" || v > "5" {
				t.Errorf("%s: %s score %q, want 1–5", id, s, v)
			}
		}
		if r[col["rfm_segment"]] == "" {
			t.Errorf("%s: no rfm_segment", id)
		}
	}
	if r := byID["cust-none"]; r[col["r"]] != "" || r[col["revenue"]] != "" {
		t.Errorf("prospect: r %q revenue %q, want empty", r[col["r"]], r[col["revenue"]])
	}

	// JSONL export and customer --json: {"EUR":"1370.56",…}.
	type answer struct {
		State struct {
			Customer string            `json:"customer"`
			Revenue  map[string]string `json:"revenue"`
			Refunds  map[string]string `json:"refunds"`
		} `json:"state"`
	}
	var eur answer
	for l := range strings.SplitSeq(strings.TrimSpace(mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--as-of", asOf)), "\n") {
		var a answer
		if err := json.Unmarshal([]byte(l), &a, json.RejectUnknownMembers(false)); err != nil {
			t.Fatalf("jsonl line %s: %v", l, err)
		}
		if a.State.Customer == "cust-eur" {
			eur = a
		}
	}
	if eur.State.Revenue["EUR"] != "1370.56" || eur.State.Revenue["USD"] != "12.00" {
		t.Errorf("jsonl revenue %v", eur.State.Revenue)
	}
	var jpy answer
	if err := json.Unmarshal([]byte(mustRun(t, nil, "customer", "--data", dir, "--json", "cust-jpy", "--as-of", asOf)), &jpy,
		json.RejectUnknownMembers(false)); err != nil {
		t.Fatal(err)
	}
	if jpy.State.Revenue["JPY"] != "1500" || jpy.State.Refunds["JPY"] != "500" {
		t.Errorf("customer --json: revenue %v refunds %v", jpy.State.Revenue, jpy.State.Refunds)
	}

	// The text answer shows the revenue the same way.
	out := mustRun(t, nil, "customer", "--data", dir, "cust-jpy", "--as-of", asOf)
	lines := strings.Split(out, "\n")
	if !slices.Contains(lines, "revenue       1500 JPY (net of refunds 1000 JPY) in 1 purchases") {
		t.Errorf("customer text lacks the revenue line:\n%s", out)
	}
	out = mustRun(t, nil, "customer", "--data", dir, "cust-eur", "--as-of", asOf)
	if !strings.Contains(out, "revenue       1370.56 EUR, 12.00 USD in 2 purchases\n") {
		t.Errorf("customer text lacks the revenue line:\n%s", out)
	}
}
