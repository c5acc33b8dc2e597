package gammagamma

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// naturalSE: an independent observed-information matrix by hand-written
// central differences in the natural parameters, inverted as a general
// matrix (fitdiag uses gonum's fd.Hessian in log θ and Cholesky).
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
	m, cs := cdnowFit(t)
	in := make([]Customer, len(cs))
	for i, c := range cs {
		in[i] = FromMinor(c.repeat, 2)
	}
	want := naturalSE(func(th []float64) float64 { return LogLikelihood(fromSlice(th), in) }, m.Params.Slice())
	if want == nil {
		t.Fatal("independent Hessian is singular")
	}
	for i, p := range m.Diagnostics.Params {
		t.Logf("%s = %.4f: SE %.5f (independent %.5f), 95%% [%.4f, %.4f]", p.Name, p.Value, p.SE, want[i], p.Lower, p.Upper)
		if math.Abs(p.SE-want[i]) > 0.01*want[i] {
			t.Errorf("%s: SE %.6f, independent %.6f", p.Name, p.SE, want[i])
		}
	}
	if d := m.Diagnostics; !d.Converged || !d.HessianPD || len(d.Warnings) != 0 || d.Observations != 946 {
		t.Errorf("diagnostics %+v", d)
	}
}
