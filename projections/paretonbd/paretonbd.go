// Package paretonbd implements the Pareto/NBD model of customer purchasing
// and dropout (Schmittlein, Morrison & Colombo 1987) as written in
//
//	P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "A Note on
//	Implementing the Pareto/NBD Model in MATLAB"
//	(brucehardie.com/notes/008/).
//
// While alive a customer buys as a Poisson process with rate λ and dies
// after an exponential lifetime with rate μ; across customers
// λ ~ Gamma(r, α) and μ ~ Gamma(s, β). A customer is summarised over the
// calibration period exactly as for BG/NBD (see [bgnbd.Customer] and
// [bgnbd.FromPurchaseDays]): x repeat transactions, the time t_x of the
// last one and her age T, from her first purchase, in one time unit.
//
// The likelihood (eq. 2 of the note, with A0 from eqs. 3–4) is evaluated in
// log space and uses the branch of the hypergeometric function that keeps
// its argument in [0, 1): for α ≥ β, 2F1(r+s+x, s+1; r+s+x+1; (α−β)/(α+t)),
// for α < β, 2F1(r+s+x, r+x; r+s+x+1; (β−α)/(β+t)). [Fit] maximises it over
// the log-parameters (Nelder–Mead, polished by BFGS with a numerical
// gradient) and attaches [fitdiag.Diagnostics]. [Params.PAlive] and
// [Params.ConditionalExpected] (Schmittlein, Morrison & Colombo 1987, in
// the A0 form of the note, as lifetimes computes them; checked against
// quadrature of the individual-level model in the tests) give the
// per-customer predictions, and
// [Params.ExpectedTransactions] E[X(t)] for a new customer.
package paretonbd

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/fitdiag"
	"github.com/journey-cdp/journey/projections/internal/mle"
	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/optimize"
)

// Customer is the calibration summary of one customer (the same as BG/NBD's).
type Customer = bgnbd.Customer

// Params are the four Pareto/NBD parameters: λ ~ Gamma(R, Alpha),
// μ ~ Gamma(S, Beta) (shape, rate).
type Params struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	S     float64 `json:"s"`
	Beta  float64 `json:"beta"`
}

// Names are the parameter names in the order of [Params.Slice].
var Names = []string{"r", "alpha", "s", "beta"}

// Slice returns the parameters as [r, α, s, β].
func (p Params) Slice() []float64 { return []float64{p.R, p.Alpha, p.S, p.Beta} }

func fromSlice(v []float64) Params { return Params{R: v[0], Alpha: v[1], S: v[2], Beta: v[3]} }

// Valid reports whether all parameters are finite and > 0.
func (p Params) Valid() bool { return mle.Positive(p.Slice()...) }

// logDiffExp returns log(e^u − e^v) for u ≥ v (−Inf when equal).
func logDiffExp(u, v float64) float64 {
	if v >= u {
		return math.Inf(-1)
	}
	return u + math.Log1p(-math.Exp(v-u))
}

// seriesMaxZ: above it gonum's Cephes 2F1 (with its 1−z transformations)
// takes over from the direct series.
const seriesMaxZ = 0.95

// hyp2f1 is the Gauss hypergeometric function for 0 ≤ z < 1.
func hyp2f1(a, b, c, z float64) float64 {
	if z == 0 {
		return 1
	}
	if z > seriesMaxZ {
		return mathext.Hypergeo(a, b, c, z)
	}
	sum, term := 1.0, 1.0
	for n := 0.0; n < 100000; n++ {
		ratio := (a + n) * (b + n) / ((c + n) * (n + 1)) * z
		term *= ratio
		sum += term
		q := math.Max(math.Abs(ratio), z)
		if term == 0 || q < 1 && math.Abs(term)*q <= 1e-17*(1-q)*math.Abs(sum) {
			return sum
		}
	}
	return math.NaN()
}

