package reactions

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
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

// conditions checks the policy (check) and compiles its conditions; a
// mistake is an error naming the member and the rule.
func (c *Config) conditions() (*customer.Config, error) {
	cc, err := c.check()
	if err != nil {
		return nil, fmt.Errorf("reactions: %w", err)
	}
	return cc, nil
}

// MaxPerSecond bounds a policy's per_second (and 1/MinPerSecond its
// interval, about a day): beyond them the pace's interval is no longer a
// duration (it overflowed to "unpaced" before).
const (
	MaxPerSecond = 1_000_000
	MinPerSecond = 0.00001
)

// placeholder matches a {name} of a template.
var placeholder = regexp.MustCompile(`\{[A-Za-z_][A-Za-z0-9_]*\}`)

// check refuses the mistakes of a policy, naming the member and the rule
// (no package prefix: LoadConfig names the file, Open "reactions"): a
// per_second out of range, an SLA that is not positive, a template that
// is not one of a reason or kind or has a placeholder other than
// {customer} (and {holiday} in "holiday"), a holiday's bad or repeated
// date; and it compiles the policies' conditions (and the holidays') as
// CEL rules of a customer.Config, named by kind or "holiday:<date>", a
// condition that does not compile naming its member.
func (c *Config) check() (*customer.Config, error) {
	rules := map[string]string{}
	member := map[string]string{} // rule → the member it comes from
	for _, k := range Kinds() {
		p := c.policy(k)
		if ps := p.PerSecond; ps != 0 && !(ps >= MinPerSecond && ps <= MaxPerSecond) {
			return nil, fmt.Errorf("%s.per_second: must be from %v to %v (0 or absent: unpaced), got %v", k, MinPerSecond, MaxPerSecond, ps)
		}
		if w := strings.TrimSpace(p.When); w != "" {
			rules[k] = w
			member[k] = k + ".when"
		}
	}
	dates := map[string]int{}
	for i, h := range c.Holidays {
		if _, err := time.Parse(time.DateOnly, h.Date); err != nil {
			return nil, fmt.Errorf("holidays[%d].date %q: must be YYYY-MM-DD", i, h.Date)
		}
		if j, ok := dates[h.Date]; ok {
			return nil, fmt.Errorf("holidays[%d].date %q: already holidays[%d]: one entry per day", i, h.Date, j)
		}
		dates[h.Date] = i
		rules["holiday:"+h.Date] = cmpOr(strings.TrimSpace(h.When), DefaultHolidayWhen)
		member["holiday:"+h.Date] = fmt.Sprintf("holidays[%d].when", i)
	}
	for k, d := range c.SLA {
		if d <= 0 {
			return nil, fmt.Errorf("sla.%s: must be positive, got %v", k, d)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Templates)) {
		if _, ok := DefaultTemplates[k]; !ok {
			return nil, fmt.Errorf("templates.%s: not a template (%s)", k, strings.Join(slices.Sorted(maps.Keys(DefaultTemplates)), ", "))
		}
		for _, ph := range placeholder.FindAllString(c.Templates[k], -1) {
			if ph != "{customer}" && (ph != "{holiday}" || k != "holiday") {
				allowed := "{customer}"
				if k == "holiday" {
					allowed += " and {holiday}"
				}
				return nil, fmt.Errorf("templates.%s: unknown placeholder %s (this template has %s)", k, ph, allowed)
			}
		}
	}
	cc := &customer.Config{Rules: rules}
	if err := cc.Compile(); err != nil {
		// The first rule that failed, on one line: its member, and the
		// first line of what CEL says (the caret drawing below it is
		// dropped).
		var re *customer.RuleError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%s: %w", cmpOr(member[re.Rule], re.Rule), re.Err)
		}
		return nil, fmt.Errorf("condition (the when of a policy or holiday): %w", err)
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
	bad := func(err error) (Config, error) { return Config{}, fmt.Errorf("reactions config %s: %w", path, err) }
	if c.ThankYouEvery, err = parseDuration("thank_you_every", f.ThankYouEvery); err != nil {
		return bad(err)
	}
	if c.OverdueAfter, err = parseDuration("overdue_after", f.OverdueAfter); err != nil {
		return bad(err)
	}
	for _, k := range slices.Sorted(maps.Keys(f.SLA)) {
		v := f.SLA[k]
		if k != "low" && k != "medium" && k != "high" {
			return bad(fmt.Errorf("sla.%s: not a severity (low, medium, high)", k))
		}
		d, err := parseDuration("sla."+k, v)
		if err != nil {
			return bad(err)
		}
		if c.SLA == nil {
			c.SLA = map[string]time.Duration{}
		}
		c.SLA[k] = d
	}
	d := c.withDefaults()
	if _, err := d.check(); err != nil {
		return bad(err)
	}
	return c, nil
}

// parseDuration reads "36h", "90m" or "7d" ("" is zero: the default).
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		// A number of days beyond a Duration (about 106,000 days, or
		// Inf) would convert to a negative one, one below a nanosecond to
		// zero (the default): refused.
		if f, err := strconv.ParseFloat(n, 64); err == nil && f > 0 && f*float64(24*time.Hour) < math.MaxInt64 {
			if d := time.Duration(f * float64(24*time.Hour)); d > 0 {
				return d, nil
			}
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%s: %q is not a positive duration such as \"36h\" or \"7d\"", field, s)
}
