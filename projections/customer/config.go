package customer

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync/atomic"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/internal/jsonerr"
)

// Config holds the configurable rules: satisfaction weights and half-life,
// the home country, the churn fallback gap, the BG/NBD forecast horizon and
// the CEL rule segments. A nil *Config means the defaults, and so does each
// zero field of a Config (a nil Satisfaction means DefaultSatisfaction).
// Everything here is applied at read time (Derive); none of it changes the
// folded State, so no rebuild is needed after a change.
//
// A Config must not be copied after first use (it caches the compiled rules).
type Config struct {
	// Satisfaction are the weights of the satisfaction score (nil: defaults).
	Satisfaction *SatisfactionConfig `json:"satisfaction,omitempty"`
	// HomeCountry is the ISO 3166 alpha-2 country of the business: a
	// customer whose profile names another is "foreign". Default "GB" (the
	// home of the bundled UCI Online Retail data).
	HomeCountry string `json:"home_country,omitempty"`
	// FallbackGapDays is the expected inter-purchase gap when neither the
	// customer (fewer than two purchase days) nor the population
	// (Population.MedianGap zero) gives one. Default 90.
	FallbackGapDays float64 `json:"fallback_gap_days,omitempty"`
	// ForecastDays is the "next period" of Answer.ExpectedNext, in days
	// (converted to the BG/NBD fit's unit). Default 90.
	ForecastDays float64 `json:"forecast_days,omitempty"`
	// Rules are user-defined segments: name → CEL expression over
	// `customer` (see RULES.md) that must evaluate to a bool.
	Rules map[string]string `json:"rules,omitempty"`

	rules atomic.Pointer[ruleSet]
}

// Observation is a signal's observed satisfaction Value (0–100) and the
// Weight it carries in the score.
type Observation struct {
	Value  float64 `json:"value"`
	Weight float64 `json:"weight"`
}

// SatisfactionConfig are the parameters of the satisfaction score
//
//	score = (Σ wᵢ·oᵢ·dᵢ + w₀·o₀) / (Σ wᵢ·dᵢ + w₀),  dᵢ = 0.5^(ageᵢ / half-life)
//
// over every signal i (age = as-of − event time), with the neutral prior
// (o₀, w₀) which does not decay. CSAT c is observed as 25·(c−1) and NPS n as
// 10·n; the other signals have a configured value.
type SatisfactionConfig struct {
	HalfLifeDays       float64     `json:"half_life_days"`
	Prior              Observation `json:"prior"`
	CSATWeight         float64     `json:"csat_weight"`
	NPSWeight          float64     `json:"nps_weight"`
	ComplaintLow       Observation `json:"complaint_low"`
	ComplaintMedium    Observation `json:"complaint_medium"`
	ComplaintHigh      Observation `json:"complaint_high"`
	ComplaintEscalated Observation `json:"complaint_escalated"`
	Resolved           Observation `json:"resolved"`
	Compensated        Observation `json:"compensated"`
	Rejected           Observation `json:"rejected"`
	Return             Observation `json:"return"`
	Purchase           Observation `json:"purchase"`
}

// Defaults.
const (
	DefaultHomeCountry     = "GB"
	DefaultFallbackGapDays = 90
	DefaultForecastDays    = 90
)

// DefaultSatisfaction returns the default satisfaction parameters of the
// design.
func DefaultSatisfaction() *SatisfactionConfig {
	return &SatisfactionConfig{
		HalfLifeDays:       90,
		Prior:              Observation{50, 0.5},
		CSATWeight:         1,
		NPSWeight:          1,
		ComplaintLow:       Observation{0, 0.5},
		ComplaintMedium:    Observation{0, 1},
		ComplaintHigh:      Observation{0, 2},
		ComplaintEscalated: Observation{0, 3},
		Resolved:           Observation{70, 0.5},
		Compensated:        Observation{80, 0.75},
		Rejected:           Observation{10, 0.5},
		Return:             Observation{30, 0.25},
		Purchase:           Observation{75, 0.1},
	}
}

