package bgnbd

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// naturalSE is an independent check of fitdiag: the observed information
// −∂²LL/∂θ_i∂θ_j by a hand-written central-difference formula in the
// natural parameters (steps relative to each θ_i), inverted as a general
// matrix (fitdiag differentiates in log θ with gonum's fd.Hessian and
// inverts by Cholesky).
func naturalSE(ll func([]float64) float64, theta []float64) []float64 {
	n := len(theta)
	h := make([]float64, n)
	for i, v := range theta {
		h[i] = 1e-4 * v
	}
	at := func(di, dj int, si, sj float64) float64 {
		x := append([]float64(nil), theta...)
		x[di] += si * h[di]
		x[dj] += sj * h[dj]
		return ll(x)
	}
	info := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			d := at(i, j, 1, 1) - at(i, j, 1, -1) - at(i, j, -1, 1) + at(i, j, -1, -1)
			info.Set(i, j, -d/(4*h[i]*h[j]))
		}
	}
	var cov mat.Dense
	if err := cov.Inverse(info); err != nil {
		return nil
	}
	se := make([]float64, n)
	for i := range se {
		se[i] = math.Sqrt(cov.At(i, i))
	}
	return se
}

func TestStandardErrorsAgainstNumericalHessian(t *testing.T) {
	cs := customersOf(readSummary(t))
	m, err := Fit(context.Background(), cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := naturalSE(func(th []float64) float64 {
		return LogLikelihood(Params{R: th[0], Alpha: th[1], A: th[2], B: th[3]}, cs)
	}, m.Params.Slice())
	if want == nil {
		t.Fatal("independent Hessian is singular")
	}
	d := m.Diagnostics
	if len(d.Params) != 4 {
		t.Fatalf("diagnostics %+v", d)
	}
	for i, p := range d.Params {
		t.Logf("%s = %.4f: SE %.5f (independent %.5f), 95%% [%.4f, %.4f]", p.Name, p.Value, p.SE, want[i], p.Lower, p.Upper)
		if math.Abs(p.SE-want[i]) > 0.01*want[i] {
			t.Errorf("%s: SE %.6f, independent numerical Hessian %.6f", p.Name, p.SE, want[i])
		}
		if math.Abs((p.Upper-p.Lower)/2-1.959964*p.SE) > 1e-6*p.SE {
			t.Errorf("%s: interval [%v, %v] is not ±1.96 SE", p.Name, p.Lower, p.Upper)
		}
	}
	if !d.Converged || !d.HessianPD || d.Iterations != m.Iterations || d.LogLikelihood != m.LogLikelihood || len(d.Warnings) != 0 {
		t.Errorf("diagnostics %+v", d)
	}
}

// TestDiagnosticsNotConverged: a fit stopped after one iteration says so.
func TestDiagnosticsNotConverged(t *testing.T) {
	cs := customersOf(readSummary(t))
	m, err := Fit(context.Background(), cs, &FitOptions{MaxIterations: 1})
	if !errors.Is(err, ErrNotConverged) {
		t.Fatalf("err = %v, want ErrNotConverged", err)
	}
	if m.Diagnostics.Converged || len(m.Diagnostics.Warnings) == 0 || !strings.Contains(m.Diagnostics.Warnings[0], "did not converge") {
		t.Errorf("diagnostics %+v", m.Diagnostics)
	}
}
