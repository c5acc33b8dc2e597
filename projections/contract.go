package projections

// PROVISIONAL CONTRACT between the customer fold (state.go & co.) and the
// views storage (views.go & co.). The fold work replaces these bodies
// (moving them to their own files), keeping names and meanings.

import (
	"time"

	journey "github.com/journey-cdp/journey"
)

// State is one customer's folded facts: everything the derived answers
// (stage, flags, types, satisfaction, churn) need, and nothing that depends
// on "now". It is built by Apply in event-time order (time, then seq).
type State struct {
	Customer string `json:"customer"`
	LastSeq  uint64 `json:"last_seq"` // highest log sequence folded in
	// LastTime is the event time of the newest event folded in; an event
	// older than it is late and makes the customer re-fold from history.
	LastTime time.Time `json:"last_time"`
	// ... the fold work adds the rest (counters, money per currency,
	// first/last seen, gaps, complaints, feedback, referrals, traits,
	// satisfaction observations, purchase days, store ids).
}

// NewState returns the empty state of a customer.
func NewState(customer string) *State { return &State{Customer: customer} }

// Apply folds one event into the state. Events must come in event-time
// order (time, then seq); Apply is deterministic.
func (s *State) Apply(ev *journey.Event, seq uint64) { panic("TODO") }

// MarshalBinary encodes the state for the views database.
func (s *State) MarshalBinary() ([]byte, error) { panic("TODO") }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (s *State) UnmarshalBinary(b []byte) error { panic("TODO") }

// Population holds the population-level facts a customer's answer depends
// on (median inter-purchase gap; the BG/NBD fit when one was made).
type Population struct {
	MedianGap time.Duration `json:"median_gap"`
	// BG/NBD fit, when `journey churn fit` was run (nil otherwise).
	Churn *ChurnFit `json:"churn_fit,omitempty"`
}

// ChurnFit is a stored BG/NBD fit (see projections/bgnbd).
type ChurnFit struct {
	R, Alpha, A, B float64
	Unit           string    // "week" or "day"
	AsOf           time.Time // calibration end
	LogLikelihood  float64
	Customers      int
}

// Config holds the configurable rules: satisfaction weights and half-life,
// CEL rule segments. Nil means defaults.
type Config struct{}

// Customer is the full answer about one customer at an instant: the state
// plus everything derived from it at AsOf.
type Customer struct {
	State        *State    `json:"state"`
	AsOf         time.Time `json:"as_of"`
	Stage        string    `json:"stage"`
	HighestStage string    `json:"highest_stage"`
	Flags        []string  `json:"flags"`
	Types        []string  `json:"types"`
	Satisfaction float64   `json:"satisfaction"`
	Churn        string    `json:"churn"`
	PAlive       *float64  `json:"p_alive,omitempty"`
	ExpectedNext *float64  `json:"expected_purchases_next_period,omitempty"`
	Segments     []string  `json:"segments,omitempty"` // CEL rule segments that match
}

// Derive answers about a customer at asOf from its state and the population.
func (c *Config) Derive(s *State, asOf time.Time, pop *Population) *Customer { panic("TODO") }
