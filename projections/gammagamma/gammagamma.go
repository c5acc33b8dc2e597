// Package gammagamma implements the Gamma-Gamma model of the average value
// of a customer's transactions, from
//
//	P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "RFM and CLV: Using
//	Iso-Value Curves for Customer Base Analysis", Journal of Marketing
//	Research 42(4):415–430, and B. G. S. Hardie's note "The Gamma-Gamma
//	Model of Monetary Value" (2013),
//
// and the discounted customer lifetime value that combines it with a
// transaction model (BG/NBD or Pareto/NBD), as lifetimes'
// GammaGammaFitter.customer_lifetime_value computes it.
//
// # Model
//
// A customer's transaction values z_1..z_x are Gamma(p, ν) with ν ~
// Gamma(q, γ) across customers, independent of the transaction process. It
// is fitted on the customers with at least one repeat transaction, from x
// (the number of repeat transactions) and m̄ (their mean value); the first
// purchase is left out, as in the paper. The likelihood of one customer
// (Hardie's note, eq. 3, dropping the factor 1/(m̄ Γ) common to all fits):
//
//	L = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m̄^(px−1) · x^(px) / (γ + m̄x)^(px+q)
//
// and the expected average transaction value of a customer (eq. 5):
//
//	E[M | x, m̄] = (q−1)/(px+q−1) · pγ/(q−1) + px/(px+q−1) · m̄
//	            = p (γ + x m̄) / (px + q − 1)
//
// which for a customer without repeat purchases is the population mean
// pγ/(q−1) (finite only for q > 1).
//
// # Money
//
// Amounts come in exact, in integer minor units of one currency
// ([FromMinor]); the model works in major units as float64; values going
// out are rounded to the currency's minor unit with [RoundMinor] (half away
// from zero). Mixing currencies is refused by the callers (one currency
// per fit).
package gammagamma

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/fitdiag"
	"github.com/journey-cdp/journey/projections/internal/mle"
	"gonum.org/v1/gonum/optimize"
)

// Customer is one customer's repeat transactions: X of them (≥ 1 to enter
// a fit), with mean value Mean in major units (> 0).
type Customer struct {
	X    float64 `json:"frequency"`
	Mean float64 `json:"monetary_value"`
}

// FromMinor summarises repeat transactions of a customer whose values are
// in minor units of a currency with exponent exp (2 for EUR): X = len,
// Mean = Σ/len / 10^exp. The sum is exact (int64); an empty list gives the
// zero Customer.
func FromMinor(repeat []int64, exp int) Customer {
	if len(repeat) == 0 {
		return Customer{}
	}
	var s int64
	for _, v := range repeat {
		s += v
	}
	return Customer{X: float64(len(repeat)), Mean: float64(s) / float64(len(repeat)) / math.Pow10(exp)}
}

// RoundMinor rounds a value in major units to minor units of a currency
// with exponent exp, half away from zero (12.345 EUR → 1235).
func RoundMinor(v float64, exp int) int64 {
	return int64(math.Round(v * math.Pow10(exp)))
}

// Params are p, q and γ.
type Params struct {
	P     float64 `json:"p"`
	Q     float64 `json:"q"`
	Gamma float64 `json:"gamma"`
}

// Names are the parameter names in the order of [Params.Slice].
var Names = []string{"p", "q", "gamma"}

// Slice returns [p, q, γ].
func (p Params) Slice() []float64 { return []float64{p.P, p.Q, p.Gamma} }

func fromSlice(v []float64) Params { return Params{P: v[0], Q: v[1], Gamma: v[2]} }

// Valid reports whether all parameters are finite and > 0.
func (p Params) Valid() bool { return mle.Positive(p.Slice()...) }

// LogLikelihood is the Gamma-Gamma log-likelihood of the customers (as
// lifetimes computes it, without the constant −Σ log m̄ − ... terms that do
// not depend on the parameters: see the package documentation). Customers
// with X = 0 are skipped. −Inf for invalid params, NaN for invalid input.
func LogLikelihood(p Params, cs []Customer) float64 {
	if !p.Valid() {
		return math.Inf(-1)
	}
	var s float64
	lq, lg := mle.Lgamma(p.Q), math.Log(p.Gamma)
	for _, c := range cs {
		if c.X == 0 {
			continue
		}
		if !(c.X > 0 && c.Mean > 0) || math.IsInf(c.X+c.Mean, 0) {
			return math.NaN()
		}
		px := p.P * c.X
		s += mle.Lgamma(px+p.Q) - mle.Lgamma(px) - lq + p.Q*lg + (px-1)*math.Log(c.Mean) + px*math.Log(c.X) - (px+p.Q)*math.Log(p.Gamma+c.Mean*c.X)
	}
	return s
}

// ExpectedAverageValue returns E[M | x, m̄] (major units; m̄ = 0, repeat
// purchases of no value, shrinks towards 0): the population
// mean pγ/(q−1) for x = 0; NaN when q ≤ 1 (the mean does not exist) or for
// invalid input.
func (p Params) ExpectedAverageValue(c Customer) float64 {
	if !p.Valid() || !(p.Q > 1) || c.X < 0 || c.X > 0 && !(c.Mean >= 0) {
		return math.NaN()
	}
	px := p.P * c.X
	return p.P * (p.Gamma + c.X*c.Mean) / (px + p.Q - 1)
}

