package main

import (
	"context"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/journey-cdp/journey/projections"
	"github.com/spf13/cobra"
)

func (a *app) segmentsCommand() *cobra.Command {
	var asOf, by, server, config string
	cmd := &cobra.Command{
		Use:   "segments [--data DIR] [--as-of T] [--by " + strings.Join(projections.SegmentBys(), "|") + "]",
		Short: "Count the customers by stage, flag, type, store, churn, RFM segment or rule",
		Long: `segments counts the customers by one segmentation (default: stage). The views
are brought up to date with the log first. With --as-of T the population is
folded from the events with time ≤ T and judged at T. --json prints one object
mapping each group to its count. Rule segments are CEL expressions set in
--config (see projections/customer/RULES.md).`,
		Example: `  journey segments --by stage
  journey segments --by rfm --as-of 1997-09-30 --json
  journey segments --by type --server http://127.0.0.1:8080`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(projections.SegmentBys(), by) {
				return usageErrorf("--by %q is not one of %s", by, strings.Join(projections.SegmentBys(), ", "))
			}
			at, err := a.optionalAsOf(asOf)
			if err != nil {
				return err
			}
			if server != "" {
				q := withAsOf(url.Values{"by": {by}}, at)
				var ans struct {
					Counts map[string]int `json:"counts"`
				}
				if err := a.serverJSON(cmd.Context(), server, "/v1/segments", q, &ans); err != nil {
					return err
				}
				return a.printCounts(ans.Counts)
			}
			return a.runSegments(cmd.Context(), by, at, config)
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "count as of T (RFC 3339 or YYYY-MM-DD = end of that day, UTC)")
	cmd.Flags().StringVar(&by, "by", projections.ByStage, "segmentation: "+strings.Join(projections.SegmentBys(), ", "))
	cmd.Flags().StringVar(&server, "server", "", "ask a running journey serve at this URL instead of opening the data dir")
	configFlag(cmd, &config)
	return cmd
}

func (a *app) runSegments(ctx context.Context, by string, asOf time.Time, config string) error {
	opts := projections.Options{}
	var bar *progressBarOnce
	if !asOf.IsZero() {
		bar = &progressBarOnce{a: a, desc: "fold as of"}
		opts.Progress = bar.progress
	}
	v, closeAll, err := a.openViews(ctx, config, opts, false)
	if err != nil {
		return err
	}
	defer closeAll()
	counts, err := v.Segments(ctx, by, asOf)
	bar.finish()
	if err != nil {
		return err
	}
	return a.printCounts(counts)
}

// printCounts prints segment counts: one JSON object, or a table by count.
func (a *app) printCounts(counts map[string]int) error {
	if a.jsonOut {
		if counts == nil {
			counts = map[string]int{}
		}
		return a.printJSON(counts)
	}
	type kv struct {
		k string
		n int
	}
	var rows []kv
	total := 0
	for k, n := range counts {
		rows = append(rows, kv{k, n})
		total += n
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].n != rows[j].n {
			return rows[i].n > rows[j].n
		}
		return rows[i].k < rows[j].k
	})
	for _, r := range rows {
		a.printf("%-22s %8d\n", r.k, r.n)
	}
	if len(rows) == 0 {
		a.printf("no customers\n")
	}
	return nil
}
