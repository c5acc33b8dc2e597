package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
)

// Segmentations accepted by Segments ("by").
const (
	ByStage        = "stage"         // lifecycle stage
	ByHighestStage = "highest_stage" // furthest stage ever reached
	ByFlag         = "flag"          // advocate, detractor (a customer may have both or none)
	ByType         = "type"          // the twelve customer types (tags: zero or more each)
	ByStore        = "store"         // stores the customer was seen at (NoStore: none)
	ByChurn        = "churn"         // active, at_risk, churned
	ByRFM          = "rfm"           // named RFM segment (NoRFM: no purchase)
	ByRule         = "rule"          // CEL rule segments of Config.Rules that match
	ByCluster      = "cluster"       // nearest cluster of the stored fit (clusters_fit.go; NoCluster: no purchase)
	ByCLV          = "clv"           // CLV band of the stored CLV model (customer.CLVBand; customer.NoCLV: no CLV)
)

// NoStore and NoRFM are the keys of customers without a store, and
// without an RFM score (no purchase).
const (
	NoStore = "none"
	NoRFM   = "none"
)

// SegmentBys lists the segmentations of Segments.
func SegmentBys() []string {
	return []string{ByStage, ByHighestStage, ByFlag, ByType, ByStore, ByChurn, ByRFM, ByRule, ByCluster, ByCLV}
}

// SegmentCounts are the customer counts of every segmentation at one
// instant.
type SegmentCounts struct {
	AsOf      time.Time                 `json:"as_of"`
	Customers int                       `json:"customers"`
	By        map[string]map[string]int `json:"by"`
}

// Segments counts customers by one segmentation (see SegmentBys) at asOf
// (zero: now), as Segmentation does.
func (v *Views) Segments(ctx context.Context, by string, asOf time.Time) (map[string]int, error) {
	if !slices.Contains(SegmentBys(), by) {
		return nil, fmt.Errorf("%w: %q (want one of %v)", ErrUnknownSegmentation, by, SegmentBys())
	}
	if by == ByCluster {
		if m, err := v.Clusters(); err != nil {
			return nil, err
		} else if m == nil {
			return nil, fmt.Errorf("%w %q: %w", ErrUnknownSegmentation, by, ErrNoClusters)
		}
	}
	if by == ByCLV {
		if f, err := v.CLVFit(); err != nil {
			return nil, err
		} else if f == nil {
			return nil, fmt.Errorf("%w %q: %w", ErrUnknownSegmentation, by, ErrNoCLV)
		}
	}
	sc, err := v.Segmentation(ctx, asOf)
	if err != nil {
		return nil, err
	}
	return sc.By[by], nil
}