// PopulationMean is pγ/(q−1), the mean transaction value across customers.
func (p Params) PopulationMean() float64 { return p.ExpectedAverageValue(Customer{}) }

// Predictor is a transaction model: E[Y(t) | x, t_x, T] of a customer over
// the next t model time units ([bgnbd.Params] and paretonbd.Params are).
type Predictor interface {
	ConditionalExpected(t float64, c bgnbd.Customer) float64
}

// DaysPerMonth is the month of [CLV] (lifetimes' 30 days).
const DaysPerMonth = 30

// CLV returns the discounted lifetime value over months months of a
// customer c (transaction summary in model units of unitDays days) whose
// expected average transaction value is value (major units), with monthly
// discount rate d (0.01 = 1% a month):
//
//	CLV = Σ_{m=1..months} value · (E[Y(30m days)] − E[Y(30(m−1) days)]) / (1+d)^m
//
// the formula of lifetimes' customer_lifetime_value (a month is 30 days).
// NaN for invalid input.
func CLV(model Predictor, c bgnbd.Customer, value float64, months int, d, unitDays float64) float64 {
	if months < 0 || !(d > -1) || !(unitDays > 0) || math.IsNaN(value) {
		return math.NaN()
	}
	var clv, prev float64
	for m := 1; m <= months; m++ {
		e := model.ConditionalExpected(float64(m)*DaysPerMonth/unitDays, c)
		clv += value * (e - prev) / math.Pow(1+d, float64(m))
		prev = e
	}
	return clv
}

// ErrNoCustomers is returned by [Fit] when no customer has a repeat
// transaction.
var ErrNoCustomers = errors.New("gammagamma: no customers with repeat transactions to fit")

// ErrNotConverged is returned (wrapped, with the best Model) when the fit
// did not reach a strict maximum.
var ErrNotConverged = errors.New("gammagamma: fit did not converge")

// Model is a fitted Gamma-Gamma model.
type Model struct {
	Params
	fitdiag.Fit
}

// stages are Fit's tolerances: the Nelder–Mead search over log p, log q,
// log γ, then its BFGS polish.
var stages = mle.Stages{
	NelderMead:        optimize.FunctionConverge{Absolute: 1e-11, Relative: 1e-13, Iterations: 100},
	GradientThreshold: 1e-8,
	BFGS:              optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-15, Iterations: 20},
}

// Fit estimates p, q, γ by maximum likelihood on the customers with X ≥ 1
// (the others are skipped), over the log-parameters from init (zero: p = q
// = γ = 1; lifetimes starts there too) with Nelder–Mead polished by BFGS on
// a central-difference gradient, and attaches [fitdiag.Diagnostics].
func Fit(ctx context.Context, cs []Customer, init Params) (Model, error) {
	var rep []Customer
	for i, c := range cs {
		switch {
		case math.IsNaN(c.X+c.Mean) || math.IsInf(c.X+c.Mean, 0):
			return Model{}, fmt.Errorf("gammagamma: customer %d: non-finite field (frequency=%v monetary_value=%v)", i, c.X, c.Mean)
		case c.X < 0 || c.X != math.Trunc(c.X):
			return Model{}, fmt.Errorf("gammagamma: customer %d: frequency=%v must be a non-negative whole number", i, c.X)
		case c.X > 0 && !(c.Mean > 0):
			return Model{}, fmt.Errorf("gammagamma: customer %d: monetary_value=%v must be > 0 (the model is for positive spend)", i, c.Mean)
		case c.X > 0:
			rep = append(rep, c)
		}
	}
	if len(rep) == 0 {
		return Model{}, ErrNoCustomers
	}
	if init == (Params{}) {
		init = Params{P: 1, Q: 1, Gamma: 1}
	}
	if !init.Valid() {
		return Model{}, fmt.Errorf("gammagamma: invalid initial parameters %+v", init)
	}
	f := mle.LogObjective(3, 50, float64(len(rep)), func(th []float64) float64 { return LogLikelihood(fromSlice(th), rep) })
	r, err := mle.MinimizeLog(ctx, "gammagamma", f, init.Slice(), stages)
	if err != nil {
		return Model{}, err
	}
	res, iters, converged, why := r.Best, r.Iterations, r.NelderMeadConverged, r.Why
	if mle.Degenerate(res.X, 25) {
		converged, why = false, "degenerate optimum (a parameter runs off to 0 or ∞)"
	}
	p := fromSlice(mle.Exp(res.X))
	m := Model{Params: p, Fit: fitdiag.Fit{LogLikelihood: LogLikelihood(p, rep), Customers: len(rep), Iterations: iters}}
	m.Diagnostics = fitdiag.Compute(Names, p.Slice(), func(t []float64) float64 { return LogLikelihood(fromSlice(t), rep) },
		len(rep), iters, converged, why)
	if !(p.Q > 1) {
		m.Diagnostics.Warnings = append(m.Diagnostics.Warnings, fmt.Sprintf("q = %.4g ≤ 1: the mean transaction value pγ/(q−1) does not exist", p.Q))
	}
	if !m.Diagnostics.OK() {
		return m, fmt.Errorf("%w: %v", ErrNotConverged, m.Diagnostics.Warnings)
	}
	return m, nil
}
