package main

import (
	"context"
	"io"
	"time"

	"github.com/journey-cdp/journey/projections/cohorts"
	"github.com/spf13/cobra"
)

func (a *app) cohortsCommand() *cobra.Command {
	var asOf, format, chart, server string
	cmd := &cobra.Command{
		Use:   "cohorts [--data DIR | --server URL] [--as-of T] [--format table|csv|json] [--chart FILE.svg]",
		Short: "Cohort retention: customers by month of first purchase, the share still purchasing each later month, and revenue",
		Long: `cohorts groups the customers by the UTC month of their first purchase and shows,
for that month and each later one, the share of the cohort that purchased
(and, in CSV and JSON, how many and their revenue per currency, exact). With
--as-of T only the events with time ≤ T count. The months run from the first
cohort to the month of the latest purchase counted.

It is one streaming pass over the purchase events of the log (the customer
states keep no revenue per month). --format table (default) prints the
retention in percent; csv a row per cohort and month (cohort,
cohort_customers, month, offset, active, retention, revenue); json the whole
table ({"GBP":"1370.56"} money). --json without --format is --format json. --chart FILE.svg
also writes an SVG heat map of the retention.`,
		Example: `  journey cohorts
  journey cohorts --as-of 2011-06-30 --format csv > cohorts.csv
  journey cohorts --chart cohorts.svg
  journey cohorts --server http://127.0.0.1:8080 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.jsonOut && !cmd.Flags().Changed("format") {
				format = "json"
			}
			switch format {
			case "table", "csv", "json":
			default:
				return usageErrorf("--format %q: want table, csv or json", format)
			}
			at, err := a.optionalAsOf(asOf)
			if err != nil {
				return err
			}
			t, err := a.cohortTable(cmd.Context(), at, server)
			if err != nil {
				return err
			}
			if chart != "" {
				if err := writeOut(nil, "--chart", chart, func(w io.Writer) error { return cohorts.WriteSVG(w, t) }); err != nil {
					return err
				}
			}
			switch format {
			case "csv":
				return cohorts.WriteCSV(a.stdout, t)
			case "json":
				return a.printJSON(t)
			}
			return cohorts.WriteText(a.stdout, t)
		},
	}
	f := cmd.Flags()
	f.StringVar(&asOf, "as-of", "", "only events with time ≤ T (RFC 3339 or YYYY-MM-DD = end of that day, UTC)")
	f.StringVar(&format, "format", "table", "table, csv or json")
	f.StringVar(&chart, "chart", "", "also write an SVG heat map of the retention to this file")
	f.StringVar(&server, "server", "", "ask a running journey serve at this URL (GET /v1/cohorts) instead of reading the data dir")
	return cmd
}

// cohortTable computes the table from the data dir's log (opened
// read-only), or asks server.
func (a *app) cohortTable(ctx context.Context, asOf time.Time, server string) (*cohorts.Table, error) {
	if server != "" {
		q := withAsOf(nil, asOf)
		var t cohorts.Table
		if err := a.serverJSON(ctx, server, "/v1/cohorts", q, &t); err != nil {
			return nil, err
		}
		return &t, nil
	}
	store, err := a.openLog(false, a.readStoreOptions())
	if err != nil {
		return nil, err
	}
	defer store.Close()
	return cohorts.Compute(ctx, store, asOf, a.now())
}
