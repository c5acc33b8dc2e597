package reactions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A policy file sets the durations as strings (days too), the switches,
// the conditions and the calendar; a bad duration, an unknown field or a
// condition that does not compile is refused naming the field.
func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "r.json")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadConfig(write(`{"thank_you":{"when":"customer.kind == \"business\"","per_second":5},"winback":{"off":true},
		"thank_you_every":"14d","sla":{"high":"12h"},"holidays":[{"date":"2025-12-25","name":"Christmas"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Winback.Off || c.ThankYouEvery != 14*day || c.SLA["high"] != 12*time.Hour || c.ThankYou.PerSecond != 5 || len(c.Holidays) != 1 {
		t.Fatalf("loaded %+v", c)
	}
	if d := c.withDefaults(); d.SLA["low"] != 7*day || d.OverdueAfter != DefaultOverdueAfter {
		t.Fatalf("defaults %+v", d)
	}
	for in, want := range map[string]string{
		`{"thank_you_every":"soon"}`:               "thank_you_every",
		`{"sla":{"urgent":"1h"}}`:                  "sla.urgent",
		`{"thankyou":{}}`:                          "thankyou",
		`{"winback":{"when":"customer.nope > 1"}}`: "winback",
		`{"holidays":[{"date":"25/12/2025"}]}`:     "holidays[0].date",
		`{"escalation":{"when":"customer.stage"}}`: "want bool",
	} {
		if _, err := LoadConfig(write(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", in, err, want)
		}
	}
}

// Every mistake of a policy file is refused on one line naming the file,
// the member and the rule: a per_second that is negative or too small or
// too large to pace (it paced nothing before), a template that is not one
// or whose placeholder is not replaced (it was sent as written), two
// holidays on one day (the second's when was lost), a number of days that
// overflows a duration (it became negative: no 7-day limit), a condition
// that does not compile (its member, without CEL's caret drawing).
func TestLoadConfigRefusesMistakes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.json")
	for in, want := range map[string]string{
		`{"thank_you":{"per_second":-5}}`:                                                            "thank_you.per_second: must be from 1e-05 to 1000000 (0 or absent: unpaced), got -5",
		`{"winback":{"per_second":1e-12}}`:                                                           "winback.per_second: must be from",
		`{"escalation":{"per_second":1e300}}`:                                                        "escalation.per_second: must be from",
		`{"templates":{"repeat_purchase":"Thanks {custmer}"}}`:                                       "templates.repeat_purchase: unknown placeholder {custmer} (this template has {customer})",
		`{"templates":{"winback":"Happy {holiday}, {customer}"}}`:                                    "templates.winback: unknown placeholder {holiday}",
		`{"templates":{"repeat_purchse":"Thanks {customer}"}}`:                                       "templates.repeat_purchse: not a template (complaint_resolved, escalation, feedback, holiday, referral, repeat_purchase, winback)",
		`{"holidays":[{"date":"2025-12-25"},{"date":"2025-12-25","when":"customer.purchases > 3"}]}`: `holidays[1].date "2025-12-25": already holidays[0]`,
		`{"holidays":[{"date":"2025-02-30"}]}`:                                                       `holidays[0].date "2025-02-30": must be YYYY-MM-DD`,
		`{"thank_you_every":"1e6d"}`:                                                                 `thank_you_every: "1e6d" is not a positive duration`,
		`{"sla":{"low":"1e-20d"}}`:                                                                   `sla.low: "1e-20d" is not a positive duration`,
		`{"winback":{"when":"customr.purchases > 1"}}`:                                               "winback.when: does not compile: 1:1: undeclared reference to 'customr'",
		`{"thank_you":{"when":"customer.purchases >"}}`:                                              "thank_you.when: does not compile: 1:21: Syntax error",
		`{"holidays":[{"date":"2025-12-25","when":"foo"}]}`:                                          "holidays[0].when: does not compile: 1:1: undeclared reference to 'foo'",
	} {
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(p)
		if err == nil {
			t.Errorf("%s: accepted", in)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "reactions config "+p+": ") || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
			t.Errorf("%s:\n got %q\nwant one line, \"reactions config %s: …%s…\"", in, msg, p, want)
		}
	}
	// What is right stays accepted: per_second 0 (unpaced) and the
	// bounds, braces that are no placeholder, {holiday} in its template.
	if err := os.WriteFile(p, []byte(`{"thank_you":{"per_second":0},"winback":{"per_second":0.00001},"escalation":{"per_second":1000000},
		"templates":{"holiday":"Happy {holiday}, {customer} { 50% off }","winback":"{customer}"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err != nil {
		t.Fatal(err)
	}
	// Open refuses the same mistakes of a Config given in code.
	g := newRig(t)
	if _, err := Open(Options{Store: g.store, Views: g.views, Dir: filepath.Join(g.dir, "reactions"), Config: Config{ThankYou: Policy{PerSecond: -1}}}); err == nil || !strings.Contains(err.Error(), "thank_you.per_second") {
		t.Fatalf("Open with per_second -1: %v", err)
	}
}