// logA0 is log of A0 (eqs. 3–4 of the note) times nothing else: with
// m = max(α, β), the branch chosen by α ≥ β,
//
//	A0 = 2F1(r+s+x, b'; r+s+x+1; |α−β|/(m+t_x)) / (m+t_x)^(r+s+x)
//	   − 2F1(r+s+x, b'; r+s+x+1; |α−β|/(m+T))   / (m+T)^(r+s+x)
//
// with b' = s+1 when α ≥ β and r+x otherwise.
func (p Params) logA0(x, tx, T float64) float64 {
	rsx := p.R + p.S + x
	var m, bb float64
	if p.Alpha >= p.Beta {
		m, bb = p.Alpha, p.S+1
	} else {
		m, bb = p.Beta, p.R+x
	}
	d := math.Abs(p.Alpha - p.Beta)
	term := func(t float64) float64 {
		return math.Log(hyp2f1(rsx, bb, rsx+1, d/(m+t))) - rsx*math.Log(m+t)
	}
	return logDiffExp(term(tx), term(T))
}

// customerLL is the log of eq. 2 of the note for one customer:
//
//	L = Γ(r+x)α^r β^s / Γ(r) · [ 1/((α+T)^(r+x) (β+T)^s) + s/(r+s+x) · A0 ]
func (p Params) customerLL(x, tx, T float64) float64 {
	base := mle.Lgamma(p.R+x) - mle.Lgamma(p.R) + p.R*math.Log(p.Alpha) + p.S*math.Log(p.Beta)
	l1 := -(p.R+x)*math.Log(p.Alpha+T) - p.S*math.Log(p.Beta+T)
	l2 := math.Log(p.S/(p.R+p.S+x)) + p.logA0(x, tx, T)
	return base + mle.LogSumExp(l1, l2)
}

// LogLikelihood returns the Pareto/NBD log-likelihood of the customers; −Inf
// for invalid params, NaN for a customer with invalid fields.
func LogLikelihood(p Params, cs []Customer) float64 {
	if !p.Valid() {
		return math.Inf(-1)
	}
	var sum float64
	for _, c := range cs {
		if !(c.X >= 0 && c.TX >= 0 && c.T >= c.TX) || math.IsInf(c.X+c.TX+c.T, 0) {
			return math.NaN()
		}
		sum += p.customerLL(c.X, c.TX, c.T)
	}
	return sum
}

// PAlive returns P(alive | x, t_x, T) (as lifetimes'
// conditional_probability_alive):
//
//	P(alive) = 1 / (1 + s/(r+s+x) · (α+T)^(r+x) (β+T)^s · A0)
//
// computed as a logistic of a log-odds. NaN for invalid params or inputs.
func (p Params) PAlive(c Customer) float64 {
	if !p.Valid() || !(c.X >= 0 && c.TX >= 0 && c.T >= c.TX) {
		return math.NaN()
	}
	if c.T == c.TX {
		return 1
	}
	lo := math.Log(p.S/(p.R+p.S+c.X)) + (p.R+c.X)*math.Log(p.Alpha+c.T) + p.S*math.Log(p.Beta+c.T) + p.logA0(c.X, c.TX, c.T)
	if lo > 0 {
		e := math.Exp(-lo)
		return e / (1 + e)
	}
	return 1 / (1 + math.Exp(lo))
}

// ConditionalExpected returns E[Y(t) | x, t_x, T], the expected number of
// transactions of customer c in the next t time units:
//
//	(r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive)
//
// (the limit (r+x)(β+T)/(α+T) · log((β+T+t)/(β+T)) · P(alive) at s = 1).
// 0 for t ≤ 0, NaN for invalid params or inputs.
func (p Params) ConditionalExpected(t float64, c Customer) float64 {
	pa := p.PAlive(c)
	if math.IsNaN(pa) || math.IsNaN(t) {
		return math.NaN()
	}
	if t <= 0 {
		return 0
	}
	return p.expectedAlive(t, c.X, c.T) * pa
}

// expectedAlive is E[Y(t)] of an alive customer with x repeat purchases in T.
func (p Params) expectedAlive(t, x, T float64) float64 {
	k := (p.R + x) / (p.Alpha + T)
	l := math.Log((p.Beta + T + t) / (p.Beta + T))
	sm1 := p.S - 1
	if math.Abs(sm1) < 1e-9 {
		return k * (p.Beta + T) * l
	}
	// (β+T)/(s−1) · (1 − e^(−(s−1)·l)), via expm1 for s near 1.
	return k * (p.Beta + T) * -math.Expm1(-sm1*l) / sm1
}

