package customer

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// ruleVar is one variable a rule may use: its CEL name (always
// "customer.<field>"), type and value.
type ruleVar struct {
	name  string
	typ   *cel.Type
	value func(cu *Answer) any
}

func optFloat(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// ruleVars are the variables of the CEL rule segments (documented in
// RULES.md; keep the two in step).
var ruleVars = []ruleVar{
	{"customer.id", cel.StringType, func(c *Answer) any { return c.State.Customer }},
	{"customer.as_of", cel.TimestampType, func(c *Answer) any { return c.AsOf }},
	{"customer.stage", cel.StringType, func(c *Answer) any { return c.Stage }},
	{"customer.highest_stage", cel.StringType, func(c *Answer) any { return c.HighestStage }},
	{"customer.flags", cel.ListType(cel.StringType), func(c *Answer) any { return c.Flags }},
	{"customer.types", cel.ListType(cel.StringType), func(c *Answer) any { return c.Types }},
	{"customer.satisfaction", cel.DoubleType, func(c *Answer) any { return c.Satisfaction }},
	{"customer.churn", cel.StringType, func(c *Answer) any { return c.Churn }},
	{"customer.p_alive", cel.DoubleType, func(c *Answer) any { return optFloat(c.PAlive) }},
	{"customer.expected_purchases", cel.DoubleType, func(c *Answer) any { return optFloat(c.ExpectedNext) }},
	{"customer.recency_days", cel.DoubleType, func(c *Answer) any { return optFloat(c.RecencyDays) }},
	{"customer.expected_gap_days", cel.DoubleType, func(c *Answer) any { return c.ExpectedGapDays }},
	{"customer.events", cel.IntType, func(c *Answer) any { return int64(c.State.Events) }},
	{"customer.visits", cel.IntType, func(c *Answer) any { return int64(c.State.Visits) }},
	{"customer.purchases", cel.IntType, func(c *Answer) any { return int64(c.State.Purchases) }},
	{"customer.purchase_days", cel.IntType, func(c *Answer) any { return int64(len(c.State.ShoppingDays)) }},
	{"customer.discounted_purchases", cel.IntType, func(c *Answer) any { return int64(c.State.DiscountedPurchases) }},
	{"customer.items", cel.IntType, func(c *Answer) any { return int64(c.State.Items) }},
	// Money as the events carry it: major units of each currency (42.5
	// for "42.50" EUR), as doubles, compared with int or double literals
	// alike (CrossTypeNumericComparisons): revenue["EUR"] >= 100.
	{"customer.revenue", cel.MapType(cel.StringType, cel.DoubleType), func(c *Answer) any { return c.State.Revenue.Major() }},
	{"customer.net_revenue", cel.MapType(cel.StringType, cel.DoubleType), func(c *Answer) any { return c.State.NetRevenue().Major() }},
	{"customer.returns", cel.IntType, func(c *Answer) any { return int64(c.State.Returns) }},
	{"customer.complaints", cel.IntType, func(c *Answer) any { return int64(c.State.Complaints) }},
	{"customer.open_complaints", cel.IntType, func(c *Answer) any { return int64(len(c.State.OpenComplaints)) }},
	{"customer.escalations", cel.IntType, func(c *Answer) any { return int64(c.State.Escalations) }},
	{"customer.feedbacks", cel.IntType, func(c *Answer) any { return int64(c.State.Feedbacks) }},
	{"customer.last_nps", cel.IntType, func(c *Answer) any { return int64(c.State.LastNPS) }},
	{"customer.last_csat", cel.IntType, func(c *Answer) any { return int64(c.State.LastCSAT) }},
	{"customer.referrals", cel.IntType, func(c *Answer) any { return int64(c.State.ReferralsMade) }},
	{"customer.referred_by", cel.StringType, func(c *Answer) any { return c.State.ReferredBy }},
	{"customer.country", cel.StringType, func(c *Answer) any { return c.State.Country }},
	{"customer.kind", cel.StringType, func(c *Answer) any { return c.State.ProfileKind }},
	{"customer.traits", cel.MapType(cel.StringType, cel.StringType), func(c *Answer) any {
		if c.State.Traits == nil {
			return map[string]string{}
		}
		return c.State.Traits
	}},
	{"customer.stores", cel.ListType(cel.StringType), func(c *Answer) any { return c.State.Stores }},
	{"customer.last_store", cel.StringType, func(c *Answer) any { return c.State.LastStore }},
	{"customer.first_seen", cel.TimestampType, func(c *Answer) any { return c.State.FirstSeen }},
	{"customer.last_seen", cel.TimestampType, func(c *Answer) any { return c.State.LastSeen }},
	{"customer.first_purchase", cel.TimestampType, func(c *Answer) any { return c.State.FirstPurchase }},
	{"customer.last_purchase", cel.TimestampType, func(c *Answer) any { return c.State.LastPurchase }},
	{"customer.rfm_segment", cel.StringType, func(c *Answer) any {
		if c.RFM == nil {
			return ""
		}
		return c.RFM.Segment
	}},
	{"customer.rfm", cel.StringType, func(c *Answer) any {
		if c.RFM == nil {
			return ""
		}
		return fmt.Sprintf("%d%d%d", c.RFM.R, c.RFM.F, c.RFM.M)
	}},
}

var ruleVarIndex = func() map[string]int {
	m := make(map[string]int, len(ruleVars))
	for i, v := range ruleVars {
		m[v.name] = i
	}
	return m
}()

// RuleVariables lists the names of the variables a rule may use.
func RuleVariables() []string {
	out := make([]string, len(ruleVars))
	for i, v := range ruleVars {
		out[i] = v.name
	}
	return out
}

// ruleSet is the compiled Config.Rules.
type ruleSet struct {
	names []string // sorted
	progs []cel.Program
	err   error
}

// activation resolves the rule variables lazily from a Customer.
type activation struct{ cu *Answer }

func (a activation) ResolveName(name string) (any, bool) {
	i, ok := ruleVarIndex[name]
	if !ok {
		return nil, false
	}
	return ruleVars[i].value(a.cu), true
}

func (activation) Parent() interpreter.Activation { return nil }

// RuleError is a rule that failed to compile.
type RuleError struct {
	Rule string // the rule's name
	Err  error
}

func (e *RuleError) Error() string { return fmt.Sprintf("rule %q: %v", e.Rule, e.Err) }

// Unwrap returns the underlying error.
func (e *RuleError) Unwrap() error { return e.Err }

// customerField is a customer.NAME reference in a rule's text.
var customerField = regexp.MustCompile(`\bcustomer\.([A-Za-z_][A-Za-z0-9_]*)`)

// compileProblem is why expr does not compile, on one line: a variable
// customer.NAME that is none of the rules' variables by its name (CEL
// says "undeclared reference to 'customer'"), else the first line of
// what CEL says, without its "ERROR: <input>:" (the caret drawing below
// it is dropped).
func compileProblem(expr string, err error) error {
	for _, m := range customerField.FindAllStringSubmatch(expr, -1) {
		if !slices.ContainsFunc(ruleVars, func(v ruleVar) bool { return v.name == "customer."+m[1] }) {
			return fmt.Errorf("does not compile: customer.%s is not a variable of the rules (RULES.md lists them)", m[1])
		}
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	msg = strings.TrimPrefix(strings.TrimPrefix(msg, "ERROR: "), "<input>:")
	return fmt.Errorf("does not compile: %s", msg)
}

func ruleEnv() (*cel.Env, error) {
	opts := make([]cel.EnvOption, 0, len(ruleVars)+1)
	// customer.revenue["EUR"] >= 100 (a double against an int literal)
	// compares as numbers instead of failing to compile.
	opts = append(opts, cel.CrossTypeNumericComparisons(true))
	for _, v := range ruleVars {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	return cel.NewEnv(opts...)
}

// Compile compiles the Rules once (Derive compiles them on first use when
// Compile was not called). Every rule that does not compile, or is not a
// bool expression, is reported as a *RuleError naming it, joined; the rules
// that compiled are still used.
func (c *Config) Compile() error {
	if c == nil {
		return nil
	}
	rs := compileRules(c.Rules)
	c.rules.Store(rs)
	return rs.err
}

func compileRules(rules map[string]string) *ruleSet {
	rs := &ruleSet{}
	if len(rules) == 0 {
		return rs
	}
	env, err := ruleEnv()
	if err != nil {
		rs.err = fmt.Errorf("rule environment: %w", err)
		return rs
	}
	var errs []error
	for _, name := range slices.Sorted(mapKeys(rules)) {
		ast, iss := env.Compile(rules[name])
		if iss.Err() != nil {
			errs = append(errs, &RuleError{Rule: name, Err: compileProblem(rules[name], iss.Err())})
			continue
		}
		if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
			errs = append(errs, &RuleError{Rule: name, Err: fmt.Errorf("evaluates to %s, want bool", t)})
			continue
		}
		prg, err := env.Program(ast)
		if err != nil {
			errs = append(errs, &RuleError{Rule: name, Err: err})
			continue
		}
		rs.names = append(rs.names, name)
		rs.progs = append(rs.progs, prg)
	}
	rs.err = errors.Join(errs...)
	return rs
}

func (c *Config) compiled() *ruleSet {
	if rs := c.rules.Load(); rs != nil {
		return rs
	}
	rs := compileRules(c.Rules)
	c.rules.CompareAndSwap(nil, rs)
	return c.rules.Load()
}

// matchRules returns the names of the rules that evaluate to true, sorted.
// A rule whose evaluation fails (or is not a bool) does not match.
func (c *Config) matchRules(cu *Answer) []string {
	rs := c.compiled()
	var out []string
	act := activation{cu}
	for i, prg := range rs.progs {
		v, _, err := prg.Eval(act)
		if err != nil {
			continue
		}
		if b, ok := v.Value().(bool); ok && b {
			out = append(out, rs.names[i])
		}
	}
	return out
}

// MatchRule evaluates one compiled rule on a customer answer: whether it
// matched, and the error when the rule is unknown or its evaluation failed.
func (c *Config) MatchRule(name string, cu *Answer) (bool, error) {
	if c == nil {
		return false, fmt.Errorf("no compiled rule %q", name)
	}
	rs := c.compiled()
	i, ok := slices.BinarySearch(rs.names, name)
	if !ok {
		return false, fmt.Errorf("no compiled rule %q", name)
	}
	v, _, err := rs.progs[i].Eval(activation{cu})
	if err != nil {
		return false, &RuleError{Rule: name, Err: err}
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, &RuleError{Rule: name, Err: fmt.Errorf("evaluated to %v, want bool", v)}
	}
	return b, nil
}
