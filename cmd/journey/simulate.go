package main

import (
	"bufio"
	"fmt"
	"time"

	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/internal/simulate"
	"github.com/spf13/cobra"
)

func (a *app) simulateCommand() *cobra.Command {
	var (
		cfg   simulate.Config
		start string
	)
	cmd := &cobra.Command{
		Use:   "simulate --customers N --days D --seed S",
		Short: "Write realistic synthetic customer journeys as JSONL on stdout",
		Long: `simulate writes touchpoints of N customers over D days as CloudEvents JSONL on
stdout, in the order they would arrive: window shoppers, one-time and repeat
buyers, loyal customers and advocates who refer others, complaints (some
escalated, some resolved), returns, feedback, thank-yous, profiles (some
foreign, some business), customers who go silent, and offline tills whose
events arrive hours or days late.

The output depends only on the flags: the same --seed gives the same bytes.
The period starts at --start (default 2025-01-01, a fixed date for that reason).`,
		Example: `  journey simulate --customers 200 --days 90 --seed 1 > events.jsonl
  journey simulate --customers 200 --days 90 --seed 1 | journey publish --nats-url nats://127.0.0.1:4222 -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if start != "" {
				t, err := time.Parse(time.DateOnly, start)
				if err != nil {
					if t, err = time.Parse(time.RFC3339, start); err != nil {
						return usageErrorf("--start %q is not a date (2006-01-02) or RFC 3339 time", start)
					}
				}
				cfg.Start = t.UTC()
			}
			if err := cfg.Validate(); err != nil {
				return &usageError{err}
			}
			if end := cfg.End(); end.After(a.now()) {
				fmt.Fprintf(a.stderr, "journey: warning: the simulated period ends %s, in the future; events after now+5m will be rejected\n", end.Format(time.DateOnly))
			}
			w := bufio.NewWriterSize(a.stdout, 256<<10)
			st, err := simulate.Run(cmd.Context(), w, cfg)
			if err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if a.jsonOut {
				return cli.WriteJSON(a.stderr, map[string]any{"customers": st.Customers, "events": st.Events, "invalid": st.Invalid, "late": st.Late})
			}
			if cli.IsTerminal(a.stderr) {
				fmt.Fprintf(a.stderr, "simulated %d customers, %d events (%d late, %d invalid)\n", st.Customers, st.Events, st.Late, st.Invalid)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Customers, "customers", 1000, "number of customers")
	f.IntVar(&cfg.Days, "days", 90, "length of the simulated period in days")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same output")
	f.StringVar(&start, "start", "", "first day of the period, YYYY-MM-DD (default 2025-01-01)")
	f.Float64Var(&cfg.InvalidRate, "invalid-rate", 0, "fraction of events written invalid (0..1), to exercise the quarantine")
	return cmd
}
