package clusters

import (
	"math"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/customer"
)

// FeatureNames are the customer features, in the order of Features.
var FeatureNames = []string{"recency_days", "frequency", "monetary", "satisfaction"}

// Features returns the customer's features at the answer's instant:
// recency (days since the last purchase), frequency (purchases), monetary
// value (revenue less refunds in the customer's main currency — the one
// with the most revenue, the first code on a tie — in major units) and
// satisfaction; false for a customer without a purchase.
func Features(c *customer.Answer) ([]float64, bool) {
	s := c.State
	in, ok := customer.RFMInputOf(s, c.AsOf)
	if !ok {
		return nil, false
	}
	main := ""
	for cur, v := range s.Revenue {
		if main == "" || v > s.Revenue[main] || (v == s.Revenue[main] && cur < main) {
			main = cur
		}
	}
	exp, ok := journey.CurrencyExponent(main)
	if !ok {
		exp = 2
	}
	monetary := float64(in.Monetary) / math.Pow10(exp)
	return []float64{in.RecencyDays, float64(in.Frequency), monetary, c.Satisfaction}, true
}
