package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/projections"
	"github.com/spf13/cobra"
)

func (a *app) rebuildCommand() *cobra.Command {
	var config, server string
	cmd := &cobra.Command{
		Use:   "rebuild [--data DIR | --server URL]",
		Short: "Rebuild every projection from the log into fresh views, then swap them in",
		Long: `rebuild folds the whole log into a new views database, in parallel across the
cores, with a progress bar on a terminal, then swaps it in atomically. Run it
after changing the rules (--config); the log is never rewritten. The stored
churn fit is kept.

With --server URL it asks a running journey serve to rebuild its views (POST
/v1/admin/rebuild): the server keeps answering from the old views until the
new ones are swapped in.`,
		Example: `  journey rebuild --data ./data
  journey rebuild --server http://127.0.0.1:8080`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server != "" {
				return a.runRebuildOnServer(cmd.Context(), server)
			}
			return a.runRebuild(cmd.Context(), config)
		},
	}
	configFlag(cmd, &config)
	cmd.Flags().StringVar(&server, "server", "", "ask the running journey serve at this URL to rebuild its views")
	return cmd
}

// runRebuildOnServer asks a running server to rebuild and swap its views.
func (a *app) runRebuildOnServer(ctx context.Context, server string) error {
	start := a.now()
	body, err := a.serverDo(ctx, http.MethodPost, server, "/v1/admin/rebuild", nil, 24*time.Hour)
	if err != nil {
		return err
	}
	took := a.now().Sub(start)
	if a.jsonOut {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			_, err := a.stdout.Write(append(bytes.TrimRight(body, "\n"), '\n'))
			return err
		}
		if _, ok := m["duration_s"]; !ok {
			m["duration_s"] = round3(took.Seconds())
		}
		return a.printJSON(m)
	}
	var st struct {
		Events       uint64  `json:"events"`
		Customers    uint64  `json:"customers"`
		Workers      int     `json:"workers"`
		EventsPerSec float64 `json:"events_per_s"`
	}
	if err := json.Unmarshal(body, &st, json.RejectUnknownMembers(false)); err != nil {
		return fmt.Errorf("answer of %s: %w", server, err)
	}
	a.printf("%s rebuilt %d events of %d customers in %s (%.0f events/s, %d workers) and swapped the new views in\n",
		server, st.Events, st.Customers, took.Round(time.Millisecond), st.EventsPerSec, st.Workers)
	return nil
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
		return a.printJSON(rebuildLine{Events: st.Events, Skipped: st.Skipped, Erased: st.Erased, Customers: st.Customers, Refolded: st.Refolded,
			Checkpoint: st.Checkpoint, Workers: st.Workers, Rounds: st.Rounds, DeferredBytes: st.DeferredBytes,
			DurationNS: st.Duration.Nanoseconds(), DurationS: round3(st.Duration.Seconds()), EventsPerSec: st.EventsPerSec})
	}
	a.printf("rebuilt %d events of %d customers in %s (%.0f events/s, %d workers)\n",
		st.Events, st.Customers, st.Duration.Round(1e6), st.EventsPerSec, st.Workers)
	if st.Rounds > 1 {
		a.printf("in %d rounds: %.1f MiB of events waited in defer files\n", st.Rounds, float64(st.DeferredBytes)/(1<<20))
	}
	if st.Skipped > 0 {
		a.printf("skipped %d stored events the vocabulary now rejects\n", st.Skipped)
	}
	if st.Erased > 0 {
		a.printf("left out %d records of forgotten customers (erased: nothing to fold)\n", st.Erased)
	}
	return nil
}

// rebuildLine is journey rebuild --json.
type rebuildLine struct {
	Events        uint64  `json:"events"`
	Skipped       uint64  `json:"skipped"`
	Erased        uint64  `json:"erased"`
	Customers     uint64  `json:"customers"`
	Refolded      uint64  `json:"refolded"`
	Checkpoint    uint64  `json:"checkpoint"`
	Workers       int     `json:"workers"`
	Rounds        int     `json:"rounds"`
	DeferredBytes int64   `json:"deferred_bytes"`
	DurationNS    int64   `json:"duration_ns"`
	DurationS     float64 `json:"duration_s"`
	EventsPerSec  float64 `json:"events_per_s"`
}

// progressBarOnce turns projections' Progress(done, total) callbacks into a
// progress bar, created at the first call. Safe on a nil receiver.
type progressBarOnce struct {
	a    *app
	desc string
	mu   sync.Mutex
	bar  *cli.Progress
	made bool
	max  uint64
}

func (p *progressBarOnce) progress(done, total uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.made {
		p.made = true
		p.bar = cli.NewProgress(p.a.stderr, int64(total), p.desc)
		p.max = total
	}
	if total != p.max {
		p.max = total
		p.bar.SetMax(int64(total))
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
