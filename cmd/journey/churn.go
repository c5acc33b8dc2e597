package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/journey-cdp/journey/projections/fitdiag"
	"github.com/journey-cdp/journey/projections/paretonbd"
	"github.com/spf13/cobra"
)

// churnFitLine is journey churn fit --json, and the model file
// DATA/models/<model>.json it stores. r and alpha are in both models; a, b
// are BG/NBD's, s, beta Pareto/NBD's.
type churnFitLine struct {
	Model         string              `json:"model"`
	R             float64             `json:"r"`
	Alpha         float64             `json:"alpha"`
	A             float64             `json:"a,omitzero"`
	B             float64             `json:"b,omitzero"`
	S             float64             `json:"s,omitzero"`
	Beta          float64             `json:"beta,omitzero"`
	LogLikelihood float64             `json:"log_likelihood"`
	Customers     int                 `json:"customers"`
	Unit          string              `json:"unit"`
	AsOf          time.Time           `json:"as_of"`
	Diagnostics   fitdiag.Diagnostics `json:"diagnostics"`
	// Stored is the model file written (also kept with the model).
	Stored string `json:"stored,omitempty"`
}

// transactionModel is a fitted BG/NBD or Pareto/NBD model.
type transactionModel interface {
	PAlive(c bgnbd.Customer) float64
	ConditionalExpected(t float64, c bgnbd.Customer) float64
	ExpectedTransactions(t float64) float64
}

// predictor returns the fitted model of l.
func (l *churnFitLine) predictor() transactionModel {
	if l.Model == customer.ModelParetoNBD {
		return paretonbd.Params{R: l.R, Alpha: l.Alpha, S: l.S, Beta: l.Beta}
	}
	return bgnbd.Params{R: l.R, Alpha: l.Alpha, A: l.A, B: l.B}
}

func unitDaysOf(unit string) (float64, error) {
	switch unit {
	case "week":
		return 7, nil
	case "day":
		return 1, nil
	}
	return 0, usageErrorf("--unit %q: want week or day", unit)
}

func checkModel(model string) error {
	if model != customer.ModelBGNBD && model != customer.ModelParetoNBD {
		return usageErrorf("--model %q: want %s or %s", model, customer.ModelBGNBD, customer.ModelParetoNBD)
	}
	return nil
}

// fitFlags are the --as-of, --unit and --model flags of churn fit and clv fit.
type fitFlags struct{ asOf, unit, model string }

func (f *fitFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.asOf, "as-of", "", "calibration end (RFC 3339 or YYYY-MM-DD = end of that day, UTC); default now")
	c.Flags().StringVar(&f.unit, "unit", "week", "model time unit: week or day")
	c.Flags().StringVar(&f.model, "model", customer.ModelBGNBD, "transaction model: bgnbd or pareto-nbd")
}

// calibrationEnd checks --unit, --model and then the command's own checks,
// and returns the calibration end --as-of.
func (a *app) calibrationEnd(f *fitFlags, checks ...func() error) (time.Time, error) {
	if _, err := unitDaysOf(f.unit); err != nil {
		return time.Time{}, err
	}
	if err := checkModel(f.model); err != nil {
		return time.Time{}, err
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return time.Time{}, err
		}
	}
	return a.asOf(f.asOf)
}

// fitTransactions fits model to cs. A fit that did not converge but has
// usable parameters is returned with its diagnostics (they carry the
// warning); other errors are returned.
func fitTransactions(ctx context.Context, model string, cs []bgnbd.Customer, unit string, asOf time.Time) (churnFitLine, error) {
	out := churnFitLine{Model: model, Unit: unit, AsOf: asOf.UTC()}
	switch model {
	case customer.ModelParetoNBD:
		m, err := paretonbd.Fit(ctx, cs, paretonbd.Params{})
		if err != nil && !(errors.Is(err, paretonbd.ErrNotConverged) && m.Params.Valid()) {
			return out, fmt.Errorf("pareto-nbd fit: %w", err)
		}
		out.R, out.Alpha, out.S, out.Beta = m.R, m.Alpha, m.S, m.Beta
		out.LogLikelihood, out.Customers, out.Diagnostics = m.LogLikelihood, m.Customers, m.Diagnostics
	default:
		m, err := bgnbd.Fit(ctx, cs, nil)
		if err != nil && !(errors.Is(err, bgnbd.ErrNotConverged) && m.Params.Valid()) {
			return out, fmt.Errorf("bgnbd fit: %w", err)
		}
		out.R, out.Alpha, out.A, out.B = m.R, m.Alpha, m.A, m.B
		out.LogLikelihood, out.Customers, out.Diagnostics = m.LogLikelihood, m.Customers, m.Diagnostics
	}
	return out, nil
}

