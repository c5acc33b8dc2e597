package projections

import (
	"context"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
)

// Overview is the population at a glance (the web dashboard): counts by
// stage and churn status, the 5×5 RFM grid with its revenue, NPS, the new
// and lost customers per month and the events per day.
type Overview struct {
	AsOf      time.Time      `json:"as_of"`
	Customers int            `json:"customers"`
	Stages    map[string]int `json:"stages"`
	Churn     map[string]int `json:"churn"`
	// Grid[r-1][fm-1] counts the customers of RFM score R=r, FM=fm.
	Grid [5][5]int `json:"rfm_grid"`
	// GridRevenue[r-1][fm-1] is the lifetime revenue (per currency, minor
	// units) of the customers of that cell.
	GridRevenue [5][5]customer.Money `json:"rfm_grid_revenue"`
	// Currencies counts the customers with revenue in each currency.
	Currencies map[string]int `json:"currencies"`
	// NoRFM counts the customers without an RFM score (no purchase).
	NoRFM int `json:"no_rfm"`
	// NPS is the population NPS (overall, by store, by month), as NPSResult.
	NPS customer.NPSResult `json:"nps"`
	// NewByMonth counts the customers by the month (YYYY-MM, UTC) they were
	// first seen.
	NewByMonth map[string]int `json:"new_by_month"`
	// LostByMonth counts the churned customers by the month they were lost
	// (LostAt).
	LostByMonth map[string]int `json:"lost_by_month"`
	// EventsByDay counts the log's events by the day (YYYY-MM-DD, UTC) of
	// their event time, up to AsOf (nil when not counted: an Overview from
	// Views.Overview alone; the OverviewKeeper counts them).
	EventsByDay map[string]int `json:"events_by_day,omitempty"`

	// ComputedAt is when the pass that counted this ran (the views' clock),
	// Checkpoint the log sequence the views had folded by then (at least).
	ComputedAt time.Time `json:"computed_at"`
	Checkpoint uint64    `json:"checkpoint"`
}

// MonthOf is t's month as the Overview keys it (YYYY-MM, UTC).
func MonthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// LostAt is when a churned customer (st, its answer cu at asOf) was lost:
// the instant the churn rule's recency threshold passed (the last
// purchase plus ChurnedGaps × the expected gap, at most MaxRecency; a
// prospect: a year after last seen), or asOf when the p_alive rule churned
// them before that.
func LostAt(st *customer.State, cu *customer.Answer, asOf time.Time) time.Time {
	var t time.Time
	if st.Purchases == 0 || st.LastPurchase.IsZero() {
		t = st.LastSeen.Add(customer.MaxRecency)
	} else {
		thr := time.Duration(customer.ChurnedGaps * cu.ExpectedGapDays * float64(24*time.Hour))
		t = st.LastPurchase.Add(min(thr, customer.MaxRecency))
	}
	if t.After(asOf) {
		t = asOf
	}
	return t
}

// Overview counts the population at asOf (zero: now) in one pass over the
// states (and, now, the cached RFM quintiles; as of an instant, the
// population's as withPopulation). It walks every customer: the web
// dashboard of now reads an OverviewKeeper's copy instead. EventsByDay is
// left nil (the keeper counts it from the log).
func (v *Views) Overview(ctx context.Context, asOf time.Time) (*Overview, error) {
	o := &Overview{Stages: map[string]int{}, Churn: map[string]int{}, Currencies: map[string]int{},
		NewByMonth: map[string]int{}, LostByMonth: map[string]int{}, Checkpoint: v.Checkpoint(), ComputedAt: v.now().UTC()}
	var agg customer.NPSAggregator
	err := v.withAnswers(ctx, asOf, true, func(r pebble.Reader, at time.Time, pop *customer.Population) error {
		o.AsOf, agg.AsOf = at, at
		return forEachState(ctx, r, func(_ string, e *entry) error {
			agg.Add(e.st)
			cu := v.derive(e.st, at, pop)
			o.Customers++
			o.Stages[cu.Stage]++
			o.Churn[cu.Churn]++
			if !e.st.FirstSeen.IsZero() {
				o.NewByMonth[MonthOf(e.st.FirstSeen)]++
			}
			if cu.Churn == customer.ChurnChurned {
				o.LostByMonth[MonthOf(LostAt(e.st, cu, at))]++
			}
			for cur := range e.st.Revenue {
				o.Currencies[cur]++
			}
			if s := cu.RFM; s != nil && s.R >= 1 && s.R <= 5 && s.FM >= 1 && s.FM <= 5 {
				o.Grid[s.R-1][s.FM-1]++
				cell := &o.GridRevenue[s.R-1][s.FM-1]
				for cur, amt := range e.st.Revenue {
					if *cell == nil {
						*cell = customer.Money{}
					}
					(*cell)[cur] += amt
				}
			} else {
				o.NoRFM++
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	o.NPS = agg.Result()
	return o, nil
}

// SatisfactionPoint is the satisfaction score at an instant.
type SatisfactionPoint struct {
	At    time.Time `json:"at"`
	Score float64   `json:"score"`
}

// SatisfactionTrend is the satisfaction score of st (under the views'
// rules) right after each of its satisfaction signals up to asOf, and at
// asOf: the score's course over time. With more than maxPoints signal
// instants (maxPoints > 0), the score is taken after maxPoints of them
// evenly spread (each score reads every signal: a long history costs
// maxPoints × signals, not signals²). It reads nothing.
func (v *Views) SatisfactionTrend(st *customer.State, asOf time.Time, maxPoints int) []SatisfactionPoint {
	end := asOf.Unix()
	var instants []int64 // the last signal of each second, up to asOf
	for i, sg := range st.Signals {
		if sg.At > end {
			break
		}
		if i+1 < len(st.Signals) && st.Signals[i+1].At == sg.At {
			continue
		}
		instants = append(instants, sg.At)
	}
	if maxPoints > 0 && len(instants) > maxPoints {
		picked := make([]int64, 0, maxPoints)
		for i := range maxPoints {
			picked = append(picked, instants[(i*(len(instants)-1))/max(1, maxPoints-1)])
		}
		instants = slices.Compact(picked)
	}
	out := make([]SatisfactionPoint, 0, len(instants)+1)
	for _, sec := range instants {
		at := time.Unix(sec, 0).UTC()
		out = append(out, SatisfactionPoint{At: at, Score: v.opts.Config.SatisfactionScore(st, at)})
	}
	if len(out) > 0 && !out[len(out)-1].At.Equal(asOf.Truncate(time.Second)) {
		out = append(out, SatisfactionPoint{At: asOf.UTC(), Score: v.opts.Config.SatisfactionScore(st, asOf)})
	}
	return out
}
