package customer

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestRulesCompileErrors(t *testing.T) {
	c := &Config{Rules: map[string]string{
		"ok":         `customer.stage == "loyal"`,
		"syntax":     `customer.purchases >`,
		"undeclared": `customer.purchase > 2`,
		"not_bool":   `customer.purchases + 1`,
	}}
	err := c.Compile()
	if err == nil {
		t.Fatal("Compile accepted broken rules")
	}
	var names []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var re *RuleError
		if !errors.As(e, &re) {
			t.Fatalf("%v is not a *RuleError", e)
		}
		names = append(names, re.Rule)
		if !strings.Contains(e.Error(), `rule "`+re.Rule+`"`) {
			t.Errorf("error %q does not name its rule", e)
		}
	}
	if want := []string{"not_bool", "syntax", "undeclared"}; !slices.Equal(names, want) {
		t.Fatalf("failing rules %v, want %v", names, want)
	}
	if !strings.Contains(err.Error(), "want bool") {
		t.Errorf("non-bool rule error unclear: %v", err)
	}
	// The rule that compiled still works.
	if got := c.compiled().names; !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("compiled rules %v, want [ok]", got)
	}
}

func TestRulesMatch(t *testing.T) {
	c := &Config{Rules: map[string]string{
		"loyal_gb":      `customer.stage == "loyal" && customer.revenue["GBP"] >= 40 && customer.country == ""`,
		"advocates":     `"advocate" in customer.flags`,
		"happy":         `customer.satisfaction > 80.0`,
		"big_spender":   `customer.revenue["GBP"] > 1000.0`,
		"gold":          `"tier" in customer.traits && customer.traits["tier"] == "gold"`,
		"recent":        `customer.recency_days >= 0.0 && customer.recency_days < 31.0`,
		"no_fit":        `customer.p_alive < 0.0`,
		"typed":         `"loyal" in customer.types && customer.purchases == 4 && customer.highest_stage == "loyal"`,
		"bought_in_may": `customer.last_purchase > timestamp("2024-05-31T00:00:00Z")`,
		"missing_key":   `customer.revenue["EUR"] > 0`, // no EUR: evaluation error → no match
	}}
	if err := c.Compile(); err != nil {
		t.Fatal(err)
	}
	var loyal *foldCase
	for _, fc := range readFoldCases(t) {
		if fc.file == "stages.txt" && fc.name == "loyal" {
			loyal = fc
		}
	}
	loyal.cfg = c
	cu := loyal.run(t)
	want := []string{"advocates", "bought_in_may", "happy", "loyal_gb", "no_fit", "recent", "typed"}
	if !slices.Equal(cu.Segments, want) {
		t.Fatalf("segments %v, want %v (satisfaction %.1f)", cu.Segments, want, cu.Satisfaction)
	}
	if ok, err := c.MatchRule("gold", cu); ok || err != nil {
		t.Fatalf("MatchRule(gold) = %v, %v", ok, err)
	}
	cu.State.Traits = map[string]string{"tier": "gold"}
	if ok, err := c.MatchRule("gold", cu); !ok || err != nil {
		t.Fatalf("MatchRule(gold) after trait = %v, %v", ok, err)
	}
	if _, err := c.MatchRule("missing_key", cu); err == nil {
		t.Fatal("MatchRule(missing_key): no evaluation error")
	}
	if _, err := c.MatchRule("nope", cu); err == nil {
		t.Fatal("MatchRule(nope): no error")
	}
	// Derive compiles on first use when Compile was not called.
	c2 := &Config{Rules: map[string]string{"all": "true"}}
	if got := c2.Derive(cu.State, cu.AsOf, nil).Segments; !slices.Equal(got, []string{"all"}) {
		t.Fatalf("lazy compile: segments %v", got)
	}
}

