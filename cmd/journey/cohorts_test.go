package main

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/projections/cohorts"
)

// retailCohorts is an independent cohort computation straight from the
// Online Retail baskets CSV: for each customer the months (UTC) of their
// purchase baskets (is_return 0) with time ≤ asOf, and the pence spent in
// each. It returns, per cohort month, the cohort size, and per (cohort,
// month) the active customers and the revenue in pence.
func retailCohorts(t *testing.T, path string, asOf time.Time) (size map[string]int, active map[[2]string]int, pence map[[2]string]int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(zr)
	type buy struct {
		month string
		pence int64
	}
	buys := map[string][]buy{}
	for line := 0; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if line == 0 || rec[4] != "0" {
			continue
		}
		ts, err := time.Parse("2006-01-02T15:04:05", rec[1])
		if err != nil {
			t.Fatal(err)
		}
		if !asOf.IsZero() && ts.After(asOf) {
			continue
		}
		whole, frac, _ := strings.Cut(rec[3], ".")
		frac = (frac + "00")[:2]
		p, err := strconv.ParseInt(whole+frac, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		cust := strings.TrimSuffix(rec[0], ".0")
		buys[cust] = append(buys[cust], buy{ts.Format("2006-01"), p})
	}
	size, active, pence = map[string]int{}, map[[2]string]int{}, map[[2]string]int64{}
	for _, bs := range buys {
		first := bs[0].month
		for _, b := range bs {
			first = min(first, b.month)
		}
		size[first]++
		seen := map[string]bool{}
		for _, b := range bs {
			k := [2]string{first, b.month}
			pence[k] += b.pence
			if !seen[b.month] {
				seen[b.month] = true
				active[k]++
			}
		}
	}
	return size, active, pence
}

