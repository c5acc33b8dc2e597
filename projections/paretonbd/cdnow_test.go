package paretonbd

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// dataDir is the shared real-data directory (see /work/shared/data/README.md).
const dataDir = "../../../shared/data/cdnow"

// Published Pareto/NBD estimates on the 2,357-customer CDNOW sample, 39-week
// calibration (Fader, Hardie & Lee 2005, "A Note on Implementing the
// Pareto/NBD Model in MATLAB", brucehardie.com/notes/008/).
var published = Params{R: 0.55, Alpha: 10.58, S: 0.61, Beta: 11.67}

const publishedLL = -9595.0

func readSummary(t testing.TB) []Customer {
	t.Helper()
	p := filepath.Join(dataDir, "cdnow_customers_summary.csv")
	f, err := os.Open(p)
	if err != nil {
		t.Skipf("real CDNOW data not available (%v); it lives in /work/shared/data/cdnow", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var cs []Customer
	for _, r := range recs[1:] {
		var v [4]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(r[i], 64); err != nil {
				t.Fatalf("row %v: %v", r, err)
			}
		}
		cs = append(cs, Customer{X: v[1], TX: v[2], T: v[3]})
	}
	return cs
}

var (
	cdnowOnce  sync.Once
	cdnowModel Model
	cdnowErr   error
)

// cdnowFit fits the CDNOW summary once per test binary.
func cdnowFit(t *testing.T) (Model, []Customer) {
	cs := readSummary(t)
	cdnowOnce.Do(func() { cdnowModel, cdnowErr = Fit(context.Background(), cs, Params{}) })
	if cdnowErr != nil {
		t.Fatal(cdnowErr)
	}
	return cdnowModel, cs
}

func within(t *testing.T, name string, got, want, rel float64) {
	t.Helper()
	if !(math.Abs(got-want) <= rel*math.Abs(want)) {
		t.Errorf("%s = %.6g, want %.6g within %.2g%%", name, got, want, rel*100)
	}
}

func TestFitCDNOWPublished(t *testing.T) {
	m, cs := cdnowFit(t)
	if len(cs) != 2357 {
		t.Fatalf("summary has %d customers, want 2357", len(cs))
	}
	t.Logf("fit: %+v LL=%.4f iterations=%d", m.Params, m.LogLikelihood, m.Iterations)
	t.Logf("diagnostics:\n%s", m.Diagnostics.Text())
	within(t, "r", m.R, published.R, 0.01)
	within(t, "alpha", m.Alpha, published.Alpha, 0.01)
	within(t, "s", m.S, published.S, 0.01)
	within(t, "beta", m.Beta, published.Beta, 0.01)
	within(t, "LL", m.LogLikelihood, publishedLL, 0.01)
	if math.Abs(m.LogLikelihood-publishedLL) > 0.1 {
		t.Errorf("LL = %.4f, want %.1f ± 0.1", m.LogLikelihood, publishedLL)
	}
	if !m.Diagnostics.OK() {
		t.Errorf("diagnostics: not a converged strict maximum: %+v", m.Diagnostics)
	}
	// LL at the published (rounded) parameters is within rounding of it.
	if ll := LogLikelihood(published, cs); math.Abs(ll-publishedLL) > 1 {
		t.Errorf("LL at published params = %.3f", ll)
	}
}
