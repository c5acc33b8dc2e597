package projections

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/projections/customer"
)

func TestFitChurnIsStoredAndCarried(t *testing.T) {
	raws := simulated(t, 500, 365, 21)
	dir, log, v := loadedViews(t, raws, &Options{Clock: fixedClock(simStart.Add(380 * 24 * time.Hour))})
	ctx := context.Background()
	some := ""
	err := v.Customers(ctx, time.Time{}, false, func(c *customer.Answer) error {
		if c.PAlive != nil {
			return fmt.Errorf("customer %s has p_alive before any fit", c.State.Customer)
		}
		if c.State.Purchases > 1 && some == "" {
			some = c.State.Customer
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	asOf := simStart.Add(300 * 24 * time.Hour)
	fit, err := v.FitChurn(ctx, asOf, "week")
	if err != nil {
		t.Fatal(err)
	}
	if !(fit.R > 0 && fit.Alpha > 0 && fit.A > 0 && fit.B > 0) || fit.Customers == 0 || fit.Unit != "week" || !fit.AsOf.Equal(asOf) {
		t.Fatalf("fit %+v", fit)
	}
	check := func(what string, v *Views) {
		t.Helper()
		c, err := v.Customer(ctx, some, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if c.PAlive == nil || *c.PAlive < 0 || *c.PAlive > 1 || c.ExpectedNext == nil {
			t.Fatalf("%s: customer %s carries no p_alive (%v)", what, some, c.PAlive)
		}
		pop, _ := v.Population()
		if pop.Churn == nil || *pop.Churn != *fit {
			t.Fatalf("%s: population fit %+v, want %+v", what, pop.Churn, fit)
		}
		// An answer as of before the calibration end has no fit.
		c, err = v.Customer(ctx, some, asOf.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if c.PAlive != nil {
			t.Fatalf("%s: p_alive as of before the fit's calibration end", what)
		}
	}
	check("fitted", v)
	// The fit counts only the customers with a purchase by asOf.
	want := 0
	err = v.Customers(ctx, time.Time{}, false, func(c *customer.Answer) error {
		if len(c.State.PurchaseDays(asOf)) > 0 {
			want++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Customers != want || want == 0 {
		t.Fatalf("fit over %d customers, want %d", fit.Customers, want)
	}
	if _, err := v.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	check("rebuilt", v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	check("reopened", openViews(t, dir, log, &Options{Clock: fixedClock(simStart.Add(380 * 24 * time.Hour))}))

	if _, err := openViews(t, t.TempDir(), log, nil).FitChurn(ctx, asOf, "fortnight"); err == nil {
		t.Fatal("unit fortnight accepted")
	}
}

// TestFitChurnCDNOW imports the raw CDNOW sample as purchase events and
// recovers the published BG/NBD parameters (Fader, Hardie & Lee 2005).
func TestFitChurnCDNOW(t *testing.T) {
	const path = "../../shared/data/cdnow/CDNOW_sample.txt"
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("CDNOW sample not available (%v); it lives in /work/shared/data/cdnow", err)
	}
	defer f.Close()
	var raws [][]byte
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			t.Fatalf("line %d: %d fields", line, len(fs))
		}
		day, err := time.Parse("20060102", fs[2])
		if err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		raws = append(raws, fmt.Appendf(nil,
			`{"specversion":"1.0","id":"cdnow-sample-%d","source":"cdnow","type":"purchase","subject":"cdnow-%s","time":%q,"data":{"order_id":"%d","amount":%q,"currency":"USD","items":%s}}`,
			line, fs[0], day.Format(time.RFC3339), line, fs[4], fs[3]))
	}
	dir := t.TempDir()
	log := openLog(t, dir)
	if n := appendRaw(t, log, raws); n != len(raws) {
		t.Fatalf("appended %d of %d lines", n, len(raws))
	}
	v := openViews(t, dir, log, &Options{Clock: fixedClock(time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC))})
	catchUp(t, v)
	fit, err := v.FitChurn(context.Background(), time.Date(1997, 9, 30, 23, 59, 59, 0, time.UTC), "week")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CDNOW fit: %+v", *fit)
	for _, p := range []struct {
		name      string
		got, want float64
	}{{"r", fit.R, 0.243}, {"alpha", fit.Alpha, 4.414}, {"a", fit.A, 0.793}, {"b", fit.B, 2.426}} {
		if math.Abs(p.got-p.want) > 0.01*p.want {
			t.Errorf("%s = %.4f, want %.3f ± 1%%", p.name, p.got, p.want)
		}
	}
	if fit.Customers != 2357 {
		t.Errorf("fit over %d customers, want 2357", fit.Customers)
	}
	c, err := v.Customer(context.Background(), "cdnow-00004", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PAlive == nil {
		t.Fatal("customer 00004 carries no p_alive after the fit")
	}
}
