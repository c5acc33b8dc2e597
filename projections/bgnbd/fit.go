package bgnbd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

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
	// LogLikelihood is the (unpenalised) log-likelihood at Params.
	LogLikelihood float64 `json:"log_likelihood"`
	// Customers is the number of customers fitted.
	Customers int `json:"customers"`
	// Iterations is the total number of major optimiser iterations.
	Iterations int `json:"iterations"`
}

// group is a set of customers with identical (x, t_x, T), weighted by count.
type group struct {
	x, tx, T, w float64
}

// aggregate validates cs and collapses identical (X, TX, T) triples.
func aggregate(cs []Customer) ([]group, error) {
	if len(cs) == 0 {
		return nil, ErrNoCustomers
	}
	gs := make([]group, 0, len(cs))
	for i, c := range cs {
		switch {
		case math.IsNaN(c.X) || math.IsNaN(c.TX) || math.IsNaN(c.T) ||
			math.IsInf(c.X, 0) || math.IsInf(c.TX, 0) || math.IsInf(c.T, 0):
			return nil, fmt.Errorf("bgnbd: customer %d: non-finite field (x=%v t_x=%v T=%v)", i, c.X, c.TX, c.T)
		case c.X < 0 || c.X != math.Trunc(c.X):
			return nil, fmt.Errorf("bgnbd: customer %d: x=%v must be a non-negative whole number", i, c.X)
		case c.TX < 0 || c.T < 0:
			return nil, fmt.Errorf("bgnbd: customer %d: negative time (t_x=%v T=%v)", i, c.TX, c.T)
		case c.TX > c.T*(1+1e-9)+1e-12:
			return nil, fmt.Errorf("bgnbd: customer %d: t_x=%v after the calibration end T=%v", i, c.TX, c.T)
		}
		gs = append(gs, group{x: c.X, tx: c.TX, T: c.T, w: 1})
	}
	slices.SortFunc(gs, func(p, q group) int {
		return cmp.Or(cmp.Compare(p.x, q.x), cmp.Compare(p.tx, q.tx), cmp.Compare(p.T, q.T))
	})
	out := gs[:1]
	for _, g := range gs[1:] {
		last := &out[len(out)-1]
		if g.x == last.x && g.tx == last.tx && g.T == last.T {
			last.w++
			continue
		}
		out = append(out, g)
	}
	return out, nil
}

// objective evaluates the weighted log-likelihood of the groups and its
// gradient with respect to the log-parameters (log r, log α, log a, log b).
// grad may be nil.
func objective(gs []group, p Params, grad []float64) float64 {
	lgr, lab, lb := lgamma(p.R), lgamma(p.A+p.B), lgamma(p.B)
	la, lal := math.Log(p.A), math.Log(p.Alpha)
	var ll float64
	if grad == nil {
		for _, g := range gs {
			ll += g.w * customerLL(p, g.x, g.tx, g.T, lgr, lab, lb, la, lal)
		}
		return ll
	}
	psiR, psiAB, psiB := mathext.Digamma(p.R), mathext.Digamma(p.A+p.B), mathext.Digamma(p.B)
	var dr, dal, da, db float64
	for _, g := range gs {
		rx := p.R + g.x
		psiABX := mathext.Digamma(p.A + p.B + g.x)
		a1 := lgamma(rx) - lgr + p.R*lal
		a2 := lab + lgamma(p.B+g.x) - lb - lgamma(p.A+p.B+g.x)
		lT := math.Log(p.Alpha + g.T)
		a3 := -rx * lT
		// Derivatives of A1 + A2 + A3.
		gr := mathext.Digamma(rx) - psiR + lal - lT
		gal := p.R/p.Alpha - rx/(p.Alpha+g.T)
		ga := psiAB - psiABX
		gb := psiAB + mathext.Digamma(p.B+g.x) - psiB - psiABX
		l := a1 + a2 + a3
		if g.x > 0 {
			ltx := math.Log(p.Alpha + g.tx)
			a4 := la - math.Log(p.B+g.x-1) - rx*ltx
			lse := logSumExp(a3, a4)
			l = a1 + a2 + lse
			// Weight of the D-term in the log-sum-exp; the A3 derivatives
			// above are replaced by the mixture w3·dA3 + w4·dA4.
			w4 := math.Exp(a4 - lse)
			gr += w4 * (lT - ltx)
			gal += w4 * (rx/(p.Alpha+g.T) - rx/(p.Alpha+g.tx))
			ga += w4 / p.A
			gb -= w4 / (p.B + g.x - 1)
		}
		ll += g.w * l
		dr += g.w * gr
		dal += g.w * gal
		da += g.w * ga
		db += g.w * gb
	}
	grad[0], grad[1], grad[2], grad[3] = dr*p.R, dal*p.Alpha, da*p.A, db*p.B
	return ll
}

