package main

import (
	"context"
	"sync"

	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/projections"
	"github.com/spf13/cobra"
)

func (a *app) rebuildCommand() *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:   "rebuild [--data DIR]",
		Short: "Rebuild every projection from the log into fresh views, then swap them in",
		Long: `rebuild folds the whole log into a new views database, in parallel across the
cores, with a progress bar on a terminal, then swaps it in atomically. Run it
after changing the rules (--config); the log is never rewritten. The stored
churn fit is kept.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runRebuild(cmd.Context(), config) },
	}
	configFlag(cmd, &config)
	return cmd
}

func (a *app) runRebuild(ctx context.Context, config string) error {
	bar := &progressBarOnce{a: a, desc: "rebuild"}
	v, closeAll, err := a.openViewsCache(ctx, config, projections.Options{Progress: bar.progress}, true, projections.RebuildLogCacheSize)
	if err != nil {
		return err
	}
	defer closeAll()
	st, err := v.Rebuild(ctx)
	bar.finish()
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(rebuildLine{Events: st.Events, Skipped: st.Skipped, Customers: st.Customers, Refolded: st.Refolded,
			Checkpoint: st.Checkpoint, Workers: st.Workers, DurationNS: st.Duration.Nanoseconds(), EventsPerSec: st.EventsPerSec})
	}
	a.printf("rebuilt %d events of %d customers in %s (%.0f events/s, %d workers)\n",
		st.Events, st.Customers, st.Duration.Round(1e6), st.EventsPerSec, st.Workers)
	if st.Skipped > 0 {
		a.printf("skipped %d stored events the vocabulary now rejects\n", st.Skipped)
	}
	return nil
}

// rebuildLine is journey rebuild --json.
type rebuildLine struct {
	Events       uint64  `json:"events"`
	Skipped      uint64  `json:"skipped"`
	Customers    uint64  `json:"customers"`
	Refolded     uint64  `json:"refolded"`
	Checkpoint   uint64  `json:"checkpoint"`
	Workers      int     `json:"workers"`
	DurationNS   int64   `json:"duration_ns"`
	EventsPerSec float64 `json:"events_per_s"`
}

// progressBarOnce turns projections' Progress(done, total) callbacks into a
// progress bar, created at the first call. Safe on a nil receiver.
type progressBarOnce struct {
	a    *app
	desc string
	mu   sync.Mutex
	bar  *cli.Progress
	made bool
}

func (p *progressBarOnce) progress(done, total uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.made {
		p.made = true
		p.bar = cli.NewProgress(p.a.stderr, int64(total), p.desc)
	}
	p.bar.Set(int64(done))
}

func (p *progressBarOnce) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Finish()
}
