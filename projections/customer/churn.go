package customer

import (
	"math"
	"time"

	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/paretonbd"
)

// Churn thresholds: at_risk past AtRiskGaps × the expected gap, churned past
// ChurnedGaps × the expected gap or MaxRecency, or when the BG/NBD p_alive
// is below MinPAlive.
const (
	AtRiskGaps  = 2
	ChurnedGaps = 4
	MaxRecency  = 365 * 24 * time.Hour
	MinPAlive   = 0.2
)

// ChurnAnswer is the churn part of a customer's answer.
type ChurnAnswer struct {
	Status       string   // active, at_risk, churned
	ExpectedGap  float64  // days; 0 for a prospect
	RecencyDays  *float64 // nil for a prospect
	PAlive       *float64 // nil without a churn fit
	ExpectedNext *float64 // nil without a churn fit
	Model        string   // the fit's model (ChurnFit.ModelName); "" without one
}

// transactionModel is a fitted BG/NBD or Pareto/NBD model.
type transactionModel interface {
	Valid() bool
	PAlive(c bgnbd.Customer) float64
	ConditionalExpected(t float64, c bgnbd.Customer) float64
}

// predictor returns the fitted model of f.
func (f *ChurnFit) predictor() transactionModel {
	if f.ModelName() == ModelParetoNBD {
		return paretonbd.Params{R: f.R, Alpha: f.Alpha, S: f.S, Beta: f.Beta}
	}
	return bgnbd.Params{R: f.R, Alpha: f.Alpha, A: f.A, B: f.B}
}

// Churn returns the churn status of s at asOf, by recency against the
// customer's own rhythm:
//
//   - expected gap = the mean gap between the customer's purchase days (≥ 2
//     purchase days), else pop.MedianGap, else Config.FallbackGapDays;
//   - recency = asOf − last purchase; at_risk when recency > 2 × expected
//     gap; churned when recency > 4 × expected gap or > 365 days;
//   - with a churn fit (pop.Churn, BG/NBD or Pareto/NBD): p_alive and the
//     conditional expected purchases in the next Config.ForecastDays, from
//     the purchase days up to asOf's day (bgnbd.FromPurchaseDays); churned
//     also when p_alive < 0.2.
//
// A prospect (no purchase) is active until 365 days after they were last
// seen, then churned.
func (c *Config) Churn(s *State, asOf time.Time, pop *Population) ChurnAnswer {
	if s.Purchases == 0 || s.LastPurchase.IsZero() {
		if !s.LastSeen.IsZero() && asOf.Sub(s.LastSeen) > MaxRecency {
			return ChurnAnswer{Status: ChurnChurned}
		}
		return ChurnAnswer{Status: ChurnActive}
	}
	var a ChurnAnswer
	gap, ok := s.MeanGapDays()
	if !ok {
		if pop != nil && pop.MedianGap > 0 {
			gap = pop.MedianGap.Hours() / 24
		} else {
			gap = c.fallbackGapDays()
		}
	}
	a.ExpectedGap = gap
	rec := asOf.Sub(s.LastPurchase)
	recDays := rec.Hours() / 24
	a.RecencyDays = &recDays
	switch {
	case rec > MaxRecency || recDays > ChurnedGaps*gap:
		a.Status = ChurnChurned
	case recDays > AtRiskGaps*gap:
		a.Status = ChurnAtRisk
	default:
		a.Status = ChurnActive
	}
	if pop != nil && pop.Churn != nil {
		if p := pop.Churn.predictor(); p.Valid() {
			unit := pop.Churn.UnitDays()
			bc := bgnbd.FromPurchaseDays(s.PurchaseDays(asOf), bgnbd.Day(asOf), unit)
			pa := p.PAlive(bc)
			en := p.ConditionalExpected(c.forecastDays()/unit, bc)
			a.Model = pop.Churn.ModelName()
			// A degenerate fit can make a prediction NaN or ±Inf (BG/NBD
			// at a = 1, or a series that does not converge at extreme
			// parameters): such a value is left out, as JSON has no NaN.
			if finite(pa) {
				a.PAlive = &pa
			}
			if finite(en) {
				a.ExpectedNext = &en
			}
			if pa < MinPAlive {
				a.Status = ChurnChurned
			}
		}
	}
	return a
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
