package mle

import "math"

// LogObjective is the function paretonbd and gammagamma minimise over the
// log-parameters x = log θ (k of them): the mean negative log-likelihood
// −ll(θ)/n, or +Inf where some |x_i| exceeds bound or is NaN, or where ll
// is NaN or +Inf. θ is a buffer reused from call to call: ll must not keep it. The
// function is not safe for concurrent use.
func LogObjective(k int, bound, n float64, ll func(theta []float64) float64) func(x []float64) float64 {
	th := make([]float64, k)
	return func(x []float64) float64 {
		for i, v := range x {
			if math.Abs(v) > bound || math.IsNaN(v) {
				return math.Inf(1)
			}
			th[i] = math.Exp(v)
		}
		v := -ll(th) / n
		// A log-likelihood of +Inf is an overflow of its terms, never a
		// maximum: the optimiser must not run to it.
		if math.IsNaN(v) || math.IsInf(v, -1) {
			return math.Inf(1)
		}
		return v
	}
}

// Exp returns a new slice of e^x_i: the parameters θ of log-parameters x.
func Exp(x []float64) []float64 {
	th := make([]float64, len(x))
	for i, v := range x {
		th[i] = math.Exp(v)
	}
	return th
}

// Log returns a new slice of log θ_i: the log-parameters of θ.
func Log(theta []float64) []float64 {
	x := make([]float64, len(theta))
	for i, v := range theta {
		x[i] = math.Log(v)
	}
	return x
}

// Degenerate reports whether some log-parameter has |x_i| > bound: an
// optimum where a parameter runs off to 0 or ∞.
func Degenerate(x []float64, bound float64) bool {
	for _, v := range x {
		if math.Abs(v) > bound {
			return true
		}
	}
	return false
}
