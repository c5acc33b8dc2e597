package main

import (
	"context"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/internal/every"
	"github.com/journey-cdp/journey/internal/rofs"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/spf13/cobra"
)

// openViews opens the log and the views of the data dir and, unless
// noCatchUp, brings the views up to date with the log. close closes both.
func (a *app) openViews(ctx context.Context, configPath string, opts projections.Options, noCatchUp bool) (v *projections.Views, closeAll func(), err error) {
	return a.openViewsCache(ctx, configPath, opts, noCatchUp, 0)
}

// openViewsCache is openViews with the log's block cache of logCache
// bytes (0: the log's default).
func (a *app) openViewsCache(ctx context.Context, configPath string, opts projections.Options, noCatchUp bool, logCache int64) (v *projections.Views, closeAll func(), err error) {
	var cfg *customer.Config
	if configPath != "" {
		if cfg, err = customer.LoadConfig(configPath); err != nil {
			return nil, nil, err
		}
	}
	so := a.readStoreOptions()
	so.CacheSize = logCache
	store, err := a.openLog(false, so)
	if err != nil {
		return nil, nil, err
	}
	opts.Config = cfg
	opts.Clock = a.now
	opts.Logger = a.logger()
	v, err = projections.Open(a.dataDir(), store, &opts)
	if err != nil && rofs.IsReadOnly(err) {
		if noCatchUp {
			store.Close()
			return nil, nil, &cli.ReadOnlyError{Dir: a.dataDir(), Command: "rebuild", Err: err}
		}
		if opts.FS == nil {
			// The views cannot be written on a read-only file system:
			// fold them in memory from the log, which is read-only.
			opts.FS = vfs.NewMem()
			v, err = projections.Open(a.dataDir(), store, &opts)
		}
	}
	if err != nil {
		store.Close()
		if cli.IsLockError(err) {
			return nil, nil, cli.NewInUseError(a.dataDir(), err)
		}
		return nil, nil, err
	}
	closeAll = func() {
		v.Close()
		store.Close()
	}
	if !noCatchUp {
		bar := (*cli.Progress)(nil)
		if behind := store.DurableSeq() - min(v.Checkpoint(), store.DurableSeq()); behind > 50000 {
			bar = cli.NewProgress(a.stderr, int64(behind), "catch up")
		}
		from := v.Checkpoint()
		stop := followProgress(bar, v, from)
		_, err := v.CatchUp(ctx)
		stop()
		bar.Finish()
		if err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return v, closeAll, nil
}

// followProgress moves bar with the views' checkpoint until stop.
func followProgress(bar *cli.Progress, v *projections.Views, from uint64) (stop func()) {
	if bar == nil {
		return func() {}
	}
	return every.Do(progressEvery, func() { bar.Set(int64(v.Checkpoint() - from)) })
}

// notFound turns a projections "no such customer" into a clear error.
func notFound(id string, err error) error {
	if errors.Is(err, projections.ErrNotFound) {
		return errors.New("customer " + journey.Quote(id) + " has no events (at that instant)")
	}
	return err
}

// configFlag adds --config to cmd.
func configFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "config", "", "projection rules file (JSON: satisfaction weights, home_country, CEL rule segments)")
}

// progressEvery is how often progress bars move.
const progressEvery = 200 * time.Millisecond
