package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/spf13/cobra"
)

// simulatedCustomer is a customer of the simulation make run and the
// README load (journey simulate --customers 200 --days 90 --seed 1), for
// the --help examples of customer and history; simulatedNote follows
// such an example (TestHelpExamplesRun runs them).
const (
	simulatedCustomer = "019431ed-5140-765a-94ef-b8c6ab4641cc"
	simulatedNote     = "\n      (a customer of journey simulate --customers 200 --days 90 --seed 1, as make run suggests)"
)

func (a *app) customerCommand() *cobra.Command {
	var asOf, server, config string
	cmd := &cobra.Command{
		Use:   "customer [--data DIR] CUSTOMER [--as-of T]",
		Short: "The customer's state, stage, flags, types, satisfaction and churn",
		Long: `customer answers about one customer: lifecycle stage and the highest stage ever
reached, flags (advocate, detractor), customer types, satisfaction (0–100),
churn status (and p_alive after journey churn fit, BG/NBD or Pareto/NBD), CLV (after journey clv fit), RFM and rule segments.
The views are brought up to date with the log first. With --as-of T the answer
is what the engine would have said at T: only events with time ≤ T, churn
measured at T. --json prints the full state.`,
		Example: `  journey customer cdnow-00004 --as-of 1997-09-30
  journey customer cdnow-00004 --json
  journey customer ` + simulatedCustomer + ` --as-of 2025-04-01 --server http://127.0.0.1:8080` + simulatedNote,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := a.optionalAsOf(asOf)
			if err != nil {
				return err
			}
			if server != "" {
				q := withAsOf(nil, at)
				path := "/v1/customers/" + url.PathEscape(args[0])
				if a.jsonOut {
					return a.serverGet(cmd.Context(), server, path, q)
				}
				var c customer.Answer
				if err := a.serverJSON(cmd.Context(), server, path, q, &c); err != nil {
					return err
				}
				a.printCustomer(args[0], &c)
				return nil
			}
			return a.runCustomer(cmd.Context(), args[0], at, config)
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "answer as of T (RFC 3339 or YYYY-MM-DD = end of that day, UTC)")
	cmd.Flags().StringVar(&server, "server", "", "ask a running journey serve at this URL instead of opening the data dir")
	configFlag(cmd, &config)
	return cmd
}

func (a *app) runCustomer(ctx context.Context, id string, asOf time.Time, config string) error {
	v, closeAll, err := a.openViews(ctx, config, projections.Options{}, false)
	if err != nil {
		return err
	}
	defer closeAll()
	c, err := v.Customer(ctx, id, asOf)
	if errors.Is(err, projections.ErrNotFound) && v.Log() != nil {
		if n, nerr := v.Log().Erasure(ctx, id); nerr == nil && n != nil {
			return fmt.Errorf("customer %s was erased at %s: %s", journey.Quote(id), n.ErasedAt.Format(time.RFC3339), n.Reason)
		}
	}
	if err != nil {
		return notFound(id, err)
	}
	if a.jsonOut {
		return a.printJSON(c)
	}
	a.printCustomer(id, c)
	return nil
}

func (a *app) printCustomer(id string, c *customer.Answer) {
	none := func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ", ")
	}
	a.printf("customer      %s\n", id)
	a.printf("as of         %s\n", c.AsOf.UTC().Format(time.RFC3339))
	a.printf("stage         %s (highest reached: %s)\n", c.Stage, c.HighestStage)
	a.printf("flags         %s\n", none(c.Flags))
	a.printf("types         %s\n", none(c.Types))
	a.printf("satisfaction  %.1f / 100\n", c.Satisfaction)
	if s := c.State; s != nil && s.Purchases > 0 {
		rev := s.Revenue.String()
		if len(s.Refunds) > 0 {
			rev += " (net of refunds " + s.NetRevenue().String() + ")"
		}
		a.printf("revenue       %s in %d purchases\n", rev, s.Purchases)
	}
	churn := c.Churn
	if c.RecencyDays != nil {
		churn += fmt.Sprintf(" (%.0f days since the last purchase, expected gap %.0f days)", *c.RecencyDays, c.ExpectedGapDays)
	}
	a.printf("churn         %s\n", churn)
	model := map[string]string{customer.ModelBGNBD: " (BG/NBD)", customer.ModelParetoNBD: " (Pareto/NBD)"}[c.ChurnModel]
	if c.PAlive != nil {
		a.printf("p_alive       %.3f%s\n", *c.PAlive, model)
	}
	if c.ExpectedNext != nil {
		a.printf("expected      %.2f purchases in the next period%s\n", *c.ExpectedNext, model)
	}
	if c.CLV != nil {
		a.printf("clv           %s %s over %d months at %.4g%% a month (expected order value %s %s)\n",
			c.CLV.CLV, c.CLV.Currency, c.CLV.HorizonMonths, 100*c.CLV.Discount, c.CLV.ExpectedOrderValue, c.CLV.Currency)
	}
	if c.RFM != nil {
		a.printf("rfm           %s\n", rfmString(c.RFM))
	}
	if len(c.Segments) > 0 {
		a.printf("segments      %s\n", strings.Join(c.Segments, ", "))
	}
	a.printf("(journey customer %s --json for the full state)\n", id)
}

func rfmString(r *customer.RFMScore) string {
	return fmt.Sprintf("%s (R%d F%d M%d)", r.Segment, r.R, r.F, r.M)
}
