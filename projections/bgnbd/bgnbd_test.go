package bgnbd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/journey-cdp/journey/projections/internal/mle"
	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// posterior integrates functions of (λ, p) against the BG/NBD prior
// Gamma(r, α) × Beta(a, b) by brute-force Gauss–Legendre quadrature, as an
// independent check of the closed forms (which integrate analytically).
// Shape parameters below 1 make the prior densities singular at 0; the
// substitutions λ = v^(1/r) and p = u^(1/a) (used only then) remove that:
// λ^(r−1)dλ = dv/r and p^(a−1)dp = du/a.
type posterior struct {
	p          Params
	lam, wLam  []float64 // λ nodes and weights, prior density included
	prob, wPrb []float64 // p nodes and weights, prior density included
}

func newPosterior(p Params, n int) *posterior {
	q := &posterior{p: p}
	v := make([]float64, n)
	wv := make([]float64, n)
	lamMax := (150 + 10*p.R) / p.Alpha
	sr := math.Min(p.R, 1)
	quad.Legendre{}.FixedLocations(v, wv, 0, math.Pow(lamMax, sr))
	logNormG := p.R*math.Log(p.Alpha) - mle.Lgamma(p.R) - math.Log(sr)
	for i := range v {
		l := math.Pow(v[i], 1/sr)
		q.lam = append(q.lam, l)
		q.wLam = append(q.wLam, wv[i]*math.Exp(logNormG-p.Alpha*l)*math.Pow(v[i], p.R/sr-1))
	}
	u := make([]float64, n)
	wu := make([]float64, n)
	sa := math.Min(p.A, 1)
	quad.Legendre{}.FixedLocations(u, wu, 0, 1)
	logNormB := -math.Log(sa) - mathext.Lbeta(p.A, p.B)
	for i := range u {
		pp := math.Pow(u[i], 1/sa)
		q.prob = append(q.prob, pp)
		q.wPrb = append(q.wPrb, wu[i]*math.Exp(logNormB)*math.Pow(u[i], p.A/sa-1)*math.Pow(1-pp, p.B-1))
	}
	return q
}

// integrate returns ∫∫ f(λ, p) dG(λ) dB(p).
func (q *posterior) integrate(f func(lam, p float64) float64) float64 {
	var s float64
	for i, l := range q.lam {
		var inner float64
		for j, pp := range q.prob {
			inner += q.wPrb[j] * f(l, pp)
		}
		s += q.wLam[i] * inner
	}
	return s
}

// Individual-level BG/NBD quantities (paper §3, eqs. 3–4 and 8), from the
// story: Poisson(λ) purchases, dropout with probability p after each one.
func alivePart(x, T float64) func(l, p float64) float64 {
	return func(l, p float64) float64 { return math.Pow(1-p, x) * math.Pow(l, x) * math.Exp(-l*T) }
}

func likelihoodIndiv(c Customer) func(l, p float64) float64 {
	alive := alivePart(c.X, c.T)
	return func(l, p float64) float64 {
		v := alive(l, p)
		if c.X > 0 {
			v += p * math.Pow(1-p, c.X-1) * math.Pow(l, c.X) * math.Exp(-l*c.TX)
		}
		return v
	}
}

// expectedIndiv is E[X(t) | λ, p] for an active customer (eq. 8).
func expectedIndiv(t float64) func(l, p float64) float64 {
	return func(l, p float64) float64 { return -math.Expm1(-l*p*t) / p }
}

var quadCustomers = []Customer{
	{X: 0, TX: 0, T: 38.86},
	{X: 1, TX: 1.71, T: 38.86},
	{X: 2, TX: 30.43, T: 38.86},
	{X: 4, TX: 26.57, T: 27},
	{X: 3, TX: 5, T: 35},
	{X: 7, TX: 33.1, T: 36.2},
}

func TestClosedFormsAgainstQuadrature(t *testing.T) {
	// CDNOW's optimum (r, a < 1), a > 1 with heavy buyers, and a + b − 1
	// close to 0 (the 2F1 lower parameter small).
	for _, p := range []Params{lifetimesParams, {R: 2, Alpha: 10, A: 3.5, B: 6}, {R: 0.8, Alpha: 3, A: 0.2, B: 1}} {
		t.Run(fmt.Sprintf("r=%v,alpha=%v,a=%v,b=%v", p.R, p.Alpha, p.A, p.B), func(t *testing.T) {
			checkQuadrature(t, p)
		})
	}
}

