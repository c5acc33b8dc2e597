package paretonbd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/journey-cdp/journey/projections/internal/mle"
	"gonum.org/v1/gonum/integrate/quad"
)

// gammaNodes returns Gauss–Legendre nodes and weights (prior density
// included) for Gamma(shape, rate); for shape < 1 the substitution
// λ = v^(1/shape) removes the singularity at 0.
func gammaNodes(shape, rate float64) (xs, ws []float64) {
	hi := (200 + 20*shape) / rate
	sr := math.Min(shape, 1)
	logNorm := shape*math.Log(rate) - mle.Lgamma(shape) - math.Log(sr)
	// Composite Gauss–Legendre, panels clustered towards 0 (where
	// e^(−μT) puts the posterior mass for long-lived customers).
	const panels, per = 30, 12
	v := make([]float64, per)
	wv := make([]float64, per)
	V := math.Pow(hi, sr)
	for k := range panels {
		a := V * math.Pow(float64(k)/panels, 4)
		b := V * math.Pow(float64(k+1)/panels, 4)
		quad.Legendre{}.FixedLocations(v, wv, a, b)
		for i := range v {
			l := math.Pow(v[i], 1/sr)
			xs = append(xs, l)
			ws = append(ws, wv[i]*math.Exp(logNorm-rate*l)*math.Pow(v[i], shape/sr-1))
		}
	}
	return xs, ws
}

// TestClosedFormsAgainstQuadrature integrates the individual-level
// Pareto/NBD likelihood (Poisson λ while alive, exponential μ lifetime)
// against the Gamma priors, for both branches of A0 (α < β, α > β) and
// α = β, and checks the likelihood, P(alive) and E[Y(t)].
func TestClosedFormsAgainstQuadrature(t *testing.T) {
	customers := []Customer{{X: 0, TX: 0, T: 38.86}, {X: 1, TX: 1.71, T: 38.86}, {X: 2, TX: 30.43, T: 38.86}, {X: 7, TX: 33.1, T: 36.2}, {X: 4, TX: 5, T: 35}}
	for _, p := range []Params{published, {R: 2, Alpha: 12, S: 1.5, Beta: 3}, {R: 0.8, Alpha: 5, S: 2.5, Beta: 5}} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			lam, wl := gammaNodes(p.R, p.Alpha)
			mu, wm := gammaNodes(p.S, p.Beta)
			integ := func(f func(l, m float64) float64) float64 {
				var s float64
				for i, l := range lam {
					var in float64
					for j, m := range mu {
						in += wm[j] * f(l, m)
					}
					s += wl[i] * in
				}
				return s
			}
			for _, c := range customers {
				alive := func(l, m float64) float64 { return math.Pow(l, c.X) * math.Exp(-(l+m)*c.T) }
				lik := integ(func(l, m float64) float64 {
					return alive(l, m) + math.Pow(l, c.X)*m/(l+m)*(math.Exp(-(l+m)*c.TX)-math.Exp(-(l+m)*c.T))
				})
				if ll := LogLikelihood(p, []Customer{c}); math.Abs(ll-math.Log(lik)) > 1e-6 {
					t.Errorf("%+v: LL %.9f, quadrature %.9f", c, ll, math.Log(lik))
				}
				if got, want := p.PAlive(c), integ(alive)/lik; math.Abs(got-want) > 1e-7 {
					t.Errorf("%+v: PAlive %.9f, quadrature %.9f", c, got, want)
				}
				for _, h := range []float64{1, 39, 104} {
					// Alive at T, an alive customer buys λ·E[min(lifetime, h)]
					// = λ(1 − e^(−μh))/μ.
					want := integ(func(l, m float64) float64 { return alive(l, m) * l * -math.Expm1(-m*h) / m }) / lik
					if got := p.ConditionalExpected(h, c); math.Abs(got-want) > 1e-6*math.Max(1, want) {
						t.Errorf("%+v: E[Y(%v)] %.9f, quadrature %.9f", c, h, got, want)
					}
				}
			}
			for _, h := range []float64{1, 39, 78} {
				want := integ(func(l, m float64) float64 { return l * -math.Expm1(-m*h) / m })
				if got := p.ExpectedTransactions(h); math.Abs(got-want) > 1e-6*math.Max(1, want) {
					t.Errorf("E[X(%v)] %.9f, quadrature %.9f", h, got, want)
				}
			}
		})
	}
}

func TestFitErrors(t *testing.T) {
	if _, err := Fit(t.Context(), nil, Params{}); err != ErrNoCustomers {
		t.Errorf("empty: %v", err)
	}
	for _, c := range []Customer{{X: -1, T: 3}, {X: 1.5, TX: 1, T: 3}, {X: 1, TX: 4, T: 3}, {X: math.NaN()}} {
		if _, err := Fit(t.Context(), []Customer{c}, Params{}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestFitOneCustomerFinite: on a single customer the likelihood's
// hypergeometric terms overflow at large parameters (a log-likelihood of
// +Inf there); the fit must not run to that overflow, and what it returns
// has a finite log-likelihood (the model is stored as JSON, which has no
// Inf).
func TestFitOneCustomerFinite(t *testing.T) {
	m, err := Fit(context.Background(), []Customer{{X: 2, TX: 19.0 / 7, T: 365.0 / 7}}, Params{})
	if err != nil && !errors.Is(err, ErrNotConverged) {
		t.Fatal(err)
	}
	if math.IsInf(m.LogLikelihood, 0) || math.IsNaN(m.LogLikelihood) || math.IsInf(m.Diagnostics.LogLikelihood, 0) {
		t.Fatalf("log-likelihood %v (diagnostics %v) at %+v", m.LogLikelihood, m.Diagnostics.LogLikelihood, m.Params)
	}
}