func (a *app) churnCommand() *cobra.Command {
	churn := groupCommand("churn fit|validate [--data DIR] [--model bgnbd|pareto-nbd] ...", "Churn models: fit BG/NBD or Pareto/NBD to the purchase history, check them on a holdout")
	var mf fitFlags
	var config string
	fit := &cobra.Command{
		Use:   "fit [--as-of T] [--unit week|day] [--model bgnbd|pareto-nbd]",
		Short: "Fit BG/NBD (Fader, Hardie & Lee 2005) or Pareto/NBD by maximum likelihood and store it",
		Long: `fit fits the transaction model to every customer's repeat purchases up to
--as-of (calibration end; default now), on calendar days (UTC) in --unit weeks
or days, and prints the parameters with their standard errors and 95% intervals
(from the Hessian of the log-likelihood at the optimum), the log-likelihood,
iterations and convergence, and a WARNING when the fit did not converge or the
Hessian is not positive definite.
  --model bgnbd       r, alpha, a, b (the default).
  --model pareto-nbd  r, alpha, s, beta (Pareto/NBD, Schmittlein et al. 1987, as
                      in Fader, Hardie & Lee's 2005 MATLAB note).
Either way the fit is stored in the views, replacing the previous one:
journey customer then shows its p_alive and conditional expected purchases,
naming the model; the model and its diagnostics are kept in
DATA/models/MODEL.json.`,
		Example: `  journey import --format cdnow ../shared/data/cdnow/CDNOW_sample.txt
  journey churn fit --as-of 1997-09-30 --unit week
  journey churn fit --as-of 1997-09-30 --model pareto-nbd`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := a.calibrationEnd(&mf)
			if err != nil {
				return err
			}
			return a.runChurnFit(cmd.Context(), at, mf.unit, mf.model, config)
		},
	}
	mf.add(fit)
	configFlag(fit, &config)
	churn.AddCommand(fit, a.churnValidateCommand())
	return churn
}

// churnCustomers returns the calibration summary (to asOf's day, inclusive)
// of every customer with a purchase on or before it, from the views'
// purchase days, as FitChurn gathers them.
func churnCustomers(ctx context.Context, v *projections.Views, asOf time.Time, unitDays float64) ([]bgnbd.Customer, error) {
	asOfDay := bgnbd.Day(asOf)
	var cs []bgnbd.Customer
	err := v.Customers(ctx, time.Time{}, false, func(c *customer.Answer) error {
		if days := c.State.PurchaseDays(asOf); len(days) > 0 {
			cs = append(cs, bgnbd.FromPurchaseDays(days, asOfDay, unitDays))
		}
		return nil
	})
	return cs, err
}

func (a *app) runChurnFit(ctx context.Context, asOf time.Time, unit, model, config string) error {
	unitDays, _ := unitDaysOf(unit)
	v, closeAll, err := a.openViews(ctx, config, projections.Options{}, false)
	if err != nil {
		return err
	}
	defer closeAll()
	cs, err := churnCustomers(ctx, v, asOf, unitDays)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("churn fit: no customer has a purchase on or before %s", asOf.UTC().Format(time.DateOnly))
	}
	out, err := fitTransactions(ctx, model, cs, unit, asOf)
	if err != nil {
		return err
	}
	if model == customer.ModelBGNBD {
		// The views keep the BG/NBD fit for the customers' answers.
		f, err := v.FitChurn(ctx, asOf, unit)
		if err != nil {
			return err
		}
		out.R, out.Alpha, out.A, out.B, out.LogLikelihood = f.R, f.Alpha, f.A, f.B, f.LogLikelihood
	} else if err := v.SetChurn(&customer.ChurnFit{Model: customer.ModelParetoNBD, R: out.R, Alpha: out.Alpha,
		S: out.S, Beta: out.Beta, Unit: unit, AsOf: out.AsOf, LogLikelihood: out.LogLikelihood, Customers: out.Customers}); err != nil {
		return err // the views keep the Pareto/NBD fit for the customers' answers
	}
	if out.Stored, err = a.saveModel(model, &out); err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(out)
	}
	name := map[string]string{customer.ModelBGNBD: "BG/NBD", customer.ModelParetoNBD: "Pareto/NBD"}[model]
	a.printf("%s fit on %d customers, calibration to %s, unit %s\n", name, out.Customers, out.AsOf.Format(time.RFC3339), out.Unit)
	a.printf("%s", out.Diagnostics.Text())
	a.printf("stored: journey customer ID now shows the %s p_alive and the expected purchases; model in %s\n", name, out.Stored)
	return nil
}

// modelPath is the file of a stored model: DATA/models/NAME.json.
func (a *app) modelPath(name string) string {
	return filepath.Join(a.dataDir(), "models", name+".json")
}

// saveModel writes v as DATA/models/NAME.json (atomically: a temporary file
// renamed over it) and returns the path.
func (a *app) saveModel(name string, v any) (string, error) {
	p := a.modelPath(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), name+".*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := cli.WriteJSON(tmp, v); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return p, os.Rename(tmp.Name(), p)
}

// loadModel reads DATA/models/NAME.json into v; hint says how to make it.
func (a *app) loadModel(name string, v any, hint string) error {
	b, err := os.ReadFile(a.modelPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no %s model in %s: run %s first", name, filepath.Dir(a.modelPath(name)), hint)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("model %s: %w", a.modelPath(name), err)
	}
	return nil
}
