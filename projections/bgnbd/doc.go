// Package bgnbd implements the BG/NBD ("beta-geometric / negative binomial
// distribution") model of customer purchasing and dropout from
//
//	P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "Counting Your
//	Customers the Easy Way: An Alternative to the Pareto/NBD Model",
//	Marketing Science 24(2):275–284.
//
// and its companion note "Computing P(alive) Using the BG/NBD Model".
//
// # Model
//
// While active, a customer buys according to a Poisson process with rate λ;
// after each purchase she drops out for good with probability p. Across
// customers λ ~ Gamma(r, α) (shape r, rate α) and p ~ Beta(a, b). A
// customer is summarised over a calibration period by [Customer]: x repeat
// transactions, the time t_x of the last one and her age T, both measured
// from her first purchase. The four [Params] are estimated by maximum
// likelihood ([Fit], [LogLikelihood], eq. 6 of the paper) and then give
//
//   - [Params.ExpectedTransactions]: E[X(t)] for a new customer (eq. 7);
//   - [Params.ConditionalExpected]: expected purchases of a given customer
//     in the next t time units (eq. 10);
//   - [Params.PAlive]: probability that the customer is still active.
//
// # Units and conventions
//
// The model is unit-free but all times (t_x, T, t and α) must share one
// unit; the paper and the CDNOW tests use weeks (unitDays = 7 in
// [FromPurchaseDays]). Purchases on the same calendar day (UTC) are one
// transaction, as in the paper. The calibration end day is inclusive and T
// runs from the first purchase day to the calibration end day, so a
// customer who first bought on the last day has T = 0 (see
// [FromPurchaseDays]; this reproduces the published CDNOW summary).
//
// # Numerics
//
// Log-likelihoods are computed with lgamma and log-sum-exp so that large x
// and T neither overflow nor lose the D-term. The fit maximises over the
// log-parameters (BFGS with the analytic gradient, with a Nelder–Mead
// fallback, both from gonum.org/v1/gonum/optimize) after collapsing
// customers with equal (x, t_x, T), and rejects optima where the
// likelihood is flat in some direction (parameters not identified). The Gauss hypergeometric function 2F1 of eqs. 7 and 10 is
// taken through Euler's transformation, (1−z)^(r+x)·2F1(r+x, b+x; a+b+x−1; z)
// = (1−z)^(a−1)·2F1(a+b−1−r, a−1; a+b+x−1; z), which stays small for
// customers with many purchases; it is summed as a series for z ≤ 0.95 and
// by gonum's mathext.Hypergeo (Cephes) beyond. Eqs. 7 and 10 are singular at
// a = 1 exactly.
package bgnbd
