package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// TestProjectionCommands: import, then customer, segments, rebuild answer
// from views brought up to date with the log, without a server.
func TestProjectionCommands(t *testing.T) {
	file, data := simulated(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, "--json", file)
	cust := busiestCustomer(t, data)

	var c struct {
		Stage        string  `json:"stage"`
		HighestStage string  `json:"highest_stage"`
		Satisfaction float64 `json:"satisfaction"`
		Churn        string  `json:"churn"`
		State        struct {
			Customer  string `json:"customer"`
			Purchases int    `json:"purchases"`
		} `json:"state"`
	}
	out := mustRun(t, nil, "customer", "--data", dir, "--json", cust, "--as-of", "2025-03-01")
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("customer --json: %v\n%s", err, out)
	}
	if c.State.Customer != cust || c.Stage == "" || c.Churn == "" || c.State.Purchases == 0 {
		t.Fatalf("customer %s: %s", cust, out)
	}
	if text := mustRun(t, nil, "customer", "--data", dir, cust); !strings.Contains(text, "stage ") || !strings.Contains(text, "satisfaction") {
		t.Errorf("customer (text):\n%s", text)
	}
	if r := runCLI(t, nil, "customer", "--data", dir, "nobody"); r.code != 1 {
		t.Errorf("customer nobody: exit %d, want 1", r.code)
	}

	customers := len(map[string]bool{})
	var stages map[string]int
	if err := json.Unmarshal([]byte(mustRun(t, nil, "segments", "--data", dir, "--json", "--by", "stage", "--as-of", "2025-03-01")), &stages); err != nil {
		t.Fatal(err)
	}
	for _, n := range stages {
		customers += n
	}
	if customers != 40 {
		t.Errorf("segments by stage count %d customers (%v), want the 40 simulated", customers, stages)
	}
	// an instant before any event: nobody
	var early map[string]int
	if err := json.Unmarshal([]byte(mustRun(t, nil, "segments", "--data", dir, "--json", "--as-of", "2024-12-31")), &early); err != nil {
		t.Fatal(err)
	}
	for k, n := range early {
		if n != 0 {
			t.Errorf("segments as of 2024-12-31 (before the first event): %s=%d", k, n)
		}
	}
	for _, by := range []string{"highest_stage", "flag", "type", "store", "churn", "rfm", "rule"} {
		mustRun(t, nil, "segments", "--data", dir, "--json", "--by", by)
	}

	var nps map[string]struct {
		Responses int     `json:"responses"`
		Score     float64 `json:"nps"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "nps", "--data", dir, "--json", "--by", "month")), &nps); err != nil {
		t.Fatal(err)
	}
	for month, n := range nps {
		if !strings.HasPrefix(month, "2025-0") || n.Score < -100 || n.Score > 100 || n.Responses == 0 {
			t.Errorf("nps %s: %+v", month, n)
		}
	}
	if r := runCLI(t, nil, "nps", "--data", dir, "--by", "week"); r.code != 2 {
		t.Errorf("nps --by week: exit %d, want 2", r.code)
	}

	var rb rebuildLine
	if err := json.Unmarshal([]byte(mustRun(t, nil, "rebuild", "--data", dir, "--json")), &rb); err != nil {
		t.Fatal(err)
	}
	if rb.Customers != 40 || rb.Events == 0 {
		t.Errorf("rebuild: %+v", rb)
	}
	// the answer after a rebuild is the live one
	if again := mustRun(t, nil, "customer", "--data", dir, "--json", cust, "--as-of", "2025-03-01"); again != out {
		t.Errorf("customer after rebuild differs:\n%s\nbefore:\n%s", again, out)
	}
}

// TestChurnFitCDNOW imports the CDNOW sample and fits BG/NBD as the paper
// did (weeks, calibration to 1997-09-30): r=0.243, α=4.414, a=0.793, b=2.426.
func TestChurnFitCDNOW(t *testing.T) {
	real := filepath.Join("..", "..", "..", "shared", "data", "cdnow", "CDNOW_sample.txt")
	if _, err := os.Stat(real); err != nil {
		t.Skipf("CDNOW sample not available: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, "--format", "cdnow", real)
	var f churnFitLine
	if err := json.Unmarshal([]byte(mustRun(t, nil, "churn", "fit", "--data", dir, "--json", "--as-of", "1997-09-30", "--unit", "week")), &f); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name      string
		got, want float64
	}{{"r", f.R, 0.243}, {"alpha", f.Alpha, 4.414}, {"a", f.A, 0.793}, {"b", f.B, 2.426}, {"log_likelihood", f.LogLikelihood, -9582.4}} {
		if math.Abs(p.got-p.want) > 0.01*math.Abs(p.want) {
			t.Errorf("%s = %v, want %v ± 1%%", p.name, p.got, p.want)
		}
	}
	if f.Customers != 2357 || f.Unit != "week" {
		t.Errorf("fit on %d customers in %q, want 2357 in week", f.Customers, f.Unit)
	}
	// the stored fit shows in customer answers
	if out := mustRun(t, nil, "customer", "--data", dir, "--json", "cdnow-00004", "--as-of", "1997-09-30"); !strings.Contains(out, `"p_alive"`) {
		t.Errorf("customer after churn fit has no p_alive: %s", out)
	}
	if r := runCLI(t, nil, "churn", "fit", "--data", dir, "--unit", "month"); r.code != 2 {
		t.Errorf("churn fit --unit month: exit %d, want 2", r.code)
	}
}