// TestRuleVariablesDocumented: every variable is in RULES.md.
func TestRuleVariablesDocumented(t *testing.T) {
	doc := readRulesDoc(t)
	for _, v := range RuleVariables() {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("RULES.md does not document %s", v)
		}
	}
}

// TestRulesDocExamplesCompile: the examples of RULES.md compile.
func TestRulesDocExamplesCompile(t *testing.T) {
	doc := readRulesDoc(t)
	_, after, _ := strings.Cut(doc, "Examples:\n\n```\n")
	block, _, _ := strings.Cut(after, "```")
	rules := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		name, expr, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("bad example line %q", line)
		}
		rules[strings.Trim(name, `"`)] = strings.TrimSpace(expr)
	}
	if len(rules) < 3 {
		t.Fatalf("found %d examples", len(rules))
	}
	if err := (&Config{Rules: rules}).Compile(); err != nil {
		t.Fatal(err)
	}
}

// TestRulesSeeMoneyAsDecimal: revenue and net_revenue are major units of
// each currency (4 × 10.00 GBP is 40, not 4000 minor units), compared
// with int and double literals alike, exactly at the decimal boundary,
// for currencies of exponent 0 and 3 too.
func TestRulesSeeMoneyAsDecimal(t *testing.T) {
	c := &Config{Rules: map[string]string{
		"exactly_40":     `customer.revenue["GBP"] == 40.0`,
		"int_literal":    `customer.revenue["GBP"] >= 40`,
		"not_minor":      `customer.revenue["GBP"] >= 4000`,
		"cents":          `customer.revenue["GBP"] > 39.99 && customer.revenue["GBP"] < 40.01`,
		"net_after_ref":  `customer.net_revenue["GBP"] == 32.5`,
		"yen":            `customer.revenue["JPY"] == 1500.0 && customer.revenue["JPY"] >= 1500`,
		"dinar":          `customer.revenue["KWD"] == 1.25`,
		"guarded_absent": `"EUR" in customer.revenue && customer.revenue["EUR"] > 0`,
	}}
	if err := c.Compile(); err != nil {
		t.Fatal(err)
	}
	var loyal *foldCase
	for _, fc := range readFoldCases(t) {
		if fc.file == "stages.txt" && fc.name == "loyal" {
			loyal = fc
		}
	}
	loyal.cfg = c
	cu := loyal.run(t)
	cu.State.Refunds = Money{"GBP": 750}
	cu.State.Revenue["JPY"] = 1500
	cu.State.Revenue["KWD"] = 1250
	var got []string
	for _, name := range slices.Sorted(maps.Keys(c.Rules)) {
		ok, err := c.MatchRule(name, cu)
		if err != nil {
			t.Fatalf("rule %s: %v", name, err)
		}
		if ok {
			got = append(got, name)
		}
	}
	want := []string{"cents", "dinar", "exactly_40", "int_literal", "net_after_ref", "yen"}
	if !slices.Equal(got, want) {
		t.Fatalf("matching %v, want %v (revenue %v)", got, want, cu.State.Revenue)
	}
}

// TestRuleCompileProblemOneLine: a rule that does not compile is said on
// one line naming the rule: an unknown customer.NAME by its name (CEL
// alone would blame 'customer'), a syntax error with its position and
// without CEL's caret drawing.
func TestRuleCompileProblemOneLine(t *testing.T) {
	for expr, want := range map[string]string{
		`customer.no_such_field > 3`:         `rule "vip": does not compile: customer.no_such_field is not a variable of the rules (RULES.md lists them)`,
		`customer.revenue["EUR"] >= `:        `rule "vip": does not compile: 1:28: Syntax error: mismatched input '<EOF>'`,
		`customer.purchases > 1 && nosuch.x`: `rule "vip": does not compile: 1:27: undeclared reference to 'nosuch'`,
	} {
		err := (&Config{Rules: map[string]string{"vip": expr}}).Compile()
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("rule %q: %v, want one line starting %q", expr, err, want)
		}
	}
}