func checkQuadrature(t *testing.T, p Params) {
	q := newPosterior(p, 400)
	if norm := q.integrate(func(float64, float64) float64 { return 1 }); math.Abs(norm-1) > 1e-6 {
		t.Fatalf("quadrature prior mass = %.9f, want 1", norm)
	}
	for _, c := range quadCustomers {
		lik := q.integrate(likelihoodIndiv(c))
		if ll := LogLikelihood(p, []Customer{c}); math.Abs(ll-math.Log(lik)) > 1e-6 {
			t.Errorf("%+v: LL %.9f, quadrature %.9f", c, ll, math.Log(lik))
		}
		alive := q.integrate(alivePart(c.X, c.T))
		if got, want := p.PAlive(c), alive/lik; math.Abs(got-want) > 1e-7 {
			t.Errorf("%+v: PAlive %.9f, quadrature %.9f", c, got, want)
		}
		// Alive customers keep buying as in eq. 8; P(alive) and λ, p
		// come from the posterior given (x, t_x, T). The alive part
		// already contains e^(−λT), the survival of the Poisson process.
		for _, h := range []float64{1, 10, 39, 104} {
			ey := q.integrate(func(l, pp float64) float64 {
				return alivePart(c.X, c.T)(l, pp) * expectedIndiv(h)(l, pp)
			}) / lik
			if got := p.ConditionalExpected(h, c); math.Abs(got-ey) > 1e-6*math.Max(1, ey) {
				t.Errorf("%+v: E[Y(%v)] %.9f, quadrature %.9f", c, h, got, ey)
			}
		}
	}
	for _, h := range []float64{0.5, 1, 3, 32, 78, 520} {
		want := q.integrate(expectedIndiv(h))
		if got := p.ExpectedTransactions(h); math.Abs(got-want) > 1e-6*math.Max(1, want) {
			t.Errorf("E[X(%v)] = %.9f, quadrature %.9f", h, got, want)
		}
	}
}

func TestPAlive(t *testing.T) {
	p := lifetimesParams
	for _, T := range []float64{0, 1, 38.86, 1000} {
		if got := p.PAlive(Customer{X: 0, TX: 0, T: T}); got != 1 {
			t.Errorf("x=0, T=%v: PAlive = %v, want 1", T, got)
		}
	}
	// A customer whose last purchase is at the calibration end is almost
	// surely alive: P = 1/(1 + a/(b+x−1)), the chance she did not drop out
	// right after that purchase under the posterior of p alone.
	c := Customer{X: 2, TX: 38.86, T: 38.86}
	want := 1 / (1 + p.A/(p.B+1))
	if got := p.PAlive(c); math.Abs(got-want) > 1e-12 {
		t.Errorf("t_x = T: PAlive = %v, want %v", got, want)
	}
	// Monotonicity: decreasing in T (longer silence), increasing in t_x
	// (more recent last purchase).
	prev := 2.0
	for T := 31.0; T < 300; T += 7 {
		v := p.PAlive(Customer{X: 2, TX: 30.43, T: T})
		if !(v < prev) || v <= 0 {
			t.Fatalf("PAlive not strictly decreasing in T at T=%v: %v after %v", T, v, prev)
		}
		prev = v
	}
	prev = -1
	for tx := 1.0; tx <= 38; tx++ {
		v := p.PAlive(Customer{X: 2, TX: tx, T: 38.86})
		if !(v > prev) || v > 1 {
			t.Fatalf("PAlive not strictly increasing in t_x at t_x=%v: %v after %v", tx, v, prev)
		}
		prev = v
	}
	// Extreme inputs stay in [0, 1] without NaN.
	for _, c := range []Customer{{X: 500, TX: 1, T: 1e6}, {X: 1e5, TX: 1e5, T: 1e5}, {X: 1, TX: 0, T: 1e12}} {
		v := p.PAlive(c)
		if !(v >= 0 && v <= 1) {
			t.Errorf("PAlive(%+v) = %v", c, v)
		}
	}
	if v := p.PAlive(Customer{X: 500, TX: 1, T: 1e6}); v != 0 {
		t.Errorf("PAlive of a long-silent heavy buyer = %v, want 0 (underflow)", v)
	}
}

func TestConditionalExpectedProperties(t *testing.T) {
	p := lifetimesParams
	c := Customer{X: 2, TX: 30.43, T: 38.86}
	prev := 0.0
	for h := 1.0; h <= 520; h *= 2 {
		v := p.ConditionalExpected(h, c)
		if !(v > prev) {
			t.Fatalf("E[Y(%v)] = %v not increasing (previous %v)", h, v, prev)
		}
		prev = v
	}
	// A brand-new customer (x = 0, T = 0) is the unconditional case (eq. 7).
	for _, h := range []float64{1, 39, 78} {
		got := p.ConditionalExpected(h, Customer{})
		if want := p.ExpectedTransactions(h); math.Abs(got-want) > 1e-12 {
			t.Errorf("x=0,T=0: E[Y(%v)] = %v, E[X(%v)] = %v", h, got, h, want)
		}
	}
	// Heavy buyers: finite, positive and sensible (well below the Poisson
	// bound λ̂·t with λ̂ = (r+x)/(α+T) for an alive customer).
	for _, c := range []Customer{{X: 200, TX: 38, T: 38.86}, {X: 2000, TX: 300, T: 300}} {
		v := p.ConditionalExpected(52, c)
		bound := (p.R + c.X) / (p.Alpha + c.T) * 52
		if !(v > 0 && v <= bound) {
			t.Errorf("E[Y(52) | %+v] = %v, want in (0, %v]", c, v, bound)
		}
	}
	if v := p.ConditionalExpected(0, c); v != 0 {
		t.Errorf("E[Y(0)] = %v", v)
	}
}

