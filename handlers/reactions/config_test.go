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