func fromLog(x []float64) Params {
	return Params{R: math.Exp(x[0]), Alpha: math.Exp(x[1]), A: math.Exp(x[2]), B: math.Exp(x[3])}
}

// logBound is the |log θ| beyond which a fit is reported as degenerate.
const logBound = 25

// Fit estimates the BG/NBD parameters by maximum likelihood. The optimiser
// works on the log-parameters (so they stay positive): Nelder–Mead from the
// starting point, then BFGS with the analytic gradient to polish.
// Customers with identical (X, TX, T) are aggregated first, so the cost of an
// evaluation grows with the number of distinct histories, not customers.
//
// Errors: [ErrNoCustomers] for empty input; a descriptive error for a
// customer with non-finite, negative or non-integer X, or TX > T; ctx's
// error when it is cancelled; [ErrNotConverged] (wrapped, with the best
// parameters found in the returned Fit) when the optimum was not reached.
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
			sx += g.w * (g.x + 1)
			sT += g.w * g.T
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
	x0 := []float64{math.Log(init.R), math.Log(init.Alpha), math.Log(init.A), math.Log(init.B)}

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
	problem := optimize.Problem{
		Func: func(x []float64) float64 { return f(x, nil) },
		Grad: func(grad, x []float64) { f(x, grad) },
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	if err := ctx.Err(); err != nil {
		return Model{}, err
	}

	nm, err := optimize.Minimize(problem, x0, &optimize.Settings{
		MajorIterations: maxIter,
		Converger:       &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-12, Iterations: 50},
	}, &optimize.NelderMead{})
	if cerr := ctx.Err(); cerr != nil {
		return Model{}, cerr
	}
	if err != nil && nm == nil {
		return Model{}, fmt.Errorf("bgnbd: Nelder–Mead: %w", err)
	}
	iters := nm.MajorIterations
	best := nm.X

	bf, err := optimize.Minimize(problem, best, &optimize.Settings{
		MajorIterations:   maxIter,
		GradientThreshold: 1e-9,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-13, Relative: 1e-15, Iterations: 20},
	}, &optimize.BFGS{})
	if cerr := ctx.Err(); cerr != nil {
		return Model{}, cerr
	}
	converged := nm.Status != optimize.IterationLimit
	status := nm.Status
	if bf != nil {
		status = bf.Status
		iters += bf.MajorIterations
		if bf.F <= nm.F {
			best = bf.X
			// BFGS may stop on a line-search failure right at the optimum;
			// accept that when the gradient is already tiny.
			converged = bf.Status == optimize.GradientThreshold ||
				bf.Status == optimize.FunctionConvergence ||
				(bf.Gradient != nil && maxAbs(bf.Gradient) < 1e-5)
		}
	}
	p := fromLog(best)
	out := Model{Params: p, LogLikelihood: objective(gs, p, nil), Customers: len(cs), Iterations: iters}
	if math.IsNaN(out.LogLikelihood) || math.IsInf(out.LogLikelihood, 0) {
		return out, fmt.Errorf("%w: log-likelihood %v at %+v", ErrNotConverged, out.LogLikelihood, p)
	}
	for _, v := range best {
		if math.Abs(v) > logBound {
			return out, fmt.Errorf("%w: degenerate optimum %+v (a parameter runs off to 0 or ∞; try FitOptions.Penalizer)", ErrNotConverged, p)
		}
	}
	if !converged {
		return out, fmt.Errorf("%w: optimiser stopped (%v) at %+v", ErrNotConverged, status, p)
	}
	return out, nil
}

func maxAbs(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}
