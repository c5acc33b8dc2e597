package main

import (
	"context"

	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// storeCLV hands the fitted CLV model, with the horizon and discount of
// clv fit, to the views: the customers' answers, exports and the segment
// dimension clv use it from then on.
func (a *app) storeCLV(ctx context.Context, m *clvModel, horizon int, discount float64) error {
	v, closeAll, err := a.openViews(ctx, "", projections.Options{}, false)
	if err != nil {
		return err
	}
	defer closeAll()
	t := m.Transactions
	return v.SetCLV(&customer.CLVFit{Model: t.Model, R: t.R, Alpha: t.Alpha, A: t.A, B: t.B, S: t.S, Beta: t.Beta,
		Unit: m.Unit, AsOf: m.AsOf, Currency: m.Currency, P: m.Spend.P, Q: m.Spend.Q, Gamma: m.Spend.Gamma,
		HorizonMonths: horizon, Discount: discount})
}
