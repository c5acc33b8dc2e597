package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/customer"
)

// FitChurn fits a BG/NBD model (Fader, Hardie & Lee 2005) to every
// customer's purchase days up to asOf's day (zero: now), in model time
// units of unit ("week": 7 days, the default; "day": 1), and stores it in
// the views: later Customer and Segments answers carry p_alive and the
// expected purchases. Only customers with a purchase on or before asOf's
// day enter the fit. A rebuild keeps the fit; deleted views lose it.
func (v *Views) FitChurn(ctx context.Context, asOf time.Time, unit string) (*customer.ChurnFit, error) {
	var unitDays float64
	switch unit {
	case "", "week":
		unit, unitDays = "week", 7
	case "day":
		unitDays = 1
	default:
		return nil, fmt.Errorf("projections: churn fit unit %q: want week or day", unit)
	}
	if asOf.IsZero() {
		asOf = v.now()
	}
	asOf = asOf.UTC()
	// Hold applyMu so that the population written back is not a stale copy.
	v.applyMu.Lock()
	defer v.applyMu.Unlock()
	d, err := v.acquire()
	if err != nil {
		return nil, err
	}
	defer d.use.RUnlock()
	asOfDay := bgnbd.Day(asOf)
	var cs []bgnbd.Customer
	err = forEachState(ctx, d.db, func(_ string, e *entry) error {
		days := e.st.PurchaseDays(asOf)
		if len(days) == 0 {
			return nil
		}
		cs = append(cs, bgnbd.FromPurchaseDays(days, asOfDay, unitDays))
		return nil
	})
	if err != nil {
		return nil, err
	}
	m, err := bgnbd.Fit(ctx, cs, nil)
	if err != nil && !(errors.Is(err, bgnbd.ErrNotConverged) && m.Params.Valid()) {
		return nil, fmt.Errorf("projections: churn fit: %w", err)
	}
	if err != nil {
		v.opts.Logger.Warn("projections: churn fit did not fully converge; storing the best parameters found", "err", err)
	}
	fit := &customer.ChurnFit{Model: customer.ModelBGNBD, R: m.R, Alpha: m.Alpha, A: m.A, B: m.B, Unit: unit, AsOf: asOf, LogLikelihood: m.LogLikelihood, Customers: m.Customers}

	if err := storePopulation(d, func(p *customer.Population) { p.Churn = fit }); err != nil {
		return nil, err
	}
	return fit, nil
}

// SetChurn stores a churn fit made elsewhere (`journey churn fit --model
// pareto-nbd` hands its Pareto/NBD fit here; nil removes the fit): later
// Customer and Segments answers carry its p_alive and conditional expected
// purchases, with the model named (customer.Answer.ChurnModel). It replaces
// the fit of FitChurn, and the other way round. A rebuild keeps it.
func (v *Views) SetChurn(fit *customer.ChurnFit) error {
	if fit != nil {
		if m := fit.Model; m != customer.ModelBGNBD && m != customer.ModelParetoNBD {
			return fmt.Errorf("projections: churn fit model %q: want %s or %s", m, customer.ModelBGNBD, customer.ModelParetoNBD)
		}
		if fit.Unit != "week" && fit.Unit != "day" {
			return fmt.Errorf("projections: churn fit unit %q: want week or day", fit.Unit)
		}
		c := *fit
		c.AsOf = c.AsOf.UTC()
		fit = &c
	}
	return v.setPopulation(func(p *customer.Population) { p.Churn = fit })
}

// storePopulation writes the population changed by set (the stored fits);
// the caller holds applyMu and d.
func storePopulation(d *viewsDB, set func(*customer.Population)) error {
	meta := d.meta.Load()
	nm := &dbMeta{pop: meta.pop, gaps: meta.gaps, maxTime: meta.maxTime}
	set(&nm.pop)
	pj, err := json.Marshal(nm.pop)
	if err != nil {
		return err
	}
	if err := d.db.Set(keyPopulation, pj, pebble.Sync); err != nil {
		return err
	}
	d.meta.Store(nm)
	return nil
}

// SetCLV stores the CLV model of `journey clv fit` in the views (nil
// removes it): later Customer, export and Segments answers carry each
// customer's expected order value and discounted CLV (customer.Config.CLV)
// and the segment dimension ByCLV. A rebuild keeps it; deleted views lose
// it.
func (v *Views) SetCLV(fit *customer.CLVFit) error {
	if fit != nil {
		fit.AsOf = fit.AsOf.UTC()
	}
	return v.setPopulation(func(p *customer.Population) { p.CLV = fit })
}

// setPopulation stores the population changed by set, under applyMu (so
// that what is written back is not a stale copy).
func (v *Views) setPopulation(set func(*customer.Population)) error {
	v.applyMu.Lock()
	defer v.applyMu.Unlock()
	d, err := v.acquire()
	if err != nil {
		return err
	}
	defer d.use.RUnlock()
	return storePopulation(d, set)
}

// CLVFit returns the stored CLV model (nil: none).
func (v *Views) CLVFit() (*customer.CLVFit, error) {
	d, err := v.acquire()
	if err != nil {
		return nil, err
	}
	defer d.use.RUnlock()
	return d.meta.Load().pop.CLV, nil
}
