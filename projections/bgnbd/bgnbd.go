package bgnbd

import (
	"math"

	"github.com/journey-cdp/journey/projections/internal/mle"
)

// Customer is the BG/NBD summary of one customer's purchase history over a
// calibration period, in model time units (see [FromPurchaseDays]).
type Customer struct {
	// X is the number of repeat transactions (purchases after the first).
	X float64 `json:"x"`
	// TX is the time of the last purchase, measured from the first purchase
	// (0 when X = 0).
	TX float64 `json:"t_x"`
	// T is the customer's age at the end of the calibration period: the time
	// from the first purchase to the calibration end.
	T float64 `json:"T"`
}

// Params are the four BG/NBD parameters. Transaction rates λ are
// Gamma(R, Alpha) distributed across customers (shape R, rate Alpha, so Alpha
// is in model time units); dropout probabilities p are Beta(A, B).
type Params struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
}

// Valid reports whether all four parameters are finite and strictly positive.
func (p Params) Valid() bool { return mle.Positive(p.R, p.Alpha, p.A, p.B) }

// customerLL is the log of eq. 6 of Fader, Hardie & Lee (2005) for one
// customer:
//
//	L = B(a,b+x)/B(a,b) · Γ(r+x)α^r / (Γ(r)(α+T)^(r+x))
//	  + δ(x>0) · B(a+1,b+x−1)/B(a,b) · Γ(r+x)α^r / (Γ(r)(α+t_x)^(r+x))
//
// written as A1 + A2 + log(e^A3 + δ e^A4) with the common factor
// B(a,b+x)/B(a,b) pulled out (B(a+1,b+x−1)/B(a,b+x) = a/(b+x−1)).
// lgr = mle.Lgamma(r), lab = mle.Lgamma(a+b), lb = mle.Lgamma(b), la = log(a), lal = log(α)
// are hoisted by the caller.
func customerLL(p Params, x, tx, T, lgr, lab, lb, la, lal float64) float64 {
	rx := p.R + x
	a1 := mle.Lgamma(rx) - lgr + p.R*lal
	a2 := lab + mle.Lgamma(p.B+x) - lb - mle.Lgamma(p.A+p.B+x)
	a3 := -rx * math.Log(p.Alpha+T)
	if x > 0 {
		a4 := la - math.Log(p.B+x-1) - rx*math.Log(p.Alpha+tx)
		return a1 + a2 + mle.LogSumExp(a3, a4)
	}
	return a1 + a2 + a3
}

// LogLikelihood returns the BG/NBD log-likelihood of the customers under p:
// the sum over customers of the log of eq. 6 of Fader, Hardie & Lee (2005),
// computed in log space (lgamma and log-sum-exp) so it stays finite for large
// x and T. It returns -Inf when p is not [Params.Valid] and NaN when a
// customer has non-finite or negative fields.
func LogLikelihood(p Params, cs []Customer) float64 {
	if !p.Valid() {
		return math.Inf(-1)
	}
	lgr, lab, lb := mle.Lgamma(p.R), mle.Lgamma(p.A+p.B), mle.Lgamma(p.B)
	la, lal := math.Log(p.A), math.Log(p.Alpha)
	var sum float64
	for _, c := range cs {
		if !(c.X >= 0 && c.TX >= 0 && c.T >= 0) || math.IsInf(c.X+c.TX+c.T, 0) {
			return math.NaN()
		}
		sum += customerLL(p, c.X, c.TX, c.T, lgr, lab, lb, la, lal)
	}
	return sum
}

// ExpectedTransactions returns E[X(t)], the expected number of transactions
// in a period of length t (model time units) of a randomly chosen customer
// whose first purchase is at time 0 (eq. 7 of Fader, Hardie & Lee 2005):
//
//	E[X(t)] = (a+b−1)/(a−1) · [1 − (α/(α+t))^r · 2F1(r, b; a+b−1; t/(α+t))]
//
// The product (α/(α+t))^r·2F1 is evaluated through Euler's transformation as
// (1−z)^(a−1)·2F1(a+b−1−r, a−1; a+b−1; z), which keeps the series small for
// large t. The formula is singular at a = 1 (NaN there); it returns 0 for
// t ≤ 0 and NaN for invalid params or t.
func (p Params) ExpectedTransactions(t float64) float64 {
	if !p.Valid() || math.IsNaN(t) {
		return math.NaN()
	}
	if t <= 0 {
		return 0
	}
	z := t / (p.Alpha + t)
	c := p.A + p.B - 1
	rest := math.Exp((p.A-1)*math.Log(p.Alpha/(p.Alpha+t))) * hyp2f1(c-p.R, p.A-1, c, z)
	return c / (p.A - 1) * (1 - rest)
}

// ConditionalExpected returns E[Y(t) | x, t_x, T], the expected number of
// transactions in the next t time units of customer c (eq. 10 of Fader,
// Hardie & Lee 2005):
//
//	E[Y(t)|x,t_x,T] = (a+b+x−1)/(a−1)
//	    · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(α+T+t))]
//	    / [1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)]
//
// The power-times-2F1 term is evaluated through Euler's transformation as
// (1−z)^(a−1)·2F1(a+b−1−r, a−1; a+b+x−1; z), which stays well conditioned for
// customers with many transactions. Singular at a = 1 (NaN there); returns 0
// for t ≤ 0 and NaN for invalid params or inputs.
func (p Params) ConditionalExpected(t float64, c Customer) float64 {
	if !p.Valid() || math.IsNaN(t) || !(c.X >= 0 && c.TX >= 0 && c.T >= 0) {
		return math.NaN()
	}
	if t <= 0 {
		return 0
	}
	z := t / (p.Alpha + c.T + t)
	cc := p.A + p.B + c.X - 1
	rest := math.Exp((p.A-1)*math.Log((p.Alpha+c.T)/(p.Alpha+c.T+t))) *
		hyp2f1(p.A+p.B-1-p.R, p.A-1, cc, z)
	num := cc / (p.A - 1) * (1 - rest)
	return num * p.PAlive(c)
}

// PAlive returns P(alive | x, t_x, T), the probability that customer c has
// not dropped out by the end of the calibration period (Fader, Hardie & Lee,
// "Computing P(alive) using the BG/NBD model", the note accompanying the 2005
// paper; the same formula as lifetimes' conditional_probability_alive):
//
//	P(alive) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
//
// It is 1 for customers without repeat purchases (the model lets customers
// drop out only right after a purchase) and is computed as a logistic of a
// log-odds, so it neither overflows nor underflows to NaN. NaN for invalid
// params or inputs.
func (p Params) PAlive(c Customer) float64 {
	if !p.Valid() || !(c.X >= 0 && c.TX >= 0 && c.T >= 0) {
		return math.NaN()
	}
	if c.X == 0 {
		return 1
	}
	logOdds := math.Log(p.A) - math.Log(p.B+c.X-1) +
		(p.R+c.X)*(math.Log(p.Alpha+c.T)-math.Log(p.Alpha+c.TX))
	// 1/(1+e^L), stable for large |L|.
	if logOdds > 0 {
		e := math.Exp(-logOdds)
		return e / (1 + e)
	}
	return 1 / (1 + math.Exp(logOdds))
}
