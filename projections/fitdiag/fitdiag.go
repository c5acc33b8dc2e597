// Package fitdiag computes the fit diagnostics shared by the customer-base
// models (projections/bgnbd, projections/paretonbd, projections/gammagamma):
// standard errors and 95% Wald intervals of the maximum-likelihood estimates
// from the Hessian of the log-likelihood at the optimum, together with the
// log-likelihood, the optimiser's iterations and convergence, and warnings
// when the fit is not to be trusted.
//
// The Hessian is taken numerically (central differences, gonum's
// diff/fd.Hessian) in the log-parameters φ = log θ, where all parameters
// have the same scale; at an optimum the gradient vanishes, so the observed
// information in θ is J·H_φ·J with J = diag(1/θ), and
//
//	Cov(θ̂) = diag(θ̂) · (−H_φ)⁻¹ · diag(θ̂),   SE(θ̂_i) = θ̂_i · SE(φ̂_i).
//
// The 95% interval is θ̂ ± 1.96·SE (the Wald interval lifetimes reports); the
// lower end may be negative for a poorly identified parameter, which is then
// also a warning.
package fitdiag

import (
	"encoding/json"
	"fmt"
	"math"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"
)

// Z95 is the standard normal quantile of the two-sided 95% interval.
const Z95 = 1.959963984540054

// Param is one estimated parameter.
type Param struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// SE is the standard error; NaN (JSON null) when the Hessian is not
	// negative definite at the estimate.
	SE    float64 `json:"se"`
	Lower float64 `json:"ci95_lower"`
	Upper float64 `json:"ci95_upper"`
}

