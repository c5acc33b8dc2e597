// Package mle holds the pieces of maximum-likelihood fitting that the
// customer-base models (projections/bgnbd, projections/paretonbd,
// projections/gammagamma) share: the numeric helpers of their
// log-likelihoods, an optimisation problem that stops when its context is
// cancelled, and the Nelder–Mead search polished by BFGS that paretonbd and
// gammagamma run over their log-parameters. Each model keeps its own
// likelihood, tolerances and judgement of the optimum.
package mle

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/optimize"
)

// Lgamma is log|Γ(x)|.
func Lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// LogSumExp returns log(e^u + e^v) without overflow.
func LogSumExp(u, v float64) float64 {
	if u < v {
		u, v = v, u
	}
	if math.IsInf(u, -1) {
		return u
	}
	return u + math.Log1p(math.Exp(v-u))
}

// Positive reports whether every value is finite and strictly positive
// (what a model's Params.Valid asks of its parameters).
func Positive(vs ...float64) bool {
	for _, v := range vs {
		if !(v > 0) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// MaxAbs is the largest |v_i| (0 for an empty v).
func MaxAbs(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// Problem is the minimisation of f with gradient grad that fails with ctx's
// error as soon as ctx is done.
func Problem(ctx context.Context, f func(x []float64) float64, grad func(grad, x []float64)) optimize.Problem {
	return optimize.Problem{
		Func: f,
		Grad: grad,
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
}

// CentralGradient is the central-difference gradient of f (step 1e-6).
func CentralGradient(f func(x []float64) float64) func(grad, x []float64) {
	return func(grad, x []float64) { fd.Gradient(grad, f, x, &fd.Settings{Formula: fd.Central, Step: 1e-6}) }
}

// Stages are the tolerances of [NelderMeadBFGS].
type Stages struct {
	// NelderMead is the convergence test of the Nelder–Mead search (at most
	// 5000 iterations).
	NelderMead optimize.FunctionConverge
	// GradientThreshold and BFGS stop the BFGS polish (at most 500
	// iterations).
	GradientThreshold float64
	BFGS              optimize.FunctionConverge
}

// Result is the outcome of [NelderMeadBFGS].
type Result struct {
	// Best is the better of the two stages' results.
	Best *optimize.Result
	// Iterations is the major iterations of the stages that counted.
	Iterations int
	// NelderMeadConverged reports whether Nelder–Mead met its convergence
	// test.
	NelderMeadConverged bool
	// Polished is the BFGS result when it improved on Nelder–Mead (then
	// Best), nil otherwise.
	Polished *optimize.Result
	// Why is the status of the stage that gave Best.
	Why string
}

// NelderMeadBFGS minimises problem from x0 with Nelder–Mead and polishes its
// optimum with BFGS, keeping the polish only when it is finite and no worse.
// Errors: ctx's error when it is done; "PKG: Nelder–Mead: …" when that
// search gives no result.
func NelderMeadBFGS(ctx context.Context, pkg string, problem optimize.Problem, x0 []float64, s Stages) (Result, error) {
	nelderMead := s.NelderMead
	nm, err := optimize.Minimize(problem, x0, &optimize.Settings{
		MajorIterations: 5000,
		Converger:       &nelderMead,
	}, &optimize.NelderMead{})
	if cerr := ctx.Err(); cerr != nil {
		return Result{}, cerr
	}
	if nm == nil {
		return Result{}, fmt.Errorf("%s: Nelder–Mead: %w", pkg, err)
	}
	r := Result{Best: nm, Iterations: nm.MajorIterations,
		NelderMeadConverged: nm.Status == optimize.FunctionConvergence, Why: nm.Status.String()}
	bfgs := s.BFGS
	if bf, _ := optimize.Minimize(problem, nm.X, &optimize.Settings{
		MajorIterations:   500,
		GradientThreshold: s.GradientThreshold,
		Converger:         &bfgs,
	}, &optimize.BFGS{}); bf != nil && bf.F <= nm.F && !math.IsInf(bf.F, 0) {
		r.Best, r.Polished = bf, bf
		r.Iterations += bf.MajorIterations
		r.Why = bf.Status.String()
	}
	if cerr := ctx.Err(); cerr != nil {
		return Result{}, cerr
	}
	return r, nil
}

// MinimizeLog minimises f over log-parameters by [NelderMeadBFGS], from
// the log of init and with f's central-difference gradient.
func MinimizeLog(ctx context.Context, pkg string, f func(x []float64) float64, init []float64, s Stages) (Result, error) {
	return NelderMeadBFGS(ctx, pkg, Problem(ctx, f, CentralGradient(f)), Log(init), s)
}

// Group is a set of customers with the same calibration summary (x repeat
// transactions, the last at t_x, age T), weighted by their number W.
type Group struct{ X, TX, T, W float64 }

// Aggregate validates the customers' summaries (fields gives customer c's
// x, t_x and T) and collapses identical ones into groups sorted by (x, t_x,
// T). With clampTX a t_x after T within the tolerance (rounding) becomes T.
// Errors: none for no customers; "PKG: customer I: …" naming the field and
// the rule for a non-finite field, x not a non-negative whole number, a
// negative time, or t_x after T.
func Aggregate[C any](pkg string, cs []C, fields func(c C) (x, tx, T float64), clampTX bool, none error) ([]Group, error) {
	if len(cs) == 0 {
		return nil, none
	}
	gs := make([]Group, 0, len(cs))
	for i, c := range cs {
		x, tx, T := fields(c)
		switch {
		case math.IsNaN(x) || math.IsNaN(tx) || math.IsNaN(T) ||
			math.IsInf(x, 0) || math.IsInf(tx, 0) || math.IsInf(T, 0):
			return nil, fmt.Errorf("%s: customer %d: non-finite field (x=%v t_x=%v T=%v)", pkg, i, x, tx, T)
		case x < 0 || x != math.Trunc(x):
			return nil, fmt.Errorf("%s: customer %d: x=%v must be a non-negative whole number", pkg, i, x)
		case tx < 0 || T < 0:
			return nil, fmt.Errorf("%s: customer %d: negative time (t_x=%v T=%v)", pkg, i, tx, T)
		case tx > T*(1+1e-9)+1e-12:
			return nil, fmt.Errorf("%s: customer %d: t_x=%v after the calibration end T=%v", pkg, i, tx, T)
		}
		if clampTX {
			tx = math.Min(tx, T)
		}
		gs = append(gs, Group{X: x, TX: tx, T: T, W: 1})
	}
	slices.SortFunc(gs, func(p, q Group) int {
		return cmp.Or(cmp.Compare(p.X, q.X), cmp.Compare(p.TX, q.TX), cmp.Compare(p.T, q.T))
	})
	out := gs[:1]
	for _, g := range gs[1:] {
		if last := &out[len(out)-1]; g.X == last.X && g.TX == last.TX && g.T == last.T {
			last.W++
			continue
		}
		out = append(out, g)
	}
	return out, nil
}
