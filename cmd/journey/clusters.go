package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/clusters"
	"github.com/spf13/cobra"
)

func (a *app) clustersCommand() *cobra.Command {
	var asOf, config string
	var k int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "clusters [--data DIR] [--k N] [--as-of T] [--seed S]",
		Short: "Cluster the customers (k-means over recency, frequency, monetary value and satisfaction) and store the fit",
		Long: `clusters groups the customers with a purchase by k-means (k-means++ start,
several seeded starts, deterministic) over their standardised recency (days
since the last purchase), frequency (purchases), monetary value (revenue less
refunds in their main currency) and satisfaction, at --as-of T (default now).
Without --k, k is the one of 2 to 8 with the highest mean silhouette.

Each cluster is shown with its size and its centre in the features' own units.
The fit is stored in the data directory: afterwards journey segments --by
cluster (GET /v1/segments?by=cluster) counts every customer in its nearest
cluster (none: no purchase). Running clusters again replaces the fit.`,
		Example: `  journey clusters
  journey clusters --k 4 --as-of 2011-12-09 --json
  journey segments --by cluster`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("k") && (k < 1 || k > 100) {
				return usageErrorf("--k %d: want 1 to 100 (or no --k: chosen by silhouette from %d to %d)", k, clusters.MinK, clusters.MaxK)
			}
			at, err := a.optionalAsOf(asOf)
			if err != nil {
				return err
			}
			return a.runClusters(cmd.Context(), k, at, seed, config)
		},
	}
	f := cmd.Flags()
	f.IntVar(&k, "k", 0, fmt.Sprintf("number of clusters (default: chosen by silhouette, %d to %d)", clusters.MinK, clusters.MaxK))
	f.StringVar(&asOf, "as-of", "", "the customers as of T (RFC 3339 or YYYY-MM-DD = end of that day, UTC); default now")
	f.Uint64Var(&seed, "seed", clusters.DefaultSeed, "random seed of the k-means++ starts")
	configFlag(cmd, &config)
	return cmd
}

func (a *app) runClusters(ctx context.Context, k int, asOf time.Time, seed uint64, config string) error {
	v, closeAll, err := a.openViews(ctx, config, projections.Options{}, false)
	if err != nil {
		return err
	}
	defer closeAll()
	m, err := v.FitClusters(ctx, asOf, k, seed)
	if errors.Is(err, clusters.ErrTooFew) {
		return fmt.Errorf("clusters: %w", err)
	}
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(m)
	}
	a.printf("%d clusters of %d customers with a purchase, as of %s (silhouette %.3f)\n", m.K, m.Points, m.AsOf.Format(time.RFC3339), m.Silhouette)
	if len(m.Silhouettes) > 0 {
		ks := make([]int, 0, len(m.Silhouettes))
		for kk := range m.Silhouettes {
			ks = append(ks, kk)
		}
		slices.Sort(ks)
		var parts []string
		for _, kk := range ks {
			parts = append(parts, fmt.Sprintf("k=%d %.3f", kk, m.Silhouettes[kk]))
		}
		a.printf("silhouette by k: %s\n", strings.Join(parts, ", "))
	}
	a.printf("%-8s %8s %14s %10s %12s %13s\n", "cluster", "size", "recency_days", "frequency", "monetary", "satisfaction")
	for _, c := range m.Clusters {
		a.printf("%-8s %8d %14.1f %10.2f %12.2f %13.1f\n", c.Name, c.Size, c.Centre[0], c.Centre[1], c.Centre[2], c.Centre[3])
	}
	a.printf("stored: journey segments --by cluster now counts the customers by nearest cluster\n")
	return nil
}
