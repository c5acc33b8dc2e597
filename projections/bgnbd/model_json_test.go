package bgnbd

import (
	"encoding/json"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/projections/fitdiag"
)

// A Model's JSON is flat: the parameters and the fitdiag.Fit fields side by
// side, under encoding/json and json v2 alike.
func TestModelJSONFlat(t *testing.T) {
	m := Model{Params: Params{R: 1, Alpha: 2, A: 3, B: 4}, Fit: fitdiag.Fit{LogLikelihood: -5, Customers: 6, Iterations: 7}}
	b1, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := jsonv2.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{b1, b2} {
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]float64{"log_likelihood": -5, "customers": 6, "iterations": 7} {
			if got[k] != want {
				t.Errorf("%s: %s = %v, want %v", b, k, got[k], want)
			}
		}
		if _, ok := got["diagnostics"]; !ok {
			t.Errorf("%s: no diagnostics", b)
		}
		if _, ok := got["Fit"]; ok {
			t.Errorf("%s: the Fit is nested, want it flat", b)
		}
	}
}
