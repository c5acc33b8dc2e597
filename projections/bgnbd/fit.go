package bgnbd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/journey-cdp/journey/projections/fitdiag"
	"github.com/journey-cdp/journey/projections/internal/mle"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/optimize"
)

// ErrNoCustomers is returned by [Fit] for empty input.
var ErrNoCustomers = errors.New("bgnbd: no customers to fit")

// ErrNotConverged is returned (wrapped, together with the best parameters
// found) when the optimiser stops without reaching a maximum, or the maximum
// lies at a degenerate boundary (a parameter running off to 0 or ∞).
var ErrNotConverged = errors.New("bgnbd: fit did not converge")

// FitOptions tune [Fit]. The zero value (or nil) is the default.
type FitOptions struct {
	// Initial is the starting point; zero means a data-derived default
	// (r = 1, α = ΣT/Σ(x+1), a = 1, b = 1).
	Initial Params
	// MaxIterations bounds the major iterations of each optimisation stage
	// (default 2000).
	MaxIterations int
	// Penalizer, if > 0, adds Penalizer·Σ(log θ)² to the mean negative
	// log-likelihood per customer, shrinking the log-parameters towards 0
	// (θ = 1). Useful on small or degenerate data sets where a or b runs off;
	// 0 (the default) is plain maximum likelihood, as in the paper.
	Penalizer float64
}

// Model is a fitted BG/NBD model (the result of [Fit]). It embeds the
// parameters, so the prediction methods (PAlive, ConditionalExpected, ...)
// can be called on it directly.
type Model struct {
	Params
	fitdiag.Fit
}

// Names are the parameter names in the order of [Params.Slice].
var Names = []string{"r", "alpha", "a", "b"}

// Slice returns the parameters as [r, α, a, b].
func (p Params) Slice() []float64 { return []float64{p.R, p.Alpha, p.A, p.B} }

// diagnose fills m.Diagnostics; err is the fit's error (nil: converged).
func diagnose(m *Model, gs []group, err error) {
	why := ""
	if err != nil {
		why = err.Error()
	}
	m.Diagnostics = fitdiag.Compute(Names, m.Params.Slice(), func(t []float64) float64 {
		p := Params{R: t[0], Alpha: t[1], A: t[2], B: t[3]}
		if !p.Valid() {
			return math.Inf(-1)
		}
		return objective(gs, p, nil)
	}, m.Customers, m.Iterations, err == nil, why)
}

// group is a set of customers with identical (x, t_x, T), weighted by count.
type group = mle.Group

// aggregate validates cs and collapses identical (X, TX, T) triples.
func aggregate(cs []Customer) ([]group, error) {
	return mle.Aggregate("bgnbd", cs, func(c Customer) (x, tx, T float64) { return c.X, c.TX, c.T }, false, ErrNoCustomers)
}

// objective evaluates the weighted log-likelihood of the groups and its
// gradient with respect to the log-parameters (log r, log α, log a, log b).
// grad may be nil. The groups are sorted by x, so the x-only terms (the
// lgamma and digamma values) are computed once per distinct x.
func objective(gs []group, p Params, grad []float64) float64 {
	lgr, lab, lb := mle.Lgamma(p.R), mle.Lgamma(p.A+p.B), mle.Lgamma(p.B)
	la, lal := math.Log(p.A), math.Log(p.Alpha)
	psiR, psiAB, psiB := 0.0, 0.0, 0.0
	if grad != nil {
		psiR, psiAB, psiB = mathext.Digamma(p.R), mathext.Digamma(p.A+p.B), mathext.Digamma(p.B)
	}
	var (
		ll, dr, dal, da, db float64
		lastX               = math.NaN()
		// Per-x terms: A1 + A2 minus r·log α, their derivatives, log(b+x−1).
		base, gr0, ga0, gb0, lbx1 float64
	)
	for _, g := range gs {
		rx := p.R + g.X
		if g.X != lastX {
			lastX = g.X
			base = mle.Lgamma(rx) - lgr + p.R*lal + lab + mle.Lgamma(p.B+g.X) - lb - mle.Lgamma(p.A+p.B+g.X)
			if g.X > 0 {
				lbx1 = math.Log(p.B + g.X - 1)
			}
			if grad != nil {
				psiABX := mathext.Digamma(p.A + p.B + g.X)
				gr0 = mathext.Digamma(rx) - psiR + lal
				ga0 = psiAB - psiABX
				gb0 = psiAB + mathext.Digamma(p.B+g.X) - psiB - psiABX
			}
		}
		lT := math.Log(p.Alpha + g.T)
		a3 := -rx * lT
		l := base + a3
		var ltx, w4 float64
		if g.X > 0 {
			ltx = math.Log(p.Alpha + g.TX)
			a4 := la - lbx1 - rx*ltx
			lse := mle.LogSumExp(a3, a4)
			l = base + lse
			// Weight of the D-term in the log-sum-exp: the derivatives of
			// log(e^A3 + e^A4) are the mixture (1−w4)·dA3 + w4·dA4.
			w4 = math.Exp(a4 - lse)
		}
		ll += g.W * l
		if grad == nil {
			continue
		}
		gr := gr0 - lT
		gal := p.R/p.Alpha - rx/(p.Alpha+g.T)
		ga, gb := ga0, gb0
		if g.X > 0 {
			gr += w4 * (lT - ltx)
			gal += w4 * (rx/(p.Alpha+g.T) - rx/(p.Alpha+g.TX))
			ga += w4 / p.A
			gb -= w4 / (p.B + g.X - 1)
		}
		dr += g.W * gr
		dal += g.W * gal
		da += g.W * ga
		db += g.W * gb
	}
	if grad != nil {
		grad[0], grad[1], grad[2], grad[3] = dr*p.R, dal*p.Alpha, da*p.A, db*p.B
	}
	return ll
}