var defaultSatisfaction = DefaultSatisfaction()

// DefaultConfig returns a Config with every default spelled out.
func DefaultConfig() *Config {
	return &Config{
		Satisfaction:    DefaultSatisfaction(),
		HomeCountry:     DefaultHomeCountry,
		FallbackGapDays: DefaultFallbackGapDays,
		ForecastDays:    DefaultForecastDays,
	}
}

// LoadConfig reads a JSON config file. Fields absent from the file keep
// their defaults (a partial "satisfaction" object overrides only the
// fields it names); unknown fields are an error. The result is validated
// and its rules compiled: every problem is reported, joined.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig is LoadConfig on the bytes of a file.
func ParseConfig(b []byte) (*Config, error) {
	c := DefaultConfig()
	if err := json.Unmarshal(b, c, json.RejectUnknownMembers(true)); err != nil {
		return nil, errors.New(jsonerr.Describe(err))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := c.Compile(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate reports every invalid field at once.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	var errs []error
	if c.HomeCountry != "" && len(c.HomeCountry) != 2 {
		errs = append(errs, fmt.Errorf("home_country %q: want an ISO 3166 alpha-2 code", c.HomeCountry))
	}
	if c.FallbackGapDays < 0 || math.IsNaN(c.FallbackGapDays) {
		errs = append(errs, fmt.Errorf("fallback_gap_days %v: must be ≥ 0", c.FallbackGapDays))
	}
	if c.ForecastDays < 0 || math.IsNaN(c.ForecastDays) {
		errs = append(errs, fmt.Errorf("forecast_days %v: must be ≥ 0", c.ForecastDays))
	}
	if sc := c.Satisfaction; sc != nil {
		if !(sc.HalfLifeDays > 0) || math.IsInf(sc.HalfLifeDays, 0) {
			errs = append(errs, fmt.Errorf("satisfaction.half_life_days %v: must be > 0", sc.HalfLifeDays))
		}
		if !(sc.Prior.Weight > 0) {
			errs = append(errs, fmt.Errorf("satisfaction.prior.weight %v: must be > 0", sc.Prior.Weight))
		}
		check := func(name string, o Observation) {
			if !(o.Value >= 0 && o.Value <= 100) {
				errs = append(errs, fmt.Errorf("satisfaction.%s.value %v: must be in [0, 100]", name, o.Value))
			}
			if !(o.Weight >= 0) || math.IsInf(o.Weight, 0) {
				errs = append(errs, fmt.Errorf("satisfaction.%s.weight %v: must be ≥ 0", name, o.Weight))
			}
		}
		check("prior", sc.Prior)
		check("csat_weight", Observation{0, sc.CSATWeight})
		check("nps_weight", Observation{0, sc.NPSWeight})
		check("complaint_low", sc.ComplaintLow)
		check("complaint_medium", sc.ComplaintMedium)
		check("complaint_high", sc.ComplaintHigh)
		check("complaint_escalated", sc.ComplaintEscalated)
		check("resolved", sc.Resolved)
		check("compensated", sc.Compensated)
		check("rejected", sc.Rejected)
		check("return", sc.Return)
		check("purchase", sc.Purchase)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %w", errors.Join(errs...))
	}
	return nil
}

func (c *Config) satisfaction() *SatisfactionConfig {
	if c == nil || c.Satisfaction == nil {
		return defaultSatisfaction
	}
	return c.Satisfaction
}

func (c *Config) homeCountry() string {
	if c == nil || c.HomeCountry == "" {
		return DefaultHomeCountry
	}
	return c.HomeCountry
}

func (c *Config) fallbackGapDays() float64 {
	if c == nil || c.FallbackGapDays == 0 {
		return DefaultFallbackGapDays
	}
	return c.FallbackGapDays
}

func (c *Config) forecastDays() float64 {
	if c == nil || c.ForecastDays == 0 {
		return DefaultForecastDays
	}
	return c.ForecastDays
}
