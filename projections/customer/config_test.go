package customer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journey.json")
	if err := os.WriteFile(path, []byte(`{
		"home_country": "FR",
		"satisfaction": {"half_life_days": 30, "purchase": {"value": 90, "weight": 0.2}},
		"rules": {"vip": "customer.purchases >= 10"}
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultSatisfaction()
	if c.HomeCountry != "FR" || c.Satisfaction.HalfLifeDays != 30 || c.Satisfaction.Purchase != (Observation{90, 0.2}) {
		t.Errorf("file values not applied: %+v %+v", c, c.Satisfaction)
	}
	// What the file does not name keeps its default.
	if c.Satisfaction.ComplaintEscalated != def.ComplaintEscalated || c.Satisfaction.Prior != def.Prior ||
		c.Satisfaction.CSATWeight != 1 || c.ForecastDays != DefaultForecastDays || c.FallbackGapDays != DefaultFallbackGapDays {
		t.Errorf("defaults lost: %+v %+v", c, c.Satisfaction)
	}
	if c.rules.Load() == nil || len(c.rules.Load().progs) != 1 {
		t.Errorf("rules not compiled by LoadConfig")
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"unknown field": {`{"home_contry": "FR"}`, "home_contry"},
		"bad values": {`{"home_country": "France", "satisfaction": {"half_life_days": 0, "return": {"value": 130, "weight": -1}}}`,
			"home_country"},
		"bad rule": {`{"rules": {"broken": "customer.purchases >", "typo": "customer.purchase > 1"}}`, `rule "broken"`},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		os.WriteFile(path, []byte(tc.body), 0o600)
		_, err := LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to mention %q", name, err, tc.want)
		}
		if name == "bad values" {
			// Every problem at once.
			for _, w := range []string{"half_life_days", "return.value", "return.weight"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("bad values: %v does not mention %s", err, w)
				}
			}
		}
		if name == "bad rule" {
			var re *RuleError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), `rule "typo"`) {
				t.Errorf("bad rule: %v: want both rules named as *RuleError", err)
			}
		}
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