// TestCohortsOnlineRetail imports the UCI Online Retail baskets and checks
// that journey cohorts (JSON, CSV, the SVG chart), now and as of a date,
// equals retailCohorts' independent computation from the CSV.
func TestCohortsOnlineRetail(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "data", "online_retail", "baskets_2010-12-01_2011-12-09.csv.gz")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("Online Retail data not available (%v): skipping the cohort check on real data", err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, "--format", "online-retail", path)
	for _, asOf := range []string{"", "2011-06-30"} {
		t.Run("as-of="+asOf, func(t *testing.T) {
			var at time.Time
			args := []string{"cohorts", "--data", dir, "--json"}
			if asOf != "" {
				at = time.Date(2011, 6, 30, 23, 59, 59, 999999999, time.UTC)
				args = append(args, "--as-of", asOf)
			}
			var tab cohorts.Table
			if err := json.Unmarshal([]byte(mustRun(t, nil, args...)), &tab); err != nil {
				t.Fatal(err)
			}
			size, active, pence := retailCohorts(t, path, at)
			if len(tab.Cohorts) != len(size) {
				t.Fatalf("%d cohorts, want %d", len(tab.Cohorts), len(size))
			}
			customers, cells := 0, 0
			for _, c := range tab.Cohorts {
				if c.Customers != size[c.Month] {
					t.Errorf("cohort %s: %d customers, want %d", c.Month, c.Customers, size[c.Month])
				}
				customers += c.Customers
				for _, p := range c.Periods {
					k := [2]string{c.Month, p.Month}
					if p.Active != active[k] {
						t.Errorf("cohort %s month %s: %d active, want %d", c.Month, p.Month, p.Active, active[k])
					}
					if want := float64(active[k]) / float64(size[c.Month]); p.Retention != want {
						t.Errorf("cohort %s month %s: retention %v, want %v", c.Month, p.Month, p.Retention, want)
					}
					wantRev := ""
					if pence[k] != 0 || active[k] > 0 {
						wantRev = fmt.Sprintf("%d.%02d GBP", pence[k]/100, pence[k]%100)
					}
					if got := p.Revenue.String(); got != wantRev {
						t.Errorf("cohort %s month %s: revenue %q, want %q", c.Month, p.Month, got, wantRev)
					}
					if active[k] > 0 {
						cells++
					}
				}
			}
			if cells != len(active) || customers != tab.Customers {
				t.Errorf("%d non-empty cells of %d customers, want %d of %d", cells, tab.Customers, len(active), customers)
			}
			if tab.Customers < 1000 {
				t.Errorf("only %d customers: the import did not take", tab.Customers)
			}
			if asOf != "" && tab.Cohorts[len(tab.Cohorts)-1].Month != "2011-06" {
				t.Errorf("as of %s the last cohort is %s", asOf, tab.Cohorts[len(tab.Cohorts)-1].Month)
			}

			// CSV: a row per cohort and month, the same numbers.
			rows, err := csv.NewReader(strings.NewReader(mustRun(t, nil, append(args[:len(args):len(args)], "--format", "csv")...))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(rows[0], ",") != strings.Join(cohorts.CSVHeader, ",") {
				t.Fatalf("CSV header %v", rows[0])
			}
			n := 0
			for _, c := range tab.Cohorts {
				n += len(c.Periods)
			}
			if len(rows)-1 != n {
				t.Fatalf("%d CSV rows, want %d", len(rows)-1, n)
			}
			first := tab.Cohorts[0]
			if want := []string{first.Month, strconv.Itoa(first.Customers), first.Month, "0", strconv.Itoa(first.Customers), "1.0000", first.Periods[0].Revenue.String()}; strings.Join(rows[1], "|") != strings.Join(want, "|") {
				t.Errorf("first CSV row %v, want %v", rows[1], want)
			}
		})
	}

	// The chart is well-formed SVG with a cell per cohort and month.
	svg := filepath.Join(t.TempDir(), "cohorts.svg")
	out := mustRun(t, nil, "cohorts", "--data", dir, "--chart", svg)
	if !strings.HasPrefix(out, "cohort retention as of") || !strings.Contains(out, "2010-12") {
		t.Errorf("table output:\n%s", out)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(string(b)))
	rects := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	if rects < 13*14/2 {
		t.Errorf("chart has %d rects, want a cell per cohort and month (≥ %d)", rects, 13*14/2)
	}
	if r := runCLI(t, nil, "cohorts", "--data", dir, "--format", "xml"); r.code != 2 {
		t.Errorf("--format xml: exit %d, want 2", r.code)
	}
}

// TestCohortsServer: journey cohorts --server (GET /v1/cohorts) answers
// the table the data dir gives, as of a date, for an analyst token, and
// refuses a reader token.
func TestCohortsServer(t *testing.T) {
	path, _ := simulated(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, path)
	local := mustRun(t, nil, "cohorts", "--data", dir, "--json", "--as-of", "2025-02-15")
	var tab cohorts.Table
	if err := json.Unmarshal([]byte(local), &tab); err != nil {
		t.Fatal(err)
	}
	if tab.Customers == 0 || len(tab.Cohorts) == 0 {
		t.Fatalf("no cohorts in the simulated data: %s", local)
	}
	analyst := strings.TrimSpace(mustRun(t, nil, "token", "create", "--data", dir, "--role", "analyst", "--name", "bi"))
	reader := strings.TrimSpace(mustRun(t, nil, "token", "create", "--data", dir, "--role", "reader", "--name", "tablet"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, httpURL, done, serveErr := startServe(t, ctx, dir)
	remote := mustRun(t, nil, "cohorts", "--server", httpURL, "--token", analyst, "--json", "--as-of", "2025-02-15")
	if remote != local {
		t.Errorf("over --server:\n%s\nfrom the data dir:\n%s", remote, local)
	}
	if r := runCLI(t, nil, "cohorts", "--server", httpURL, "--token", reader); r.code == 0 {
		t.Errorf("a reader token got the cohorts: %s", r.stdout)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, serveErr.String())
	}
}
