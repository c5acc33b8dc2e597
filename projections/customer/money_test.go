package customer

import (
	stdjson "encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// TestMoneyJSON: Money marshals (with encoding/json, as HTTP and NATS
// answer, and with json v2, as the CLI and exports write) to currency →
// decimal string in each currency's exponent, and reads back exactly.
func TestMoneyJSON(t *testing.T) {
	m := Money{"EUR": 137056, "JPY": 1500, "KWD": 1250, "USD": 5, "GBP": -75}
	want := `{"EUR":"1370.56","GBP":"-0.75","JPY":"1500","KWD":"1.250","USD":"0.05"}`
	std, err := stdjson.Marshal(m)
	if err != nil || string(std) != want {
		t.Fatalf("encoding/json: %s (%v), want %s", std, err, want)
	}
	v2, err := json.Marshal(m, json.Deterministic(true))
	if err != nil || string(v2) != want {
		t.Fatalf("json v2: %s (%v), want %s", v2, err, want)
	}
	var back, back2 Money
	if err := stdjson.Unmarshal(std, &back); err != nil || !maps.Equal(back, m) {
		t.Fatalf("encoding/json read back %v (%v), want %v", back, err, m)
	}
	if err := json.Unmarshal(v2, &back2); err != nil || !maps.Equal(back2, m) {
		t.Fatalf("json v2 read back %v (%v), want %v", back2, err, m)
	}
	// Empty money is left out of the state, with either library.
	s := &State{Customer: "c"}
	for name, b := range map[string][]byte{"std": must(stdjson.Marshal(s)), "v2": must(json.Marshal(s))} {
		if strings.Contains(string(b), "revenue") {
			t.Errorf("%s: empty revenue in %s", name, b)
		}
	}
	// Minor units and a bad decimal are refused, naming the currency.
	for _, bad := range []string{`{"EUR":137056}`, `{"EUR":"1.234"}`, `{"XYZ":"1"}`} {
		var m Money
		err := stdjson.Unmarshal([]byte(bad), &m)
		if err == nil {
			t.Errorf("%s read as %v", bad, m)
		}
	}
	if got := m.String(); got != "1370.56 EUR, -0.75 GBP, 1500 JPY, 1.250 KWD, 0.05 USD" {
		t.Errorf("String() = %q", got)
	}
	if got := (Money{}).String(); got != "" {
		t.Errorf("empty String() = %q", got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
