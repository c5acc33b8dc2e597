package fitdiag

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestExponentialAnalytic: for n exponential observations with sum S the
// MLE is λ̂ = n/S and the observed-information SE is λ̂/√n exactly.
func TestExponentialAnalytic(t *testing.T) {
	n, S := 400.0, 123.4
	ll := func(th []float64) float64 { return n*math.Log(th[0]) - th[0]*S }
	lam := n / S
	d := Compute([]string{"lambda"}, []float64{lam}, ll, int(n), 12, true, "")
	want := lam / math.Sqrt(n)
	p := d.Params[0]
	if !d.OK() || math.Abs(p.SE-want) > 1e-6*want || len(d.Warnings) != 0 {
		t.Fatalf("%+v, want SE %v", d, want)
	}
	if math.Abs(p.Lower-(lam-Z95*want)) > 1e-5 || math.Abs(p.Upper-(lam+Z95*want)) > 1e-5 {
		t.Errorf("interval [%v, %v]", p.Lower, p.Upper)
	}
	if !strings.Contains(d.Text(), "converged yes") {
		t.Errorf("text:\n%s", d.Text())
	}
}

// TestNotAMaximum: a saddle has no standard errors; it is said, and JSON
// writes them as null.
func TestNotAMaximum(t *testing.T) {
	ll := func(th []float64) float64 { return math.Pow(math.Log(th[0]), 2) - math.Pow(math.Log(th[1]), 2) }
	d := Compute([]string{"a", "b"}, []float64{1, 1}, ll, 10, 3, false, "iteration limit")
	if d.HessianPD || d.Converged || d.OK() || len(d.Warnings) != 2 || !math.IsNaN(d.Params[0].SE) {
		t.Fatalf("%+v", d)
	}
	if !strings.Contains(d.Warnings[0], "iteration limit") || !strings.Contains(d.Warnings[1], "not negative definite") {
		t.Errorf("warnings %q", d.Warnings)
	}
	b, err := json.Marshal(d)
	if err != nil || !strings.Contains(string(b), `"se":null`) {
		t.Fatalf("%s %v", b, err)
	}
	var back Diagnostics
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.Params[1].SE) || back.Params[1].Value != 1 {
		t.Errorf("round trip %+v %v", back, err)
	}
}

// TestTextUndefinedSE: the text table writes an undefined standard error
// and interval as "-", never NaN.
func TestTextUndefinedSE(t *testing.T) {
	ll := func(th []float64) float64 { return math.Pow(math.Log(th[0]), 2) - math.Pow(math.Log(th[1]), 2) }
	d := Compute([]string{"a", "b"}, []float64{1, 1}, ll, 10, 3, false, "iteration limit")
	txt := d.Text()
	if strings.Contains(txt, "NaN") || strings.Contains(txt, "Inf") {
		t.Fatalf("text shows NaN/Inf:\n%s", txt)
	}
	for _, name := range []string{"a", "b"} {
		found := false
		for _, line := range strings.Split(txt, "\n") {
			if f := strings.Fields(line); len(f) == 4 && f[0] == name && f[2] == "-" && f[3] == "-" {
				found = true
			}
		}
		if !found {
			t.Errorf("no line %q with std.err and interval \"-\":\n%s", name, txt)
		}
	}
}