// Diagnostics describe a maximum-likelihood fit.
type Diagnostics struct {
	LogLikelihood float64 `json:"log_likelihood"`
	Observations  int     `json:"observations"`
	Iterations    int     `json:"iterations"`
	Converged     bool    `json:"converged"`
	// HessianPD reports whether the negative Hessian of the log-likelihood
	// at the estimate is positive definite (a strict local maximum whose
	// standard errors exist).
	HessianPD bool    `json:"hessian_positive_definite"`
	Params    []Param `json:"params"`
	// Warnings say why the fit may not be trusted (empty when none).
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether the fit converged to a strict maximum.
func (d *Diagnostics) OK() bool { return d.Converged && d.HessianPD }

// Fit is what every fitted model (bgnbd, paretonbd, gammagamma Model)
// reports beside its parameters; the models embed it.
type Fit struct {
	// LogLikelihood is the (unpenalised) log-likelihood at the parameters.
	LogLikelihood float64 `json:"log_likelihood"`
	// Customers is the number of customers fitted.
	Customers int `json:"customers"`
	// Iterations is the total number of major optimiser iterations.
	Iterations int `json:"iterations"`
	// Diagnostics are the standard errors and 95% intervals from the
	// Hessian at the estimate, convergence and warnings. Fit functions
	// fill them also when they return a not-converged error with a usable
	// model.
	Diagnostics Diagnostics `json:"diagnostics"`
}

// Compute returns the diagnostics of the estimate theta (all > 0) of the
// log-likelihood ll (a function of the natural parameters), with names for
// the parameters, the number of observations, the optimiser's iterations,
// and whether it converged (notConverged says why when it did not; it
// becomes a warning).
func Compute(names []string, theta []float64, ll func(theta []float64) float64, obs, iterations int, converged bool, notConverged string) Diagnostics {
	n := len(theta)
	d := Diagnostics{LogLikelihood: ll(theta), Observations: obs, Iterations: iterations, Converged: converged}
	if !converged {
		msg := "the optimiser did not converge"
		if notConverged != "" {
			msg += ": " + notConverged
		}
		d.Warnings = append(d.Warnings, msg)
	}
	phi := make([]float64, n)
	for i, v := range theta {
		phi[i] = math.Log(v)
	}
	th := make([]float64, n)
	negLL := func(p []float64) float64 {
		for i, v := range p {
			th[i] = math.Exp(v)
		}
		v := -ll(th)
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		return v
	}
	h := mat.NewSymDense(n, nil)
	fd.Hessian(h, negLL, phi, &fd.Settings{Formula: fd.Central, Step: 1e-4})
	se, pd := standardErrors(h, theta)
	d.HessianPD = pd
	if !pd {
		d.Warnings = append(d.Warnings, "the Hessian of the log-likelihood is not negative definite at the estimate: it is not a strict maximum and the standard errors are undefined")
	}
	for i, v := range theta {
		p := Param{Name: names[i], Value: v, SE: se[i], Lower: math.NaN(), Upper: math.NaN()}
		if pd {
			p.Lower, p.Upper = v-Z95*se[i], v+Z95*se[i]
			if p.Lower <= 0 {
				d.Warnings = append(d.Warnings, fmt.Sprintf("%s is poorly identified: its 95%% interval [%.4g, %.4g] reaches 0", names[i], p.Lower, p.Upper))
			}
		}
		d.Params = append(d.Params, p)
	}
	return d
}

// standardErrors inverts the negative Hessian h (in log-parameters) and
// maps it to the natural parameters theta. It returns NaNs and false when
// h is not positive definite.
func standardErrors(h *mat.SymDense, theta []float64) ([]float64, bool) {
	n := len(theta)
	se := make([]float64, n)
	for i := range se {
		se[i] = math.NaN()
	}
	for i := range n {
		for j := range n {
			if v := h.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return se, false
			}
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(h) {
		return se, false
	}
	var cov mat.SymDense
	if err := ch.InverseTo(&cov); err != nil {
		return se, false
	}
	for i := range n {
		v := cov.At(i, i)
		if !(v > 0) {
			return se, false
		}
		se[i] = theta[i] * math.Sqrt(v)
	}
	return se, true
}

// Text writes the diagnostics as the lines `fit` prints: one line per
// parameter (value, standard error, 95% interval), then the log-likelihood,
// iterations, convergence and any warnings.
func (d *Diagnostics) Text() string {
	s := fmt.Sprintf("  %-8s %12s %12s   %s\n", "param", "estimate", "std.err", "95% interval")
	for _, p := range d.Params {
		// An undefined standard error (no strict maximum) has no interval:
		// "-", never NaN.
		if !finite(p.SE) || !finite(p.Lower) || !finite(p.Upper) {
			s += fmt.Sprintf("  %-8s %12.4f %12s   %s\n", p.Name, p.Value, "-", "-")
			continue
		}
		s += fmt.Sprintf("  %-8s %12.4f %12.4f   [%.4f, %.4f]\n", p.Name, p.Value, p.SE, p.Lower, p.Upper)
	}
	conv := "yes"
	if !d.Converged {
		conv = "NO"
	}
	pd := "yes"
	if !d.HessianPD {
		pd = "NO"
	}
	s += fmt.Sprintf("  log-likelihood %.2f on %d observations; %d iterations; converged %s; Hessian positive definite %s\n",
		d.LogLikelihood, d.Observations, d.Iterations, conv, pd)
	for _, w := range d.Warnings {
		s += "  WARNING: " + w + "\n"
	}
	return s
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// paramJSON is Param in JSON: undefined values are null.
type paramJSON struct {
	Name  string   `json:"name"`
	Value float64  `json:"value"`
	SE    *float64 `json:"se"`
	Lower *float64 `json:"ci95_lower"`
	Upper *float64 `json:"ci95_upper"`
}

// MarshalJSON writes undefined (NaN) standard errors and interval ends as
// null, since JSON has no NaN.
func (p Param) MarshalJSON() ([]byte, error) {
	opt := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(paramJSON{p.Name, p.Value, opt(p.SE), opt(p.Lower), opt(p.Upper)})
}

// UnmarshalJSON reads what MarshalJSON writes (null as NaN).
func (p *Param) UnmarshalJSON(b []byte) error {
	var in paramJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	val := func(v *float64) float64 {
		if v == nil {
			return math.NaN()
		}
		return *v
	}
	*p = Param{Name: in.Name, Value: in.Value, SE: val(in.SE), Lower: val(in.Lower), Upper: val(in.Upper)}
	return nil
}