func fromLog(x []float64) Params {
	return Params{R: math.Exp(x[0]), Alpha: math.Exp(x[1]), A: math.Exp(x[2]), B: math.Exp(x[3])}
}

// logBound is the |log θ| beyond which a fit is reported as degenerate.
const logBound = 25

// Fit estimates the BG/NBD parameters by maximum likelihood. The optimiser
// works on the log-parameters (so they stay positive): BFGS with the
// analytic gradient, falling back to Nelder–Mead followed by BFGS when that
// does not converge. An optimum is accepted only where the likelihood is
// strictly curved in every direction (the parameters are identified).
// Customers with identical (X, TX, T) are aggregated first, so the cost of an
// evaluation grows with the number of distinct histories, not customers.
//
// Errors: [ErrNoCustomers] for empty input; a descriptive error for a
// customer with non-finite, negative or non-integer X, or TX > T; ctx's
// error when it is cancelled; [ErrNotConverged] (wrapped, with the best
// parameters found in the returned Model) when the optimum was not reached.
func Fit(ctx context.Context, cs []Customer, opts *FitOptions) (Model, error) {
	if opts == nil {
		opts = &FitOptions{}
	}
	gs, err := aggregate(cs)
	if err != nil {
		return Model{}, err
	}
	n := float64(len(cs))
	maxIter := opts.MaxIterations
	if maxIter <= 0 {
		maxIter = 2000
	}
	init := opts.Initial
	if init == (Params{}) {
		var sx, sT float64
		for _, g := range gs {
			sx += g.W * (g.X + 1)
			sT += g.W * g.T
		}
		alpha := sT / sx
		if !(alpha > 0) || math.IsInf(alpha, 0) {
			alpha = 1
		}
		init = Params{R: 1, Alpha: alpha, A: 1, B: 1}
	}
	if !init.Valid() {
		return Model{}, fmt.Errorf("bgnbd: invalid initial parameters %+v", init)
	}
	pen := opts.Penalizer
	x0 := mle.Log(init.Slice())

	// f is the mean negative (penalised) log-likelihood per customer; far
	// outside the sensible range it is +Inf so both methods back off.
	f := func(x []float64, grad []float64) float64 {
		for _, v := range x {
			if math.Abs(v) > 2*logBound || math.IsNaN(v) {
				if grad != nil {
					clear(grad)
				}
				return math.Inf(1)
			}
		}
		v := -objective(gs, fromLog(x), grad) / n
		for i := range x {
			v += pen * x[i] * x[i]
			if grad != nil {
				grad[i] = -grad[i]/n + 2*pen*x[i]
			}
		}
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		return v
	}
	problem := mle.Problem(ctx,
		func(x []float64) float64 { return f(x, nil) },
		func(grad, x []float64) { f(x, grad) })
	if err := ctx.Err(); err != nil {
		return Model{}, err
	}

	// BFGS with the analytic gradient usually converges from the default
	// start in a few dozen iterations; when it does not, Nelder–Mead (which
	// copes with the +Inf walls and flat regions) finds the basin and BFGS
	// polishes from there.
	bfgs := func(from []float64) (*optimize.Result, bool) {
		// A line-search failure comes back as an error with a usable
		// result; only the result and its status are judged here.
		res, _ := optimize.Minimize(problem, from, &optimize.Settings{
			MajorIterations:   maxIter,
			GradientThreshold: 1e-9,
			Converger:         &optimize.FunctionConverge{Absolute: 1e-13, Relative: 1e-15, Iterations: 20},
		}, &optimize.BFGS{})
		if res == nil {
			return nil, false
		}
		ok := !math.IsInf(res.F, 0) && !math.IsNaN(res.F) &&
			(res.Status == optimize.GradientThreshold || res.Status == optimize.FunctionConvergence ||
				// BFGS may stop on a line-search failure right at the
				// optimum; accept that when the gradient is already tiny.
				res.Gradient != nil && mle.MaxAbs(res.Gradient) < 1e-5)
		return res, ok
	}
	var (
		res *optimize.Result
		ok  bool
	)
	if !nelderMeadFirst {
		res, ok = bfgs(x0)
	}
	if cerr := ctx.Err(); cerr != nil {
		return Model{}, cerr
	}
	iters, status := 0, optimize.NotTerminated
	if res != nil {
		iters, status = res.MajorIterations, res.Status
	}
	if !ok {
		nm, err := optimize.Minimize(problem, x0, &optimize.Settings{
			MajorIterations: maxIter,
			Converger:       &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-12, Iterations: 50},
		}, &optimize.NelderMead{})
		if cerr := ctx.Err(); cerr != nil {
			return Model{}, cerr
		}
		if nm == nil {
			return Model{}, fmt.Errorf("bgnbd: Nelder–Mead: %w", err)
		}
		iters += nm.MajorIterations
		res, ok = bfgs(nm.X)
		if cerr := ctx.Err(); cerr != nil {
			return Model{}, cerr
		}
		if res == nil || !(res.F <= nm.F) {
			res, ok = nm, nm.Status == optimize.FunctionConvergence
		} else {
			iters += res.MajorIterations
		}
		status = res.Status
	}
	out, err := finish(f, gs, res.X, len(cs), iters, ok, status)
	diagnose(&out, gs, err)
	return out, err
}

