package main

import (
	"context"
	"time"

	"github.com/journey-cdp/journey/projections"
	"github.com/spf13/cobra"
)

// churnFitLine is journey churn fit --json.
type churnFitLine struct {
	R             float64   `json:"r"`
	Alpha         float64   `json:"alpha"`
	A             float64   `json:"a"`
	B             float64   `json:"b"`
	LogLikelihood float64   `json:"log_likelihood"`
	Customers     int       `json:"customers"`
	Unit          string    `json:"unit"`
	AsOf          time.Time `json:"as_of"`
}

func (a *app) churnCommand() *cobra.Command {
	churn := groupCommand("churn fit [--data DIR] [--as-of T] [--unit week|day]", "Churn models: fit BG/NBD to the purchase history")
	var asOf, unit, config string
	fit := &cobra.Command{
		Use:   "fit [--as-of T] [--unit week|day]",
		Short: "Fit the BG/NBD model (Fader, Hardie & Lee 2005) by maximum likelihood and store it",
		Long: `fit fits r, alpha, a, b of the BG/NBD model to every customer's repeat purchases
up to --as-of (calibration end; default now), on calendar days (UTC) in --unit
weeks or days, prints the parameters and the log-likelihood, and stores the fit
in the views: journey customer then shows p_alive and the expected purchases.`,
		Example: `  journey import --format cdnow ../shared/data/cdnow/CDNOW_sample.txt
  journey churn fit --as-of 1997-09-30 --unit week`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if unit != "week" && unit != "day" {
				return usageErrorf("--unit %q: want week or day", unit)
			}
			at, err := a.asOf(asOf)
			if err != nil {
				return err
			}
			return a.runChurnFit(cmd.Context(), at, unit, config)
		},
	}
	fit.Flags().StringVar(&asOf, "as-of", "", "calibration end (RFC 3339 or YYYY-MM-DD = end of that day, UTC); default now")
	fit.Flags().StringVar(&unit, "unit", "week", "model time unit: week or day")
	configFlag(fit, &config)
	churn.AddCommand(fit)
	return churn
}

func (a *app) runChurnFit(ctx context.Context, asOf time.Time, unit, config string) error {
	v, closeAll, err := a.openViews(ctx, config, projections.Options{}, false)
	if err != nil {
		return err
	}
	defer closeAll()
	f, err := v.FitChurn(ctx, asOf, unit)
	if err != nil {
		return err
	}
	out := churnFitLine{R: f.R, Alpha: f.Alpha, A: f.A, B: f.B, LogLikelihood: f.LogLikelihood, Customers: f.Customers, Unit: f.Unit, AsOf: f.AsOf.UTC()}
	if a.jsonOut {
		return a.printJSON(out)
	}
	a.printf("BG/NBD fit on %d customers, calibration to %s, unit %s\n", out.Customers, out.AsOf.Format(time.RFC3339), out.Unit)
	a.printf("  r      %10.4f\n  alpha  %10.4f\n  a      %10.4f\n  b      %10.4f\n  log-likelihood %.2f\n", out.R, out.Alpha, out.A, out.B, out.LogLikelihood)
	a.printf("stored: journey customer ID now shows p_alive and the expected purchases\n")
	return nil
}