func TestHyp2f1(t *testing.T) {
	// Closed forms: 2F1(1,1;2;z) = −log(1−z)/z; 2F1(a,b;b;z) = (1−z)^(−a).
	for _, z := range []float64{0.01, 0.3, 0.7, 0.94, 0.95, 0.96, 0.99, 0.999} {
		if got, want := hyp2f1(1, 1, 2, z), -math.Log1p(-z)/z; math.Abs(got-want) > 1e-12*want {
			t.Errorf("2F1(1,1;2;%v) = %.15g, want %.15g", z, got, want)
		}
		if got, want := hyp2f1(0.37, 2.5, 2.5, z), math.Pow(1-z, -0.37); math.Abs(got-want) > 1e-12*want {
			t.Errorf("2F1(0.37,2.5;2.5;%v) = %.15g, want %.15g", z, got, want)
		}
	}
	// The series and gonum's Cephes port agree on the parameters BG/NBD
	// uses, on both sides of the switch-over.
	p := lifetimesParams
	for _, x := range []float64{0, 1, 5, 50} {
		for _, z := range []float64{0.1, 0.5, 0.9, 0.95} {
			a, b, c := p.A+p.B-1-p.R, p.A-1, p.A+p.B+x-1
			s, m := hyp2f1Series(a, b, c, z), mathext.Hypergeo(a, b, c, z)
			if math.Abs(s-m) > 1e-12*math.Abs(m) {
				t.Errorf("2F1(%v,%v;%v;%v): series %.15g, Cephes %.15g", a, b, c, z, s, m)
			}
		}
	}
	// Euler's transformation used by ConditionalExpected, checked directly.
	c := Customer{X: 2, TX: 30.43, T: 38.86}
	z := 39 / (p.Alpha + c.T + 39)
	lhs := math.Pow(1-z, p.R+c.X) * hyp2f1(p.R+c.X, p.B+c.X, p.A+p.B+c.X-1, z)
	rhs := math.Pow(1-z, p.A-1) * hyp2f1(p.A+p.B-1-p.R, p.A-1, p.A+p.B+c.X-1, z)
	if math.Abs(lhs-rhs) > 1e-12 {
		t.Errorf("Euler transformation: %.15g vs %.15g", lhs, rhs)
	}
}

func TestGradient(t *testing.T) {
	cs := append([]Customer(nil), quadCustomers...)
	gs, err := aggregate(cs)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{math.Log(0.3), math.Log(5), math.Log(0.8), math.Log(2.5)}
	grad := make([]float64, 4)
	ll := objective(gs, fromLog(x), grad)
	if want := LogLikelihood(fromLog(x), cs); math.Abs(ll-want) > 1e-10 {
		t.Fatalf("objective %v vs LogLikelihood %v", ll, want)
	}
	for i := range x {
		const h = 1e-6
		xp := append([]float64(nil), x...)
		xm := append([]float64(nil), x...)
		xp[i] += h
		xm[i] -= h
		fd := (objective(gs, fromLog(xp), nil) - objective(gs, fromLog(xm), nil)) / (2 * h)
		if math.Abs(fd-grad[i]) > 1e-6*math.Max(1, math.Abs(fd)) {
			t.Errorf("d/dlog θ%d: analytic %.9g, finite difference %.9g", i, grad[i], fd)
		}
	}
}

func TestAggregateWeights(t *testing.T) {
	cs := []Customer{{X: 1, TX: 2, T: 5}, {X: 0, TX: 0, T: 5}, {X: 1, TX: 2, T: 5}, {X: 0, TX: 0, T: 5}, {X: 0, TX: 0, T: 5}}
	gs, err := aggregate(cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].W != 3 || gs[1].W != 2 {
		t.Fatalf("groups = %+v", gs)
	}
	p := lifetimesParams
	if a, b := objective(gs, p, nil), LogLikelihood(p, cs); math.Abs(a-b) > 1e-10 {
		t.Errorf("aggregated LL %v, per-customer %v", a, b)
	}
}

func TestFitErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Fit(ctx, nil, nil); !errors.Is(err, ErrNoCustomers) {
		t.Errorf("empty: err = %v", err)
	}
	bad := [][]Customer{
		{{X: math.NaN(), T: 1}},
		{{X: 1, TX: math.Inf(1), T: 1}},
		{{X: -1, T: 1}},
		{{X: 1.5, TX: 1, T: 2}},
		{{X: 1, TX: 3, T: 2}},
		{{X: 0, TX: 0, T: -1}},
	}
	for _, cs := range bad {
		if _, err := Fit(ctx, cs, nil); err == nil || errors.Is(err, ErrNotConverged) {
			t.Errorf("%+v: err = %v, want an input error", cs, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Fit(cctx, quadCustomers, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	// Nobody ever comes back: the dropout rate has no finite estimate.
	none := []Customer{{X: 0, T: 10}, {X: 0, T: 20}, {X: 0, T: 30}}
	if f, err := Fit(ctx, none, nil); !errors.Is(err, ErrNotConverged) {
		t.Errorf("all x=0: fit %+v, err = %v, want ErrNotConverged", f, err)
	}
	if !math.IsInf(LogLikelihood(Params{R: -1, Alpha: 1, A: 1, B: 1}, quadCustomers), -1) {
		t.Error("LogLikelihood with negative r is not -Inf")
	}
}

func TestFitSimulated(t *testing.T) {
	// Recover known parameters from data simulated by the model's story.
	truth := Params{R: 0.5, Alpha: 8, A: 0.7, B: 3}
	cs := simulate(truth, 20000, 52, 12345)
	f, err := Fit(context.Background(), cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("truth %+v, fit %+v LL=%.2f", truth, f.Params, f.LogLikelihood)
	within(t, "r", f.R, truth.R, 0.1)
	within(t, "alpha", f.Alpha, truth.Alpha, 0.15)
	within(t, "a", f.A, truth.A, 0.2)
	within(t, "b", f.B, truth.B, 0.3)
	if ll := LogLikelihood(truth, cs); ll > f.LogLikelihood {
		t.Errorf("truth LL %v exceeds fitted %v", ll, f.LogLikelihood)
	}
	// The penalised fit stays close on plentiful data.
	g, err := Fit(context.Background(), cs, &FitOptions{Penalizer: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	within(t, "penalised r", g.R, f.R, 0.05)
}

func TestFromPurchaseDays(t *testing.T) {
	d0 := Day(time.Date(1997, 1, 1, 23, 59, 0, 0, time.UTC))
	if d0 != 9862 { // 27 years × 365 + 7 leap days since 1970-01-01
		t.Fatalf("Day(1997-01-01) = %d", d0)
	}
	if d := Day(time.Date(1997, 1, 2, 1, 0, 0, 0, time.FixedZone("+05", 5*3600))); d != d0 {
		t.Errorf("Day uses UTC: got %d, want %d", d, d0)
	}
	end := d0 + 272
	c := FromPurchaseDays([]int{d0, d0 + 17, d0 + 213, d0 + 345}, end, 7)
	if c.X != 2 || round2(c.TX) != 30.43 || round2(c.T) != 38.86 {
		t.Errorf("got %+v", c)
	}
	// Unsorted with repeats gives the same summary.
	if u := FromPurchaseDays([]int{d0 + 213, d0, d0 + 17, d0, d0 + 345, d0 + 213}, end, 7); u != c {
		t.Errorf("unsorted: %+v, want %+v", u, c)
	}
	if c := FromPurchaseDays([]int{d0}, end, 1); c != (Customer{X: 0, TX: 0, T: 272}) {
		t.Errorf("single purchase in days: %+v", c)
	}
	if c := FromPurchaseDays([]int{end + 1}, end, 7); c != (Customer{}) {
		t.Errorf("only after the end: %+v", c)
	}
}

// simulate draws n customers from the BG/NBD story: λ ~ Gamma(r, α),
// p ~ Beta(a, b), Poisson(λ) purchases after a first purchase at time 0,
// dropout with probability p after each repeat purchase. First purchases
// are spread uniformly over the first 12 time units of a calibration period
// of length horizon.
func simulate(p Params, n int, horizon float64, seed uint64) []Customer {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	gam := distuv.Gamma{Alpha: p.R, Beta: p.Alpha, Src: rng}
	bet := distuv.Beta{Alpha: p.A, Beta: p.B, Src: rng}
	cs := make([]Customer, n)
	for i := range cs {
		lam, drop := gam.Rand(), bet.Rand()
		T := horizon - 12*rng.Float64()
		c := Customer{T: T}
		for t := 0.0; ; {
			t += rng.ExpFloat64() / lam
			if t > T {
				break
			}
			c.X++
			c.TX = t
			if rng.Float64() < drop {
				break
			}
		}
		cs[i] = c
	}
	return cs
}
