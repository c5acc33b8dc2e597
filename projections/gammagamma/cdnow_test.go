package gammagamma

import (
	"bufio"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/bgnbd"
)

const dataDir = "../../../shared/data/cdnow"

// Published Gamma-Gamma estimates on CDNOW's 946 repeat buyers in the
// 39-week calibration period (to 1997-09-30) of the 2,357-customer sample:
// the lifetimes documentation ("Estimating customer lifetime value using
// the Gamma-Gamma model": GammaGammaFitter on
// load_cdnow_summary_data_with_monetary_value, i.e.
// summary_data_from_transaction_data with monetary_value_col; "fitted with
// 946 subjects, p: 6.25, q: 3.74, v: 15.44"), the same as Hardie's note
// "The Gamma-Gamma Model of Monetary Value" (2013).
var published = Params{P: 6.25, Q: 3.74, Gamma: 15.44}

// cdnowCustomer is one sample customer: BG/NBD summary, repeat purchases
// (same-day purchases merged, as summary_data_from_transaction_data does)
// in cents, and the holdout.
type cdnowCustomer struct {
	id     string
	tx     bgnbd.Customer
	repeat []int64
}

// readCDNOW reads CDNOW_sample.txt for the calibration to 1997-09-30.
func readCDNOW(t testing.TB) []cdnowCustomer {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, "CDNOW_sample.txt"))
	if err != nil {
		t.Skipf("real CDNOW data not available (%v); it lives in /work/shared/data/cdnow", err)
	}
	defer f.Close()
	end, _ := time.Parse("20060102", "19970930")
	endDay := bgnbd.Day(end)
	perDay := map[string]map[int]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			t.Fatalf("bad line %q", sc.Text())
		}
		d, err := time.Parse("20060102", fs[2])
		if err != nil {
			t.Fatal(err)
		}
		cents, err := journey.ParseAmount(fs[4], "USD")
		if err != nil {
			t.Fatalf("amount %q: %v", fs[4], err)
		}
		if perDay[fs[1]] == nil {
			perDay[fs[1]] = map[int]int64{}
		}
		perDay[fs[1]][bgnbd.Day(d)] += cents
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var out []cdnowCustomer
	for id, m := range perDay {
		days := slices.Sorted(func(yield func(int) bool) {
			for d := range m {
				if !yield(d) {
					return
				}
			}
		})
		c := cdnowCustomer{id: id, tx: bgnbd.FromPurchaseDays(days, endDay, 7)}
		for _, d := range days[1:] {
			if d <= endDay {
				c.repeat = append(c.repeat, m[d])
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b cdnowCustomer) int { return strings.Compare(a.id, b.id) })
	return out
}

var (
	once  sync.Once
	model Model
	cust  []cdnowCustomer
	ferr  error
)

func cdnowFit(t *testing.T) (Model, []cdnowCustomer) {
	cs := readCDNOW(t)
	once.Do(func() {
		cust = cs
		in := make([]Customer, len(cs))
		for i, c := range cs {
			in[i] = FromMinor(c.repeat, 2)
		}
		model, ferr = Fit(context.Background(), in, Params{})
	})
	if ferr != nil {
		t.Fatal(ferr)
	}
	return model, cust
}

func within(t *testing.T, name string, got, want, rel float64) {
	t.Helper()
	if !(math.Abs(got-want) <= rel*math.Abs(want)) {
		t.Errorf("%s = %.6g, want %.6g within %.2g%%", name, got, want, rel*100)
	}
}

func TestFitCDNOWPublished(t *testing.T) {
	m, cs := cdnowFit(t)
	// The data set is the one of the published fit: 2,357 customers, 946
	// of them with repeat purchases in the calibration period, and their
	// BG/NBD summary equals the published one (checked in projections/bgnbd).
	repeaters := 0
	for _, c := range cs {
		if len(c.repeat) > 0 {
			repeaters++
		}
	}
	if len(cs) != 2357 || repeaters != 946 || m.Customers != 946 {
		t.Fatalf("%d customers, %d repeat buyers (fit on %d); want 2357 and 946", len(cs), repeaters, m.Customers)
	}
	t.Logf("fit: %+v LL=%.4f iterations=%d\n%s", m.Params, m.LogLikelihood, m.Iterations, m.Diagnostics.Text())
	within(t, "p", m.P, published.P, 0.01)
	within(t, "q", m.Q, published.Q, 0.01)
	within(t, "gamma", m.Gamma, published.Gamma, 0.01)
	if !m.Diagnostics.OK() {
		t.Errorf("diagnostics: %+v", m.Diagnostics)
	}
}
