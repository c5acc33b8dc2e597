package reactions

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/journey-cdp/journey/internal/jsonerr"
	"github.com/journey-cdp/journey/projections/customer"
)

// The action kinds, each published on journey.actions.<kind>.
const (
	KindThankYou   = "thank_you"
	KindWinback    = "winback"
	KindEscalation = "escalation"
)

// Kinds lists the action kinds.
func Kinds() []string { return []string{KindThankYou, KindWinback, KindEscalation} }

// Policy is one reaction's switch, condition and pacing.
type Policy struct {
	// Off switches the reaction off: nothing of this kind is decided.
	Off bool `json:"off,omitempty"`
	// When is a CEL condition over the customer's answer (the variables of
	// the rule segments, projections/customer/RULES.md), e.g.
	// `customer.kind == "business"` or `customer.rfm_segment == "champions"`;
	// "" always holds. It is evaluated on the customer's current answer when
	// the action is decided.
	When string `json:"when,omitempty"`
	// PerSecond paces the dispatch of this kind (0: unpaced): decided
	// actions wait in the log, none is dropped.
	PerSecond float64 `json:"per_second,omitempty"`
	// Channel is the suggested channel of the request ("" default per kind).
	Channel string `json:"channel,omitempty"`
}

// Holiday is one day of the calendar on which active customers are thanked.
type Holiday struct {
	Date string `json:"date"` // YYYY-MM-DD (UTC)
	Name string `json:"name"`
	// When overrides DefaultHolidayWhen for this holiday ("" keeps it).
	When string `json:"when,omitempty"`
}

// DefaultHolidayWhen: who is thanked on a holiday — customers who bought
// and are still active (a thank-you to a lapsed customer is the win-back's
// job, with a report).
const DefaultHolidayWhen = `customer.purchases > 0 && customer.churn == "active"`

// Config is the reactions' policy. Zero fields take the defaults of
// DefaultConfig (REACTIONS.md explains them).
type Config struct {
	ThankYou   Policy `json:"thank_you"`
	Winback    Policy `json:"winback"`
	Escalation Policy `json:"escalation"`

	// ThankYouEvery is the least time between two thank-yous of one
	// customer (default 7 days); a resolved complaint's thank-you is not
	// held back by it.
	ThankYouEvery time.Duration `json:"-"`
	// SLA is how long a complaint may stay open, by severity (defaults:
	// high 24 h, medium 72 h, low 7 days).
	SLA map[string]time.Duration `json:"-"`
	// Holidays is the calendar of thank-you days (default none).
	Holidays []Holiday `json:"holidays,omitempty"`
	// Templates are the message texts per thank-you reason (and "winback",
	// "escalation"); {customer} and {holiday} are replaced.
	Templates map[string]string `json:"templates,omitempty"`
	// OverdueAfter is how long an asked action may stay unconfirmed before
	// /metrics counts it overdue (default 48 h).
	OverdueAfter time.Duration `json:"-"`

	// DispatchDelay is for tests only (not in the policy file; serve's
	// hidden --reactions-dispatch-delay): the dispatcher waits this long
	// before each publish, so that a test can kill the process while
	// actions are decided in the log but not yet dispatched. Zero (always,
	// in production): no wait.
	DispatchDelay time.Duration `json:"-"`
}

// The defaults.
var (
	DefaultThankYouEvery = 7 * 24 * time.Hour
	DefaultOverdueAfter  = 48 * time.Hour
	DefaultSLA           = map[string]time.Duration{"high": 24 * time.Hour, "medium": 72 * time.Hour, "low": 7 * 24 * time.Hour}
	DefaultTemplates     = map[string]string{
		"repeat_purchase":    "Thank you for shopping with us again, {customer}.",
		"feedback":           "Thank you for your kind words, {customer}.",
		"complaint_resolved": "Thank you for your patience while we put things right, {customer}.",
		"referral":           "Thank you for recommending us to a friend, {customer}.",
		"holiday":            "Happy {holiday}, {customer}, and thank you for being with us.",
		KindWinback:          "We miss you, {customer}: here is what we can do for you.",
		KindEscalation:       "Complaint of {customer} is past its SLA: please take it over.",
	}
	defaultChannel = map[string]string{KindThankYou: "email", KindWinback: "phone", KindEscalation: "support"}
)

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.ThankYouEvery == 0 {
		c.ThankYouEvery = DefaultThankYouEvery
	}
	if c.OverdueAfter == 0 {
		c.OverdueAfter = DefaultOverdueAfter
	}
	sla := make(map[string]time.Duration, 3)
	for k, v := range DefaultSLA {
		sla[k] = v
	}
	for k, v := range c.SLA {
		sla[k] = v
	}
	c.SLA = sla
	t := make(map[string]string, len(DefaultTemplates))
	for k, v := range DefaultTemplates {
		t[k] = v
	}
	for k, v := range c.Templates {
		t[k] = v
	}
	c.Templates = t
	for _, k := range Kinds() {
		p := c.policy(k)
		if p.Channel == "" {
			p.Channel = defaultChannel[k]
		}
	}
	return c
}