// ExpectedTransactions returns E[X(t)] for a customer whose first purchase
// is at time 0: r β / (α (s−1)) · [1 − (β/(β+t))^(s−1)].
func (p Params) ExpectedTransactions(t float64) float64 {
	if !p.Valid() || math.IsNaN(t) {
		return math.NaN()
	}
	if t <= 0 {
		return 0
	}
	return p.expectedAlive(t, 0, 0)
}

// ErrNoCustomers is returned by [Fit] for empty input.
var ErrNoCustomers = errors.New("paretonbd: no customers to fit")

// ErrNotConverged is returned (wrapped, with the best parameters found and
// the diagnostics) when the optimiser did not reach a strict maximum.
var ErrNotConverged = errors.New("paretonbd: fit did not converge")

// Model is a fitted Pareto/NBD model.
type Model struct {
	Params
	fitdiag.Fit
}

type group = mle.Group

func aggregate(cs []Customer) ([]group, error) {
	return mle.Aggregate("paretonbd", cs, func(c Customer) (x, tx, T float64) { return c.X, c.TX, c.T }, true, ErrNoCustomers)
}

func groupLL(p Params, gs []group) float64 {
	if !p.Valid() {
		return math.Inf(-1)
	}
	var s float64
	for _, g := range gs {
		s += g.W * p.customerLL(g.X, g.TX, g.T)
	}
	return s
}

// logBound is the |log θ| beyond which an optimum is degenerate.
const logBound = 25

// stages are Fit's tolerances: the Nelder–Mead search over the log
// parameters, then its BFGS polish.
var stages = mle.Stages{
	NelderMead:        optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-12, Iterations: 100},
	GradientThreshold: 1e-7,
	BFGS:              optimize.FunctionConverge{Absolute: 1e-13, Relative: 1e-15, Iterations: 20},
}

// Fit estimates the parameters by maximum likelihood over the
// log-parameters, starting from init (zero: r = s = 1, α = β = mean T)
// with Nelder–Mead and polishing with BFGS on a central-difference
// gradient. The returned Model carries [fitdiag.Diagnostics] (standard
// errors from the Hessian). Errors: [ErrNoCustomers]; a descriptive error
// for invalid customers; ctx's error; [ErrNotConverged] (wrapped, with the
// best Model) when no strict interior maximum was found.
func Fit(ctx context.Context, cs []Customer, init Params) (Model, error) {
	gs, err := aggregate(cs)
	if err != nil {
		return Model{}, err
	}
	n := float64(len(cs))
	if init == (Params{}) {
		var sT float64
		for _, g := range gs {
			sT += g.W * g.T
		}
		mT := math.Max(sT/n, 1e-3)
		init = Params{R: 1, Alpha: mT, S: 1, Beta: mT}
	}
	if !init.Valid() {
		return Model{}, fmt.Errorf("paretonbd: invalid initial parameters %+v", init)
	}
	f := mle.LogObjective(4, 2*logBound, n, func(th []float64) float64 { return groupLL(fromSlice(th), gs) })
	r, err := mle.MinimizeLog(ctx, "paretonbd", f, init.Slice(), stages)
	if err != nil {
		return Model{}, err
	}
	res, iters, converged, why := r.Best, r.Iterations, r.NelderMeadConverged, r.Why
	if bf := r.Polished; bf != nil {
		g := make([]float64, 4)
		mle.CentralGradient(f)(g, bf.X)
		converged = converged || bf.Status == optimize.GradientThreshold || bf.Status == optimize.FunctionConvergence || mle.MaxAbs(g) < 1e-5
	}
	p := fromSlice(mle.Exp(res.X))
	m := Model{Params: p, Fit: fitdiag.Fit{LogLikelihood: groupLL(p, gs), Customers: len(cs), Iterations: iters}}
	if mle.Degenerate(res.X, logBound) {
		converged, why = false, fmt.Sprintf("degenerate optimum %+v (a parameter runs off to 0 or ∞)", p)
	}
	m.Diagnostics = fitdiag.Compute(Names, p.Slice(), func(t []float64) float64 { return groupLL(fromSlice(t), gs) },
		len(cs), iters, converged, why)
	if !m.Diagnostics.OK() {
		return m, fmt.Errorf("%w: %v", ErrNotConverged, m.Diagnostics.Warnings)
	}
	return m, nil
}