// finish builds the Model at the optimum best and judges it.
func finish(f func(x, grad []float64) float64, gs []group, best []float64, n, iters int, ok bool, status optimize.Status) (Model, error) {
	p := fromLog(best)
	out := Model{Params: p, Fit: fitdiag.Fit{LogLikelihood: objective(gs, p, nil), Customers: n, Iterations: iters}}
	if math.IsNaN(out.LogLikelihood) || math.IsInf(out.LogLikelihood, 0) {
		return out, fmt.Errorf("%w: log-likelihood %v at %+v", ErrNotConverged, out.LogLikelihood, p)
	}
	for _, v := range best {
		if math.Abs(v) > logBound {
			return out, fmt.Errorf("%w: degenerate optimum %+v (a parameter runs off to 0 or ∞; try FitOptions.Penalizer)", ErrNotConverged, p)
		}
	}
	if !ok {
		return out, fmt.Errorf("%w: optimiser stopped (%v) at %+v", ErrNotConverged, status, p)
	}
	if ev := minCurvature(f, best); !(ev > minCurvatureTol) {
		return out, fmt.Errorf("%w: parameters not identified by the data at %+v (smallest curvature %.3g; try FitOptions.Penalizer)", ErrNotConverged, p, ev)
	}
	return out, nil
}

// nelderMeadFirst makes Fit skip the first BFGS attempt (tests use it to
// exercise the Nelder–Mead path).
var nelderMeadFirst = false

// minCurvatureTol is the smallest Hessian eigenvalue of the mean negative
// log-likelihood per customer (in log-parameters) accepted at an optimum.
// Interior optima of real data sets have eigenvalues of order 1e-3..1;
// parameters drifting to a boundary along a flat ridge give ≈ 0.
const minCurvatureTol = 1e-6

// minCurvature returns the smallest eigenvalue of the Hessian of f at x,
// by central differences of its gradient.
func minCurvature(f func(x, grad []float64) float64, x []float64) float64 {
	const h = 1e-4
	n := len(x)
	h2 := mat.NewSymDense(n, nil)
	gp, gm := make([]float64, n), make([]float64, n)
	xx := make([]float64, n)
	cols := make([][]float64, n)
	for i := range n {
		copy(xx, x)
		xx[i] = x[i] + h
		f(xx, gp)
		xx[i] = x[i] - h
		f(xx, gm)
		cols[i] = make([]float64, n)
		for j := range n {
			cols[i][j] = (gp[j] - gm[j]) / (2 * h)
		}
	}
	for i := range n {
		for j := i; j < n; j++ {
			h2.SetSym(i, j, (cols[i][j]+cols[j][i])/2)
		}
	}
	var es mat.EigenSym
	if !es.Factorize(h2, false) {
		return math.NaN()
	}
	return slices.Min(es.Values(nil))
}
