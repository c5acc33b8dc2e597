package main

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// TestExportParquetScores: on CDNOW as of 1997-09-30, the customers'
// Parquet export carries every score, read back with the low-level reader:
// before any fit churn_model, p_alive, the CLV columns and cluster are
// null; after churn fit --model pareto-nbd, clv fit and clusters --k 3
// each row has the JSON answer's p_alive, expected purchases and
// churn_model, clv show's expected order value and CLV exactly as
// DECIMAL(18,4) with clv_currency USD, the horizon and discount, and the
// cluster counts are segments --by cluster's.
func TestExportParquetScores(t *testing.T) {
	dir := importCDNOW(t)
	const at = "1997-09-30"
	export := func(name string) (*parquetFile, []map[int][]parquet.Value) {
		out := filepath.Join(t.TempDir(), name+".parquet")
		mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "parquet", "--as-of", at, "--out", out)
		pf := openParquet(t, out)
		return pf, pf.rows(t)
	}
	scores := []string{"churn_model", "p_alive", "expected_purchases_next_period", "clv_currency", "expected_order_value",
		"clv", "clv_horizon_months", "clv_monthly_discount", "cluster"}
	pf, rows := export("before")
	if len(rows) != 2357 {
		t.Fatalf("%d rows before the fits, want 2357", len(rows))
	}
	for _, row := range rows {
		for _, c := range scores {
			if v, ok := pf.one(t, row, c); ok {
				t.Fatalf("before any fit, column %s is %v, want null", c, v)
			}
		}
	}

	mustRun(t, nil, "churn", "fit", "--data", dir, "--as-of", at, "--model", "pareto-nbd")
	mustRun(t, nil, "clv", "fit", "--data", dir, "--as-of", at)
	mustRun(t, nil, "clusters", "--data", dir, "--as-of", at, "--k", "3")
	var show clvReport
	if err := json.Unmarshal([]byte(mustRun(t, nil, "clv", "show", "--data", dir, "--json", "--limit", "0")), &show); err != nil {
		t.Fatal(err)
	}
	clv := map[string]clvLine{}
	for _, l := range show.Top {
		clv[l.Customer] = l
	}
	answers := map[string]customer.Answer{}
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "jsonl", "--as-of", at)), "\n") {
		var a customer.Answer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		answers[a.State.Customer] = a
	}
	var segs map[string]int
	if err := json.Unmarshal([]byte(mustRun(t, nil, "segments", "--data", dir, "--by", "cluster", "--as-of", at, "--json")), &segs); err != nil {
		t.Fatal(err)
	}

	pf, rows = export("after")
	for _, c := range []string{"clv", "expected_order_value"} {
		n, ok := pf.f.Schema().Lookup(c)
		if !ok || !n.Node.Optional() || n.Node.Type().LogicalType() == nil || n.Node.Type().LogicalType().String() != "DECIMAL(18,4)" {
			t.Fatalf("column %s: %v, want an optional DECIMAL(18,4)", c, n.Node)
		}
	}
	if len(rows) != len(answers) || len(rows) != len(clv) {
		t.Fatalf("%d rows, %d answers, %d clv show lines", len(rows), len(answers), len(clv))
	}
	clusters := map[string]int{}
	for _, row := range rows {
		get := func(name string) parquet.Value {
			v, ok := pf.one(t, row, name)
			if !ok {
				t.Fatalf("customer %s: column %s is null", pf.str(t, row, "customer"), name)
			}
			return v
		}
		id := get("customer").String()
		a, w := answers[id], clv[id]
		if a.PAlive == nil || get("p_alive").Double() != *a.PAlive || get("expected_purchases_next_period").Double() != *a.ExpectedNext ||
			get("churn_model").String() != "pareto-nbd" || a.ChurnModel != "pareto-nbd" {
			t.Fatalf("customer %s: p_alive %v expected %v model %v; answer %v %v %q", id, get("p_alive"), get("expected_purchases_next_period"),
				get("churn_model"), a.PAlive, a.ExpectedNext, a.ChurnModel)
		}
		if get("clv_currency").String() != "USD" || decimal4(get("clv").Int64(), 2) != w.CLV ||
			decimal4(get("expected_order_value").Int64(), 2) != w.ExpectedOrder ||
			get("clv_horizon_months").Int32() != 12 || get("clv_monthly_discount").Double() != 0.01 {
			t.Fatalf("customer %s: clv %s %v order %v, horizon %v discount %v; clv show %s, %s", id, get("clv_currency"), get("clv"),
				get("expected_order_value"), get("clv_horizon_months"), get("clv_monthly_discount"), w.CLV, w.ExpectedOrder)
		}
		if c, ok := pf.one(t, row, "cluster"); ok {
			clusters[c.String()]++
		} else {
			clusters[projections.NoCluster]++
		}
	}
	delete(segs, projections.NoCluster)
	delete(clusters, projections.NoCluster)
	if len(clusters) != 3 || !maps.Equal(clusters, segs) {
		t.Fatalf("clusters of the rows %v, segments --by cluster %v", clusters, segs)
	}
	t.Logf("clusters %v; cdnow-00004 clv %s USD", clusters, clv["cdnow-00004"].CLV)
}

// str is the string of column name in row ("" when null).
func (pf *parquetFile) str(t *testing.T, row map[int][]parquet.Value, name string) string {
	v, ok := pf.one(t, row, name)
	if !ok {
		return ""
	}
	return v.String()
}
