package projections

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/projections/customer"
)

// TestCustomerListAndOverview: CustomerList pages every customer in id
// order by prefix (pages joined are the Customers scan, each once), its
// filters keep exactly the answers that match; Overview's counts are
// Segmentation's and its NPS NPSResult's, now and as of an instant.
func TestCustomerListAndOverview(t *testing.T) {
	raws := simulated(t, 300, simDays, 21)
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, raws)
	v := openViews(t, dir, log, &Options{Clock: fixedClock(testNow)})
	catchUp(t, v)
	ctx := context.Background()
	for _, asOf := range []time.Time{{}, simStart.Add(50 * 24 * time.Hour)} {
		var all []*customer.Answer
		if err := v.Customers(ctx, asOf, true, func(c *customer.Answer) error { all = append(all, c); return nil }); err != nil {
			t.Fatal(err)
		}
		// Paged by 7, every customer once, in order.
		var got []string
		after := ""
		for {
			p, err := v.CustomerList(ctx, ListQuery{After: after, Limit: 7, AsOf: asOf})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Customers {
				got = append(got, e.Customer)
			}
			if p.NextAfter == "" {
				break
			}
			after = p.NextAfter
		}
		if len(got) != len(all) {
			t.Fatalf("as of %v: pages hold %d customers, the scan %d", asOf, len(got), len(all))
		}
		for i, c := range all {
			if got[i] != c.State.Customer {
				t.Fatalf("as of %v: page entry %d is %s, want %s", asOf, i, got[i], c.State.Customer)
			}
		}
		// Each entry carries the answer's RFM score without an RFM filter.
		first, err := v.CustomerList(ctx, ListQuery{Limit: MaxListLimit, AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		withRFM := 0
		for i, e := range first.Customers {
			if a := all[i]; (e.RFM == nil) != (a.RFM == nil) || e.RFM != nil && *e.RFM != *a.RFM {
				t.Fatalf("as of %v: %s lists RFM %+v, its answer %+v", asOf, e.Customer, e.RFM, a.RFM)
			}
			if e.RFM != nil {
				withRFM++
			}
		}
		if withRFM == 0 {
			t.Errorf("as of %v: no listed customer has an RFM score", asOf)
		}
		// A prefix: the ids that start with it.
		prefix := all[len(all)/2].State.Customer[:10]
		p, err := v.CustomerList(ctx, ListQuery{Prefix: prefix, Limit: MaxListLimit, AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range all {
			if strings.HasPrefix(c.State.Customer, prefix) {
				n++
			}
		}
		if len(p.Customers) != n || n == 0 {
			t.Errorf("prefix %s: %d customers, want %d", prefix, len(p.Customers), n)
		}
		// A trait: the customers whose trait has that value, any case.
		for _, c := range all {
			for k, val := range c.State.Traits {
				p, err := v.CustomerList(ctx, ListQuery{Trait: k + ":" + strings.ToUpper(val), Limit: MaxListLimit, AsOf: asOf})
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				for _, o := range all {
					if strings.EqualFold(o.State.Traits[k], val) {
						want++
					}
				}
				if len(p.Customers) != want || !slices.ContainsFunc(p.Customers, func(e ListEntry) bool { return e.Customer == c.State.Customer }) {
					t.Errorf("trait %s:%s: %d listed, want %d with %s", k, val, len(p.Customers), want, c.State.Customer)
				}
				break
			}
		}
		// Filters: stage, a segment, an RFM cell.
		o, err := v.Overview(ctx, asOf)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := v.Segmentation(ctx, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if o.Customers != sc.Customers || !maps.Equal(o.Stages, sc.By[ByStage]) || !maps.Equal(o.Churn, sc.By[ByChurn]) {
			t.Errorf("as of %v: overview %d %v %v, segmentation %d %v %v", asOf, o.Customers, o.Stages, o.Churn,
				sc.Customers, sc.By[ByStage], sc.By[ByChurn])
		}
		cells := o.NoRFM
		for r := range 5 {
			for fm := range 5 {
				cells += o.Grid[r][fm]
				if o.Grid[r][fm] == 0 {
					continue
				}
				p, err := v.CustomerList(ctx, ListQuery{R: r + 1, FM: fm + 1, Limit: MaxListLimit, AsOf: asOf})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Customers) != o.Grid[r][fm] {
					t.Errorf("as of %v: cell R%d FM%d counts %d, lists %d", asOf, r+1, fm+1, o.Grid[r][fm], len(p.Customers))
				}
			}
		}
		if cells != o.Customers {
			t.Errorf("grid and no-RFM hold %d customers, want %d", cells, o.Customers)
		}
		for stage, want := range o.Stages {
			p, err := v.CustomerList(ctx, ListQuery{Stage: stage, Limit: MaxListLimit, AsOf: asOf})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Customers) != want {
				t.Errorf("stage %s: %d listed, %d counted", stage, len(p.Customers), want)
			}
		}
		p, err = v.CustomerList(ctx, ListQuery{Segment: "churn:" + customer.ChurnAtRisk, Limit: MaxListLimit, AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Customers) != o.Churn[customer.ChurnAtRisk] {
			t.Errorf("segment churn:at_risk: %d listed, %d counted", len(p.Customers), o.Churn[customer.ChurnAtRisk])
		}
		nps, err := v.NPSResult(ctx, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if o.NPS.Overall != nps.Overall || len(o.NPS.ByMonth) != len(nps.ByMonth) {
			t.Errorf("overview NPS %+v, NPSResult %+v", o.NPS.Overall, nps.Overall)
		}
	}
	for _, q := range []ListQuery{{Limit: MaxListLimit + 1}, {R: 6}, {FM: -1}, {Stage: "gold"}, {Segment: "cluster:1"}, {Segment: "churn"}} {
		var le *ListError
		if _, err := v.CustomerList(ctx, q); !errors.As(err, &le) || !errors.Is(err, ErrBadListQuery) {
			t.Errorf("%+v: %v, want a ListError", q, err)
		}
	}
}
