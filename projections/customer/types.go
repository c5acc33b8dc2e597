package customer

import "time"

// Lifecycle stages (Answer.Stage). HighestStage only ever takes the first
// four, in this order: prospect → new → repeat → loyal.
const (
	StageProspect    = "prospect"    // no purchase yet
	StageNew         = "new"         // one purchase
	StageRepeat      = "repeat"      // two or more purchases
	StageLoyal       = "loyal"       // ≥ 3 purchase days in the trailing 365 days and satisfaction ≥ 60
	StageAtRisk      = "at_risk"     // churn status at_risk
	StageChurned     = "churned"     // churn status churned
	StageReactivated = "reactivated" // bought again after having been churned, for 90 days
)

// Flags (Answer.Flags), beside the stage.
const (
	FlagAdvocate  = "advocate"  // last NPS ≥ 9, or made a referral
	FlagDetractor = "detractor" // last NPS ≤ 6, or a complaint is open
)

// Customer types (Answer.Types): the seeds' twelve types, as tags. Their
// rules are in RULES.md and on deriveTypes.
const (
	TypeProspect      = "prospect"
	TypeWindowShopper = "window_shopper"
	TypeCommitted     = "committed"
	TypePromotional   = "promotional"
	TypeChurning      = "churning"
	TypeNew           = "new"
	TypeImpulse       = "impulse"
	TypeAngry         = "angry"
	TypeLoyal         = "loyal"
	TypeBrandAdvocate = "brand_advocate"
	TypeReferred      = "referred"
	TypeForeign       = "foreign"
)

// Churn statuses (Answer.Churn).
const (
	ChurnActive  = "active"
	ChurnAtRisk  = "at_risk"
	ChurnChurned = "churned"
)

// Stages lists every lifecycle stage, in the order of the design.
func Stages() []string {
	return []string{StageProspect, StageNew, StageRepeat, StageLoyal, StageAtRisk, StageChurned, StageReactivated}
}

// Types lists every customer type, in the order of the design.
func Types() []string {
	return []string{TypeProspect, TypeWindowShopper, TypeCommitted, TypePromotional, TypeChurning, TypeNew,
		TypeImpulse, TypeAngry, TypeLoyal, TypeBrandAdvocate, TypeReferred, TypeForeign}
}

// Population holds the population-level facts a customer's answer depends
// on (median inter-purchase gap; the BG/NBD fit when one was made; the RFM
// quintile boundaries when the caller built them).
type Population struct {
	// MedianGap is the median of the customers' mean inter-purchase gaps; it
	// is the expected gap of a customer with fewer than two purchase days.
	// Zero means unknown (Config.FallbackGapDays is used).
	MedianGap time.Duration `json:"median_gap"`
	// BG/NBD fit, when `journey churn fit` was run (nil otherwise).
	Churn *ChurnFit `json:"churn_fit,omitempty"`
	// CLV model, when `journey clv fit` was run (nil otherwise).
	CLV *CLVFit `json:"clv_fit,omitempty"`
	// RFM scores customers against the population (nil: no RFM answer).
	// Build it with NewRFMScorer from every customer's RFMInputOf.
	RFM *RFMScorer `json:"-"`
}

// ChurnFit is a stored transaction-model fit of `journey churn fit`:
// BG/NBD (projections/bgnbd; Model "bgnbd", or "" as stored before
// Pareto/NBD fits were kept) or Pareto/NBD (projections/paretonbd; Model
// "pareto-nbd", with S and Beta in place of A and B).
type ChurnFit struct {
	Model          string `json:",omitempty"`
	R, Alpha, A, B float64
	S, Beta        float64   `json:",omitzero"`
	Unit           string    // "week" or "day" ("" means week)
	AsOf           time.Time // calibration end
	LogLikelihood  float64
	Customers      int
}

// The models of ChurnFit.Model.
const (
	ModelBGNBD     = "bgnbd"
	ModelParetoNBD = "pareto-nbd"
)

// ModelName is the fit's model, "bgnbd" or "pareto-nbd" (an empty Model
// is BG/NBD).
func (f *ChurnFit) ModelName() string {
	if f.Model == ModelParetoNBD {
		return ModelParetoNBD
	}
	return ModelBGNBD
}

// UnitDays is the length of the fit's time unit in days (7 for "week" or
// "", 1 for "day").
func (f *ChurnFit) UnitDays() float64 {
	if f.Unit == "day" {
		return 1
	}
	return 7
}

// Answer is the full answer about one customer at an instant: the state
// plus everything derived from it at AsOf. It marshals to the JSON of
// `journey customer --json`.
type Answer struct {
	State        *State    `json:"state"`
	AsOf         time.Time `json:"as_of"`
	Stage        string    `json:"stage"`
	HighestStage string    `json:"highest_stage"`
	Flags        []string  `json:"flags"`
	Types        []string  `json:"types"`
	// Satisfaction is the decay-weighted score 0–100 (see Config.Satisfaction).
	Satisfaction float64 `json:"satisfaction"`
	Churn        string  `json:"churn"`
	// ExpectedGapDays is the gap the churn rule measured recency against:
	// the customer's mean inter-purchase gap, else the population median,
	// else Config.FallbackGapDays. Zero for a prospect.
	ExpectedGapDays float64 `json:"expected_gap_days,omitzero"`
	// RecencyDays is the time since the last purchase (nil for a prospect).
	RecencyDays *float64 `json:"recency_days,omitempty"`
	// PAlive and ExpectedNext come from the stored churn fit (nil without
	// one), BG/NBD or Pareto/NBD as ChurnModel says ("bgnbd" or
	// "pareto-nbd"); the next period is Config.ForecastDays (default 90
	// days).
	PAlive       *float64 `json:"p_alive,omitempty"`
	ExpectedNext *float64 `json:"expected_purchases_next_period,omitempty"`
	ChurnModel   string   `json:"churn_model,omitempty"`
	// RFM is the customer's RFM score against Population.RFM (nil without
	// it, and for a prospect).
	RFM *RFMScore `json:"rfm,omitempty"`
	// CLV is the expected order value and discounted CLV under the stored
	// CLV model (Config.CLV; nil without one or without a purchase in its
	// currency).
	CLV      *CLVAnswer `json:"clv,omitempty"`
	Segments []string   `json:"segments,omitempty"` // CEL rule segments that match, by name
	// Cluster is the customer's cluster under the stored cluster model
	// (journey clusters fit), set in exports of every customer ("" without
	// a model or without the features).
	Cluster string `json:"cluster,omitempty"`
	// Actions are the reactions asked for this customer, pending and done
	// (State.Actions; nil when none).
	Actions []Action `json:"actions,omitempty"`
}

// HasFlag reports whether the customer carries flag f.
func (c *Answer) HasFlag(f string) bool { return contains(c.Flags, f) }

// HasType reports whether the customer carries type t.
func (c *Answer) HasType(t string) bool { return contains(c.Types, t) }

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
