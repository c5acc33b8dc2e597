package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/handlers/reactions"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/projections"
)

// actionsCommand is `journey actions list|export`: the reactions' actions
// (handlers/reactions/REACTIONS.md) as the customers' states keep them.
func (a *app) actionsCommand() *cobra.Command {
	cmd := groupCommand("actions", "List or export the thank-you, win-back and escalation actions the engine asked for")
	var f actionFlags
	list := &cobra.Command{
		Use:   "list [--kind K] [--status pending|done] [--as-of T] [--limit N]",
		Short: "List the actions, pending and done",
		Long: `list prints the actions the reactions asked for (thank_you, winback,
escalation), customer by customer, with their status: done once confirmed (a
thank_you touchpoint naming the action id; for a win-back also the customer's
next purchase, for an escalation the case resolved). With --as-of T: the
actions recorded by T, with their status then. --json prints
{"actions":[…],"truncated":bool}.`,
		Example: `  journey actions list --status pending
  journey actions list --kind winback --as-of 2025-12-31 --json
  journey actions list --server http://127.0.0.1:8080`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.limit < 1 || f.limit > handlers.MaxActionsLimit {
				// The engine's GET /v1/actions range, on both surfaces.
				return usageErrorf("--limit %d must be from 1 to %d (journey actions export writes every action)", f.limit, handlers.MaxActionsLimit)
			}
			rows, truncated, err := a.actionRows(cmd.Context(), f, f.limit)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(handlers.ActionsAnswer{Actions: rows, Truncated: truncated})
			}
			for _, r := range rows {
				a.printf("%-20s %-11s %-8s %-20s %s  %s\n", r.Customer, r.Kind, r.Status, cmpStr(r.Reason, "-"), r.Asked.Format(time.RFC3339), r.ID)
			}
			if len(rows) == 0 {
				a.printf("no actions\n")
			} else if truncated {
				a.printf("… more (raise --limit, or use journey actions export)\n")
			}
			return nil
		},
	}
	f.add(list)
	list.Flags().IntVar(&f.limit, "limit", 100, "most actions listed")
	var format string
	export := &cobra.Command{
		Use:   "export [--kind K] [--status pending|done] [--as-of T] [--format jsonl|csv]",
		Short: "Export every action (JSONL or CSV) to stdout",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "jsonl" && format != "csv" {
				return usageErrorf("--format %q is not jsonl or csv", format)
			}
			if a.rawCSV && format != "csv" {
				return usageErrorf("--raw-csv applies to --format csv")
			}
			rows, _, err := a.actionRows(cmd.Context(), f, 0)
			if err != nil {
				return err
			}
			return a.writeExport(a.stdout, format, actionsCSVHeader, func(cw *csvRows) error {
				for _, r := range rows {
					if format == "jsonl" {
						if err := cli.WriteJSON(a.stdout, r); err != nil {
							return err
						}
						continue
					}
					done := ""
					if !r.Done.IsZero() {
						done = r.Done.Format(time.RFC3339Nano)
					}
					_ = cw.Write([]string{r.Customer, r.ID, r.Kind, r.Status, r.Reason, r.Case, r.Asked.Format(time.RFC3339Nano), done})
				}
				return nil
			})
		},
	}
	f.add(export)
	export.Flags().StringVar(&format, "format", "jsonl", "jsonl or csv")
	export.Flags().BoolVar(&a.rawCSV, "raw-csv", false, "csv: write every cell as stored, also one starting with = + - @ that a spreadsheet would evaluate (default: a leading ')")
	cmd.AddCommand(list, export)
	return cmd
}

var actionsCSVHeader = []string{"customer", "id", "kind", "status", "reason", "case_id", "asked_at", "done_at"}

type actionFlags struct {
	kind, status, asOf, server, config string
	limit                              int
}

func (f *actionFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kind, "kind", "", "only this kind: "+strings.Join(reactions.Kinds(), ", "))
	cmd.Flags().StringVar(&f.status, "status", "", "only this status: pending, done")
	cmd.Flags().StringVar(&f.asOf, "as-of", "", "as of T (RFC 3339 or YYYY-MM-DD = end of that day, UTC)")
	cmd.Flags().StringVar(&f.server, "server", "", "ask a running journey serve at this URL instead of opening the data dir")
	configFlag(cmd, &f.config)
}

// actionRows lists the actions f selects (limit 0: all), locally or from
// the server; truncated says more were there.
func (a *app) actionRows(ctx context.Context, f actionFlags, limit int) ([]reactions.Row, bool, error) {
	at, err := a.optionalAsOf(f.asOf)
	if err != nil {
		return nil, false, err
	}
	filter := reactions.Filter{Kind: f.kind, Status: f.status, AsOf: at}
	if err := filter.Check(); err != nil {
		var je *journey.Error
		if errors.As(err, &je) {
			return nil, false, usageErrorf("--%s: %s", je.Field, je.Rule)
		}
		return nil, false, err
	}
	if f.server != "" {
		q := url.Values{}
		for k, v := range map[string]string{"kind": f.kind, "status": f.status} {
			if v != "" {
				q.Set(k, v)
			}
		}
		withAsOf(q, at)
		q.Set("limit", strconv.Itoa(cmpInt(limit, handlers.MaxActionsLimit)))
		var ans handlers.ActionsAnswer
		if err := a.serverJSON(ctx, f.server, "/v1/actions", q, &ans); err != nil {
			return nil, false, err
		}
		if limit == 0 && ans.Truncated {
			// An export never stops short silently.
			return nil, false, fmt.Errorf("%s lists at most %d actions and there are more: narrow the export with --kind, --status or --as-of, or export from the data dir with the engine stopped",
				f.server, handlers.MaxActionsLimit)
		}
		return ans.Actions, ans.Truncated, nil
	}
	v, closeAll, err := a.openViews(ctx, f.config, projections.Options{}, false)
	if err != nil {
		return nil, false, err
	}
	defer closeAll()
	if limit > 0 {
		filter.Limit = limit + 1
	}
	var rows []reactions.Row
	if err := reactions.List(ctx, v, filter, func(r reactions.Row) error { rows = append(rows, r); return nil }); err != nil {
		return nil, false, err
	}
	if limit > 0 && len(rows) > limit {
		return rows[:limit], true, nil
	}
	if rows == nil {
		rows = []reactions.Row{}
	}
	return rows, false, nil
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cmpInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}
