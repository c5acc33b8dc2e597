package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// purchasesJSONL is one purchase event per (customer, day) of 2024-01.
func purchasesJSONL(buys map[string][]int) []byte {
	var b strings.Builder
	n := 0
	for cust, days := range buys {
		for _, d := range days {
			n++
			fmt.Fprintf(&b, `{"specversion":"1.0","id":"p-%d","source":"pos/store-1/till","type":"purchase","subject":%q,"time":"2024-01-%02dT10:00:00Z","datacontenttype":"application/json","data":{"order_id":"o-%d","amount":"10.00","currency":"EUR"}}`+"\n", n, cust, d, n)
		}
	}
	return []byte(b.String())
}

// noNaN fails when out shows NaN or Inf, or (for --json) is not JSON.
func noNaN(t *testing.T, what, out string, isJSON bool) {
	t.Helper()
	if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Errorf("%s shows NaN/Inf:\n%s", what, out)
	}
	if isJSON {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var v any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Errorf("%s: not JSON (%v): %s", what, err, line)
			}
		}
	}
}

// TestOneCustomerFits: with a single customer the fits are degenerate (the
// BG/NBD parameters run off to millions, where its expected purchases are
// NaN; the Pareto/NBD likelihood overflowed to +Inf). Every command still
// answers, with valid JSON and without NaN or Inf: undefined values are
// "-" in text and null (or left out) in JSON.
func TestOneCustomerFits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, purchasesJSONL(map[string][]int{"solo": {1, 5, 20}}), "import", "--data", dir, "-")
	for _, model := range []string{"bgnbd", "pareto-nbd"} {
		noNaN(t, "churn fit "+model, mustRun(t, nil, "churn", "fit", "--data", dir, "--as-of", "2024-12-31", "--model", model), false)
		noNaN(t, "churn fit --json "+model, mustRun(t, nil, "churn", "fit", "--data", dir, "--as-of", "2024-12-31", "--model", model, "--json"), true)
		noNaN(t, "customer "+model, mustRun(t, nil, "customer", "solo", "--data", dir, "--as-of", "2024-12-31"), false)
		noNaN(t, "customer --json "+model, mustRun(t, nil, "customer", "solo", "--data", dir, "--as-of", "2024-12-31", "--json"), true)
		noNaN(t, "export customers "+model, mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "jsonl", "--as-of", "2024-12-31"), true)
		noNaN(t, "clv fit "+model, mustRun(t, nil, "clv", "fit", "--data", dir, "--as-of", "2024-12-31", "--model", model), false)
		noNaN(t, "clv show --json "+model, mustRun(t, nil, "clv", "show", "--data", dir, "--json"), true)
	}
}

// TestChurnValidateDegenerate: when every customer's first purchase is on
// the calibration end day there is nothing to fit; BG/NBD stays at a = 1,
// where its predictions are NaN. churn validate says so in one line naming
// --calibration-end (exit 1) instead of printing NaN or failing to write
// its JSON.
func TestChurnValidateDegenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, purchasesJSONL(map[string][]int{"a": {10, 12, 20}, "b": {10, 25}, "c": {10}}), "import", "--data", dir, "-")
	for _, extra := range [][]string{nil, {"--json"}} {
		args := append([]string{"churn", "validate", "--data", dir, "--calibration-end", "2024-01-10", "--holdout-end", "2024-01-31"}, extra...)
		r := runCLI(t, nil, args...)
		msg := fmt.Sprint(r.err)
		if r.code != 1 || !strings.Contains(msg, "--calibration-end") || strings.Contains(msg, "\n") {
			t.Errorf("%v: exit %d, error %q, want 1 and one line naming --calibration-end", extra, r.code, msg)
		}
		noNaN(t, fmt.Sprint("churn validate ", extra), r.stdout, false)
	}
}