// Segmentation counts the customers by every segmentation at asOf in one
// pass. With a zero asOf the stored states are derived now (Options.Clock).
// Otherwise the answer is what the engine would have said at asOf: the
// population as folded from the events with time ≤ asOf (a parallel fold of
// the log, the rebuild's, into a scratch database, unless no stored event
// is later than asOf), derived at asOf. RFM quintiles are those of the
// population at that instant.
func (v *Views) Segmentation(ctx context.Context, asOf time.Time) (*SegmentCounts, error) {
	out := &SegmentCounts{By: map[string]map[string]int{}}
	for _, b := range SegmentBys() {
		out.By[b] = map[string]int{}
	}
	cm, err := v.Clusters()
	if err != nil {
		return nil, err
	}
	err = v.withPopulation(ctx, asOf, true, func(r pebble.Reader, at time.Time, pop *customer.Population) error {
		out.AsOf = at
		return forEachState(ctx, r, func(_ string, e *entry) error {
			cu := v.derive(e.st, at, pop)
			out.Customers++
			count(out.By[ByStage], cu.Stage)
			count(out.By[ByHighestStage], cu.HighestStage)
			count(out.By[ByChurn], cu.Churn)
			for _, f := range cu.Flags {
				count(out.By[ByFlag], f)
			}
			for _, t := range cu.Types {
				count(out.By[ByType], t)
			}
			for _, s := range cu.Segments {
				count(out.By[ByRule], s)
			}
			if len(e.st.Stores) == 0 {
				count(out.By[ByStore], NoStore)
			}
			for _, s := range e.st.Stores {
				count(out.By[ByStore], s)
			}
			count(out.By[ByCluster], clusterOf(cm, cu))
			if pop.CLV != nil {
				count(out.By[ByCLV], customer.CLVBand(cu.CLV))
			}
			if cu.RFM != nil {
				count(out.By[ByRFM], cu.RFM.Segment)
			} else {
				count(out.By[ByRFM], NoRFM)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func count(m map[string]int, k string) { m[k]++ }

// ErrNoCLV is returned by Segments by ByCLV when no CLV model is stored
// (journey clv fit).
var ErrNoCLV = errors.New("no CLV model: run journey clv fit first")

// NPS returns the population Net Promoter Score (−100..100) by "store" or
// by "month" ("2006-01", UTC), or "overall" (one key, "overall"), over the
// answers given up to asOf (zero: now). The store of an answer is the one
// NPSAggregator documents.
func (v *Views) NPS(ctx context.Context, by string, asOf time.Time) (map[string]float64, error) {
	res, err := v.NPSResult(ctx, asOf)
	if err != nil {
		return nil, err
	}
	var src map[string]customer.NPS
	switch by {
	case "store":
		src = res.ByStore
	case "month":
		src = res.ByMonth
	case "overall", "":
		src = map[string]customer.NPS{"overall": res.Overall}
	default:
		return nil, fmt.Errorf("%w: NPS by %q (want store, month or overall)", ErrUnknownSegmentation, by)
	}
	out := make(map[string]float64, len(src))
	for k, n := range src {
		if n.Responses > 0 {
			out[k] = n.Score
		}
	}
	return out, nil
}

// NPSResult returns the full NPS tallies (responses, promoters, passives,
// detractors, score) overall, by store and by month, at asOf (zero: now).
func (v *Views) NPSResult(ctx context.Context, asOf time.Time) (customer.NPSResult, error) {
	var agg customer.NPSAggregator
	err := v.withPopulation(ctx, asOf, false, func(r pebble.Reader, at time.Time, _ *customer.Population) error {
		agg.AsOf = at
		return forEachState(ctx, r, func(_ string, e *entry) error {
			agg.Add(e.st)
			return nil
		})
	})
	return agg.Result(), err
}

// withPopulation calls fn with the customer states and the population at
// asOf (zero: now): the stored states when no stored event is later than
// the instant, else a scratch fold of the log up to it (statesAt). As of
// an instant the population is populationAt's snapshot (computed from
// these states when the cache has none), the one one-customer answers
// use; now (Options.Clock), the stored median and, with rfm, the
// quintiles of the states now. Without rfm the population carries no RFM quintiles.
func (v *Views) withPopulation(ctx context.Context, asOf time.Time, rfm bool, fn func(r pebble.Reader, at time.Time, pop *customer.Population) error) error {
	d, err := v.acquire()
	if err != nil {
		return err
	}
	defer d.use.RUnlock()
	if asOf.IsZero() {
		now := v.now().UTC()
		pop := d.meta.Load().pop
		return v.statesAt(ctx, d, now, func(r pebble.Reader) error {
			if rfm {
				if pop.RFM, err = rfmScorer(ctx, r, now); err != nil {
					return err
				}
			}
			return fn(r, now, &pop)
		})
	}
	asOf = asOf.UTC()
	return v.statesAt(ctx, d, asOf, func(r pebble.Reader) error {
		pop, err := v.populationAt(ctx, d, asOf, r)
		if err != nil {
			return err
		}
		if !rfm {
			pop.RFM = nil
		}
		return fn(r, asOf, &pop)
	})
}

// rfmScorer builds the RFM quintiles of the states of r at asOf.
func rfmScorer(ctx context.Context, r pebble.Reader, asOf time.Time) (*customer.RFMScorer, error) {
	var ins []customer.RFMInput
	err := forEachState(ctx, r, func(_ string, e *entry) error {
		if in, ok := customer.RFMInputOf(e.st, asOf); ok {
			ins = append(ins, in)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return customer.NewRFMScorer(ins), nil
}
