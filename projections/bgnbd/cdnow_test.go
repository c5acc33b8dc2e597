package bgnbd

import (
	"bufio"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dataDir is the shared real-data directory, relative to this package.
const dataDir = "../../../shared/data/cdnow"

// Published results (Fader, Hardie & Lee 2005; lifetimes' reproduction).
var (
	paperParams     = Params{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	lifetimesParams = Params{R: 0.242593, Alpha: 4.413532, A: 0.792886, B: 2.425752}
)

const paperLL = -9582.4

func needData(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(dataDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real CDNOW data not available (%v); it lives in /work/shared/data/cdnow", err)
	}
	return p
}

type summaryRow struct {
	id int
	Customer
}

// readSummary reads cdnow_customers_summary.csv (ID,frequency,recency,T).
func readSummary(t testing.TB) []summaryRow {
	t.Helper()
	f, err := os.Open(needData(t, "cdnow_customers_summary.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recs[0], ","); got != "ID,frequency,recency,T" {
		t.Fatalf("unexpected header %q", got)
	}
	var rows []summaryRow
	for _, r := range recs[1:] {
		var v [4]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(r[i], 64); err != nil {
				t.Fatalf("row %v: %v", r, err)
			}
		}
		rows = append(rows, summaryRow{id: int(v[0]), Customer: Customer{X: v[1], TX: v[2], T: v[3]}})
	}
	return rows
}

func customersOf(rows []summaryRow) []Customer {
	cs := make([]Customer, len(rows))
	for i, r := range rows {
		cs[i] = r.Customer
	}
	return cs
}

func ymd(t testing.TB, s string) int {
	t.Helper()
	d, err := time.Parse("20060102", s)
	if err != nil {
		t.Fatalf("bad date %q: %v", s, err)
	}
	return Day(d)
}

// readRawSample reads CDNOW_sample.txt (master id, sample id, yyyymmdd, cds,
// dollars) and returns each sample id's purchase days in file order (with
// same-day repeats, unsorted if the file is).
func readRawSample(t testing.TB) map[int][]int {
	t.Helper()
	f, err := os.Open(needData(t, "CDNOW_sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	days := map[int][]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			t.Fatalf("bad line %q", sc.Text())
		}
		id, err := strconv.Atoi(fs[1])
		if err != nil {
			t.Fatalf("bad sample id in %q", sc.Text())
		}
		days[id] = append(days[id], ymd(t, fs[2]))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return days
}

func within(t *testing.T, name string, got, want, relTol float64) {
	t.Helper()
	if math.Abs(got-want) > relTol*math.Abs(want) || math.IsNaN(got) {
		t.Errorf("%s = %.6g, want %.6g within %.2g%%", name, got, want, relTol*100)
	}
}

func checkPublished(t *testing.T, f Model) {
	t.Helper()
	within(t, "r", f.R, paperParams.R, 0.01)
	within(t, "alpha", f.Alpha, paperParams.Alpha, 0.01)
	within(t, "a", f.A, paperParams.A, 0.01)
	within(t, "b", f.B, paperParams.B, 0.01)
	if math.Abs(f.LogLikelihood-paperLL) > 0.1 {
		t.Errorf("LL = %.4f, want %.1f ± 0.1", f.LogLikelihood, paperLL)
	}
	// lifetimes converges to the same optimum to ~6 digits.
	within(t, "r vs lifetimes", f.R, lifetimesParams.R, 1e-3)
	within(t, "alpha vs lifetimes", f.Alpha, lifetimesParams.Alpha, 1e-3)
	within(t, "a vs lifetimes", f.A, lifetimesParams.A, 1e-3)
	within(t, "b vs lifetimes", f.B, lifetimesParams.B, 1e-3)
}

func TestFitCDNOWSummary(t *testing.T) {
	rows := readSummary(t)
	if len(rows) != 2357 {
		t.Fatalf("summary has %d customers, want 2357", len(rows))
	}
	f, err := Fit(context.Background(), customersOf(rows), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit: r=%.6f alpha=%.6f a=%.6f b=%.6f LL=%.4f iterations=%d",
		f.R, f.Alpha, f.A, f.B, f.LogLikelihood, f.Iterations)
	if f.Customers != 2357 {
		t.Errorf("Customers = %d", f.Customers)
	}
	checkPublished(t, f)
	// The fit is a maximum: nudging any parameter lowers the likelihood.
	for i := range 4 {
		for _, s := range []float64{0.99, 1.01} {
			p := f.Params
			ps := []*float64{&p.R, &p.Alpha, &p.A, &p.B}
			*ps[i] *= s
			if ll := LogLikelihood(p, customersOf(rows)); ll >= f.LogLikelihood {
				t.Errorf("param %d scaled by %v: LL %.6f ≥ fitted %.6f", i, s, ll, f.LogLikelihood)
			}
		}
	}
}

// TestFitCDNOWStarts fits from far-off starting points and through the
// Nelder–Mead fallback: all reach the published optimum.
func TestFitCDNOWStarts(t *testing.T) {
	cs := customersOf(readSummary(t))
	for _, init := range []Params{{R: 100, Alpha: 1e-3, A: 50, B: 0.01}, {R: 1e-3, Alpha: 1e4, A: 1e-3, B: 100}, {R: 5, Alpha: 5, A: 5, B: 5}} {
		f, err := Fit(context.Background(), cs, &FitOptions{Initial: init})
		if err != nil {
			t.Fatalf("from %+v: %v", init, err)
		}
		checkPublished(t, f)
	}
	nelderMeadFirst = true
	defer func() { nelderMeadFirst = false }()
	f, err := Fit(context.Background(), cs, nil)
	if err != nil {
		t.Fatalf("Nelder–Mead path: %v", err)
	}
	t.Logf("Nelder–Mead then BFGS: %+v", f)
	checkPublished(t, f)
}

func TestLogLikelihoodPublished(t *testing.T) {
	cs := customersOf(readSummary(t))
	for _, p := range []Params{paperParams, lifetimesParams} {
		ll := LogLikelihood(p, cs)
		t.Logf("LL at %+v = %.4f", p, ll)
		if math.Abs(ll-paperLL) > 0.5 {
			t.Errorf("LL at %+v = %.4f, want %.1f ± 0.5", p, ll, paperLL)
		}
	}
}

func TestRawCDNOWMatchesSummary(t *testing.T) {
	rows := readSummary(t)
	raw := readRawSample(t)
	calEnd := ymd(t, "19970930")
	if len(raw) != len(rows) {
		t.Fatalf("raw sample has %d customers, summary %d", len(raw), len(rows))
	}
	cs := make([]Customer, 0, len(rows))
	mismatches := 0
	for _, r := range rows {
		days, ok := raw[r.id]
		if !ok {
			t.Fatalf("customer %d missing from the raw sample", r.id)
		}
		c := FromPurchaseDays(days, calEnd, 7)
		if round2(c.X) != r.X || round2(c.TX) != r.TX || round2(c.T) != r.T {
			if mismatches++; mismatches <= 5 {
				t.Errorf("customer %d: raw gives %+v, summary %+v", r.id, c, r.Customer)
			}
		}
		cs = append(cs, c)
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d customers differ from the summary", mismatches, len(rows))
	}
	f, err := Fit(context.Background(), cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit from raw: r=%.6f alpha=%.6f a=%.6f b=%.6f LL=%.4f", f.R, f.Alpha, f.A, f.B, f.LogLikelihood)
	checkPublished(t, f)
}

// TestCalibrationEndConvention shows why FromPurchaseDays measures T to the
// start of the calibration end day: measuring to its end (asOf+1) or
// excluding purchases on it would not reproduce the published summary.
func TestCalibrationEndConvention(t *testing.T) {
	rows := readSummary(t)
	raw := readRawSample(t)
	calEnd := ymd(t, "19970930")
	var plusOne, exclusive int
	for _, r := range rows {
		if c := FromPurchaseDays(raw[r.id], calEnd+1, 7); round2(c.T) != r.T {
			plusOne++
		}
		if c := FromPurchaseDays(raw[r.id], calEnd-1, 7); round2(c.X) != r.X {
			exclusive++
		}
	}
	if plusOne != len(rows) {
		t.Errorf("T to the end of 1997-09-30 matched %d customers' T; expected none", len(rows)-plusOne)
	}
	if exclusive == 0 {
		t.Errorf("excluding purchases on 1997-09-30 still matched every x; the inclusive end is not pinned down")
	}
	t.Logf("asOf+1 mismatches T for %d/%d customers; excluding the end day mismatches x for %d", plusOne, len(rows), exclusive)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func TestExpectedTransactionsPublished(t *testing.T) {
	want := []struct{ t, ex float64 }{{1, 0.0532}, {3, 0.1506}, {32, 1.0437}, {78, 1.8576}}
	check := func(name string, p Params) {
		for _, w := range want {
			got := p.ExpectedTransactions(w.t)
			t.Logf("%s: E[X(%v)] = %.5f", name, w.t, got)
			if math.Abs(got-w.ex) > 0.0005 {
				t.Errorf("%s: E[X(%v)] = %.5f, want %.4f to 3 decimals", name, w.t, got, w.ex)
			}
		}
	}
	check("lifetimes params", lifetimesParams)
	rows := readSummary(t)
	f, err := Fit(context.Background(), customersOf(rows), nil)
	if err != nil {
		t.Fatal(err)
	}
	check("fitted params", f.Params)
}

func TestConditionalExpectedPublished(t *testing.T) {
	c := Customer{X: 2, TX: 30.43, T: 38.86}
	got := lifetimesParams.ConditionalExpected(39, c)
	t.Logf("E[Y(39) | x=2, t_x=30.43, T=38.86] = %.5f", got)
	if math.Abs(got-1.226) > 0.0005 {
		t.Errorf("ConditionalExpected = %.5f, want 1.226", got)
	}
}

func BenchmarkFit(b *testing.B) {
	cs := customersOf(readSummary(b))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Fit(context.Background(), cs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLogLikelihood(b *testing.B) {
	cs := customersOf(readSummary(b))
	b.ResetTimer()
	for b.Loop() {
		LogLikelihood(lifetimesParams, cs)
	}
}