func (c *Config) policy(kind string) *Policy {
	switch kind {
	case KindThankYou:
		return &c.ThankYou
	case KindWinback:
		return &c.Winback
	default:
		return &c.Escalation
	}
}

// conditions compiles the policies' conditions (and the holidays') as CEL
// rules of a customer.Config, named by kind or "holiday:<date>". A
// condition that does not compile is an error naming the field.
func (c *Config) conditions() (*customer.Config, error) {
	rules := map[string]string{}
	for _, k := range Kinds() {
		if w := strings.TrimSpace(c.policy(k).When); w != "" {
			rules[k] = w
		}
	}
	for i, h := range c.Holidays {
		if _, err := time.Parse(time.DateOnly, h.Date); err != nil {
			return nil, fmt.Errorf("reactions: holidays[%d].date %q: must be YYYY-MM-DD", i, h.Date)
		}
		rules["holiday:"+h.Date] = cmpOr(strings.TrimSpace(h.When), DefaultHolidayWhen)
	}
	for k, d := range c.SLA {
		if d <= 0 {
			return nil, fmt.Errorf("reactions: sla.%s: must be positive, got %v", k, d)
		}
	}
	cc := &customer.Config{Rules: rules}
	if err := cc.Compile(); err != nil {
		return nil, fmt.Errorf("reactions: condition (the when of a policy or holiday): %w", err)
	}
	return cc, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// message renders the template of key.
func (c *Config) message(key, customerID, holiday string) string {
	return strings.NewReplacer("{customer}", customerID, "{holiday}", holiday).Replace(c.Templates[key])
}

// LoadConfig reads a reactions policy file: JSON of Config, its durations
// as strings ("36h", "90m", or days: "7d"), e.g.
//
//	{"thank_you": {"when": "customer.kind == \"business\""},
//	 "winback": {"off": true}, "thank_you_every": "14d",
//	 "sla": {"high": "12h"}, "holidays": [{"date": "2025-12-25", "name": "Christmas"}]}
//
// Unknown fields are refused, naming them.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reactions config: %w", err)
	}
	var f struct {
		Config
		ThankYouEvery string            `json:"thank_you_every,omitempty"`
		SLA           map[string]string `json:"sla,omitempty"`
		OverdueAfter  string            `json:"overdue_after,omitempty"`
	}
	if err := json.Unmarshal(b, &f, json.RejectUnknownMembers(true)); err != nil {
		return Config{}, fmt.Errorf("reactions config %s: %s", path, jsonerr.Describe(err))
	}
	c := f.Config
	if c.ThankYouEvery, err = parseDuration("thank_you_every", f.ThankYouEvery); err != nil {
		return Config{}, err
	}
	if c.OverdueAfter, err = parseDuration("overdue_after", f.OverdueAfter); err != nil {
		return Config{}, err
	}
	for k, v := range f.SLA {
		if k != "low" && k != "medium" && k != "high" {
			return Config{}, fmt.Errorf("reactions config: sla.%s: not a severity (low, medium, high)", k)
		}
		d, err := parseDuration("sla."+k, v)
		if err != nil {
			return Config{}, err
		}
		if c.SLA == nil {
			c.SLA = map[string]time.Duration{}
		}
		c.SLA[k] = d
	}
	d := c.withDefaults()
	if _, err := d.conditions(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseDuration reads "36h", "90m" or "7d" ("" is zero: the default).
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if f, err := strconv.ParseFloat(n, 64); err == nil && f > 0 {
			return time.Duration(f * float64(24*time.Hour)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("reactions config: %s: %q is not a positive duration such as \"36h\" or \"7d\"", field, s)
}
