package customer

import (
	"math"
	"strconv"
	"time"

	"github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/gammagamma"
	"github.com/journey-cdp/journey/projections/paretonbd"
)

// CLVFit is the stored CLV model of `journey clv fit`: the transaction
// model (BG/NBD or Pareto/NBD), the Gamma-Gamma spend model in one
// currency, and the horizon and monthly discount the answers use.
type CLVFit struct {
	Model          string    `json:"model"` // "bgnbd" or "pareto-nbd"
	R, Alpha, A, B float64   // BG/NBD (R, Alpha also Pareto/NBD)
	S, Beta        float64   // Pareto/NBD
	Unit           string    `json:"unit"`  // "week" or "day"
	AsOf           time.Time `json:"as_of"` // calibration end
	Currency       string    `json:"currency"`
	P, Q, Gamma    float64   // Gamma-Gamma
	HorizonMonths  int       `json:"horizon_months"`
	Discount       float64   `json:"monthly_discount"`
}

// CLVAnswer is the lifetime-value part of a customer's answer: money as
// decimal strings in Currency, rounded half away from zero to its minor
// unit.
type CLVAnswer struct {
	Currency           string  `json:"currency"`
	ExpectedOrderValue string  `json:"expected_order_value"`
	CLV                string  `json:"clv"`
	HorizonMonths      int     `json:"horizon_months"`
	Discount           float64 `json:"monthly_discount"`
	// Major is CLV in major units (the segment bands use it).
	Major float64 `json:"-"`
}

// CLV returns the customer's expected average order value and discounted
// CLV under pop.CLV (nil without a fit, for a customer without a purchase
// day up to asOf, or without revenue in the fit's currency). The
// Gamma-Gamma input is the customer's purchase days up to asOf: x = days −
// 1 repeat transactions with mean value m̄ = the revenue in the currency of
// the repeat days (State.RepeatRevenue: the first purchase day left out) /
// x, as `journey clv fit` and `journey clv show` take it; as of the fit's
// calibration end the answer is clv show's to the cent. A state stored
// before FirstDayRevenue was kept (until a rebuild) takes m̄ = revenue /
// days, the first day included.
func (c *Config) CLV(s *State, asOf time.Time, pop *Population) *CLVAnswer {
	if pop == nil || pop.CLV == nil {
		return nil
	}
	f := pop.CLV
	rev, ok := s.Revenue[f.Currency]
	days := s.PurchaseDays(asOf)
	if !ok || len(days) == 0 {
		return nil
	}
	exp, _ := journey.CurrencyExponent(f.Currency)
	unitDays := 7.0
	if f.Unit == "day" {
		unitDays = 1
	}
	var tm gammagamma.Predictor
	if f.Model == "pareto-nbd" {
		p := paretonbd.Params{R: f.R, Alpha: f.Alpha, S: f.S, Beta: f.Beta}
		if !p.Valid() {
			return nil
		}
		tm = p
	} else {
		p := bgnbd.Params{R: f.R, Alpha: f.Alpha, A: f.A, B: f.B}
		if !p.Valid() {
			return nil
		}
		tm = p
	}
	gg := gammagamma.Params{P: f.P, Q: f.Q, Gamma: f.Gamma}
	sp := gammagamma.Customer{X: float64(len(days) - 1)}
	if sp.X > 0 {
		if repeat, known := s.RepeatRevenue(f.Currency); known {
			// The arithmetic of gammagamma.FromMinor, as clv fit and show use.
			sp.Mean = math.Max(0, float64(repeat)/sp.X/math.Pow10(exp))
		} else {
			sp.Mean = math.Max(0, float64(rev)/float64(len(days))/math.Pow10(exp))
		}
	}
	order := gg.ExpectedAverageValue(sp)
	if math.IsNaN(order) {
		return nil
	}
	tx := bgnbd.FromPurchaseDays(days, bgnbd.Day(asOf), unitDays)
	v := gammagamma.CLV(tm, tx, order, f.HorizonMonths, f.Discount, unitDays)
	if math.IsNaN(v) {
		v = 0
	}
	vm := gammagamma.RoundMinor(v, exp)
	return &CLVAnswer{Currency: f.Currency, HorizonMonths: f.HorizonMonths, Discount: f.Discount,
		ExpectedOrderValue: journey.FormatAmount(gammagamma.RoundMinor(order, exp), f.Currency),
		CLV:                journey.FormatAmount(vm, f.Currency), Major: float64(vm) / math.Pow10(exp)}
}

// CLV bands of the segment dimension "clv", in major units of the fit's
// currency: [0,10), [10,100), [100,1000), [1000,10000), [10000,∞).
var clvBandEdges = []float64{10, 100, 1000, 10000}

// CLVBand names the band of a CLV answer ("100-1000 USD"; "10000+ USD";
// NoCLV for nil).
func CLVBand(a *CLVAnswer) string {
	if a == nil {
		return NoCLV
	}
	lo := "0"
	for _, e := range clvBandEdges {
		if a.Major < e {
			return lo + "-" + trimZero(e) + " " + a.Currency
		}
		lo = trimZero(e)
	}
	return lo + "+ " + a.Currency
}

// NoCLV is the band of customers without a CLV (no purchase in the fit's
// currency).
const NoCLV = "none"

func trimZero(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
