package projections

import (
	"context"
	"errors"

	"maps"
	"testing"
	"time"

	"github.com/journey-cdp/journey/projections/customer"
)

func TestSegmentsConsistentWithCustomers(t *testing.T) {
	raws := simulated(t, 400, simDays, 13)
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, raws)
	cfg := &customer.Config{Rules: map[string]string{
		"big_spenders": `customer.purchases >= 3`,
		"unhappy":      `customer.satisfaction < 40.0`,
	}}
	v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow), Config: cfg})
	catchUp(t, v)
	ctx := context.Background()
	// The cluster segments (by cluster) are the stored fit's nearest clusters.
	cm, err := v.FitClusters(ctx, time.Time{}, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The CLV bands (by clv) are those of the answers under a stored model.
	if err := v.SetCLV(&customer.CLVFit{Model: "bgnbd", R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, Unit: "week",
		AsOf: simStart.Add(30 * 24 * time.Hour), Currency: "EUR", P: 6.25, Q: 3.74, Gamma: 15.44, HorizonMonths: 12, Discount: 0.01}); err != nil {
		t.Fatal(err)
	}

	for _, asOf := range []time.Time{{}, simStart.Add(60 * 24 * time.Hour)} {
		sc, err := v.Segmentation(ctx, asOf)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]int{}
		for _, b := range SegmentBys() {
			want[b] = map[string]int{}
		}
		n := 0
		err = v.Customers(ctx, asOf, true, func(c *customer.Answer) error {
			n++
			want[ByStage][c.Stage]++
			want[ByHighestStage][c.HighestStage]++
			want[ByChurn][c.Churn]++
			for _, f := range c.Flags {
				want[ByFlag][f]++
			}
			for _, x := range c.Types {
				want[ByType][x]++
			}
			for _, x := range c.Segments {
				want[ByRule][x]++
			}
			for _, x := range c.State.Stores {
				want[ByStore][x]++
			}
			if len(c.State.Stores) == 0 {
				want[ByStore][NoStore]++
			}
			want[ByCluster][clusterOf(cm, c)]++
			want[ByCLV][customer.CLVBand(c.CLV)]++
			if c.RFM == nil {
				want[ByRFM][NoRFM]++
			} else {
				want[ByRFM][c.RFM.Segment]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Customers != n || n == 0 {
			t.Fatalf("as of %v: %d customers, want %d", asOf, sc.Customers, n)
		}
		for _, b := range SegmentBys() {
			if !maps.Equal(sc.By[b], want[b]) {
				t.Errorf("as of %v by %s: %v, want %v", asOf, b, sc.By[b], want[b])
			}
			got, err := v.Segments(ctx, b, asOf)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, sc.By[b]) {
				t.Errorf("Segments(%s)=%v, Segmentation %v", b, got, sc.By[b])
			}
		}
		total := 0
		for _, c := range sc.By[ByStage] {
			total += c
		}
		if total != n {
			t.Fatalf("stage counts sum to %d, want %d", total, n)
		}
		if len(sc.By[ByRFM]) < 3 || len(sc.By[ByRule]) == 0 || len(sc.By[ByStore]) < 2 || len(sc.By[ByCLV]) < 2 {
			t.Fatalf("as of %v: degenerate segments %v", asOf, sc.By)
		}
	}
	if _, err := v.Segments(ctx, "zodiac", time.Time{}); !errors.Is(err, ErrUnknownSegmentation) {
		t.Fatalf("Segments(zodiac)=%v", err)
	}
	all, err := v.CustomerCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sc, _ := v.Segmentation(ctx, time.Time{}); sc.Customers != all {
		t.Fatalf("segmentation over %d customers, views hold %d", sc.Customers, all)
	}
}

func TestNPSByStoreAndMonth(t *testing.T) {
	raws := simulated(t, 400, simDays, 17)
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, raws)
	v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow)})
	catchUp(t, v)
	ctx := context.Background()
	for _, asOf := range []time.Time{{}, simStart.Add(75 * 24 * time.Hour)} {
		var agg customer.NPSAggregator
		agg.AsOf = asOf
		if asOf.IsZero() {
			agg.AsOf = testNow
		}
		err := v.Customers(ctx, asOf, false, func(c *customer.Answer) error {
			agg.Add(c.State)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := agg.Result()
		for by, src := range map[string]map[string]customer.NPS{"store": want.ByStore, "month": want.ByMonth} {
			got, err := v.NPS(ctx, by, asOf)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 || len(got) != len(src) {
				t.Fatalf("NPS by %s as of %v: %v, want %d keys", by, asOf, got, len(src))
			}
			for k, n := range src {
				if got[k] != n.Score || got[k] < -100 || got[k] > 100 {
					t.Fatalf("NPS by %s %s = %v, want %v", by, k, got[k], n.Score)
				}
			}
		}
		if !asOf.IsZero() {
			byMonth, _ := v.NPS(ctx, "month", asOf)
			for m := range byMonth {
				if m > asOf.Format("2006-01") {
					t.Fatalf("NPS as of %v has month %s", asOf, m)
				}
			}
		}
	}
	if _, err := v.NPS(ctx, "weekday", time.Time{}); !errors.Is(err, ErrUnknownSegmentation) {
		t.Fatalf("NPS(weekday)=%v", err)
	}

}
