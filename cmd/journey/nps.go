package main

import (
	"context"
	"sort"
	"time"

	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/spf13/cobra"
)

func (a *app) npsCommand() *cobra.Command {
	var asOf, by, server string
	cmd := &cobra.Command{
		Use:   "nps [--data DIR | --server URL] [--by overall|store|month] [--as-of T]",
		Short: "Population Net Promoter Score (% promoters − % detractors), overall, by store or by month",
		Long: `nps tallies the NPS answers of feedback events given up to --as-of (default now):
promoters answer 9–10, passives 7–8, detractors 0–6; the score is % promoters −
% detractors (−100..100). --by store uses the store the answer was given at (or
the customer's latest store before it); --by month the UTC month. --json prints
one object mapping each group to {"responses","promoters","passives","detractors","nps"}.
With --server URL a running journey serve answers (GET /v1/nps?as_of=).`,
		Example: `  journey nps --by month --as-of 2025-04-01
  journey nps --by store --server http://127.0.0.1:8080`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if by != "overall" && by != "store" && by != "month" {
				return usageErrorf("--by %q: want overall, store or month", by)
			}
			at, err := a.optionalAsOf(asOf)
			if err != nil {
				return err
			}
			return a.runNPS(cmd.Context(), by, at, server)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "ask a running journey serve at this URL instead of opening the data dir")
	cmd.Flags().StringVar(&asOf, "as-of", "", "answers up to T (RFC 3339 or YYYY-MM-DD = end of that day, UTC)")
	cmd.Flags().StringVar(&by, "by", "overall", "overall, store or month")
	return cmd
}

func (a *app) runNPS(ctx context.Context, by string, asOf time.Time, server string) error {
	var res customer.NPSResult
	if server != "" {
		q := withAsOf(nil, asOf)
		if err := a.serverJSON(ctx, server, "/v1/nps", q, &res); err != nil {
			return err
		}
	} else {
		v, closeAll, err := a.openViews(ctx, "", projections.Options{}, false)
		if err != nil {
			return err
		}
		defer closeAll()
		if res, err = v.NPSResult(ctx, asOf); err != nil {
			return err
		}
	}
	groups := map[string]customer.NPS{"overall": res.Overall}
	switch by {
	case "store":
		groups = res.ByStore
	case "month":
		groups = res.ByMonth
	}
	if groups == nil {
		groups = map[string]customer.NPS{}
	}
	if a.jsonOut {
		return a.printJSON(groups)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	a.printf("%-16s %7s %10s %9s %11s %7s\n", by, "nps", "responses", "promoters", "detractors", "passives")
	for _, k := range keys {
		n := groups[k]
		a.printf("%-16s %7.1f %10d %9d %11d %7d\n", k, n.Score, n.Responses, n.Promoters, n.Detractors, n.Passives)
	}
	return nil
}
