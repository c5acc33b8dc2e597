package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
)

// RebuildResult is the `journey bench rebuild` measurement: the rebuild
// beside a raw Pebble scan of the same log, in the same run.
type RebuildResult struct {
	Result
	Customers uint64 `json:"customers"`
	Refolded  uint64 `json:"refolded"`
	Rounds    int    `json:"rounds"` // rounds of the first pass (see projections.Options.MaxStates)
	Workers   int    `json:"workers"`
	// DeferredMiB is what the first pass wrote to defer files.
	DeferredMiB float64 `json:"deferred_mib"`
	// The phases of the best rebuild, in seconds (see projections.RebuildStats).
	FirstPassS float64 `json:"first_pass_s"`
	LatePassS  float64 `json:"late_pass_s"`
	FinishS    float64 `json:"finish_s"`
	// PeakRSSMiB is the process's peak resident memory during the best
	// rebuild (VmHWM after resetting it; 0 where /proc is not available).
	PeakRSSMiB float64 `json:"peak_rss_mib,omitempty"`
	// RSSBeforeMiB is the resident memory when the rebuild started (what
	// the log fill and the earlier rounds left mapped).
	RSSBeforeMiB float64 `json:"rss_before_mib,omitempty"`
}

// Rebuild fills a fresh log under dir with events of simulated journeys
// (every kind, late offline tills), and an encrypted log with the same
// events (each customer's sealed under their own key), then measures,
// alternating, a raw Pebble iteration over the plaintext log's records
// (eventstore.RecordKeyRange), a full rebuild of its views
// (projections.Views.Rebuild), and a full rebuild of the encrypted log's
// views, and returns the best of each: "rebuild" (baseline the raw
// iteration) and "rebuild-encrypted" (baseline the plaintext rebuild).
// dir's contents are removed afterwards.
func Rebuild(ctx context.Context, dir string, events int, bo *Options) ([]RebuildResult, error) {
	if events <= 0 {
		return nil, fmt.Errorf("bench: rebuild needs a positive number of events, got %d", events)
	}
	o := bo.withDefaults()
	data, err := os.MkdirTemp(dir, "bench-rebuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	logDir := filepath.Join(data, "log")
	n, bytesIn, err := fillLog(ctx, logDir, events, o)
	if err != nil {
		return nil, err
	}
	// Settle the log (compact it) so that neither side pays for, or races
	// with, the compactions the fill left behind.
	if err := compactDir(logDir, o.Logger); err != nil {
		return nil, err
	}

	var bestRaw time.Duration
	rawScan := func() error {
		db, err := pebble.Open(logDir, &pebble.Options{Logger: pebbleLogger{o.Logger}, ReadOnly: true})
		if err != nil {
			return err
		}
		defer db.Close()
		lower, upper := eventstore.RecordKeyRange()
		start := time.Now()
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return err
		}
		seen, sink := 0, 0
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return err
			}
			seen++
			sink += len(v)
		}
		if err := it.Close(); err != nil {
			return err
		}
		d := time.Since(start)
		if seen != n {
			return fmt.Errorf("raw scan saw %d of %d records", seen, n)
		}
		if bestRaw == 0 || d < bestRaw {
			bestRaw = d
		}
		_ = sink
		return nil
	}

	// The encrypted log: the same simulated events, each customer's sealed
	// under their own key (package keystore), rebuilt beside the plaintext
	// one in the same rounds.
	sealedData := filepath.Join(data, "sealed")
	sealedLog, keysDir := filepath.Join(sealedData, "log"), filepath.Join(sealedData, "keys")
	ks, err := openBenchKeys(keysDir)
	if err != nil {
		return nil, err
	}
	ns, _, err := fillLogSealed(ctx, sealedLog, events, o, ks)
	if err = errors.Join(err, ks.Close()); err != nil {
		return nil, err
	}
	if ns != n {
		return nil, fmt.Errorf("bench: the encrypted log has %d events, the plaintext one %d", ns, n)
	}
	if err := compactDir(sealedLog, o.Logger); err != nil {
		return nil, err
	}

	plain, sealed := &rebuildBest{}, &rebuildBest{}
	for range o.Rounds {
		if err := rawScan(); err != nil {
			return nil, err
		}
		if err := plain.rebuild(ctx, data, logDir, "", n, o); err != nil {
			return nil, err
		}
		if err := sealed.rebuild(ctx, sealedData, sealedLog, keysDir, n, o); err != nil {
			return nil, fmt.Errorf("encrypted log: %w", err)
		}
	}
	r := plain.result("rebuild", n, bytesIn)
	r.Baseline, r.BaselineEventsPerS = "raw pebble iteration over the log's e/ values", float64(n)/bestRaw.Seconds()
	r.Ratio = r.EventsPerS / r.BaselineEventsPerS
	rs := sealed.result("rebuild-encrypted", n, bytesIn)
	rs.Baseline, rs.BaselineEventsPerS = "the plaintext log's rebuild, same events, same rounds", r.EventsPerS
	rs.Ratio = rs.EventsPerS / rs.BaselineEventsPerS
	return []RebuildResult{r, rs}, nil
}

// rebuildBest keeps the best of a log's rebuilds.
type rebuildBest struct {
	best         projections.RebuildStats
	peak, before float64
}

// rebuild opens the log in logDir (sealed under the key store in keysDir
// when set) and its views under data, and times one full rebuild.
func (b *rebuildBest) rebuild(ctx context.Context, data, logDir, keysDir string, n int, o Options) error {
	lo := &eventstore.Options{NoSync: true, Logger: o.Logger, CacheSize: projections.RebuildLogCacheSize}
	if keysDir != "" {
		ks, err := openBenchKeys(keysDir)
		if err != nil {
			return err
		}
		defer ks.Close()
		lo.Sealer = ks
	}
	log, err := eventstore.Open(logDir, lo)
	if err != nil {
		return err
	}
	defer log.Close()
	opts := &projections.Options{Workers: o.Workers, MaxStates: o.MaxStates, Logger: o.Logger}
	if o.Progress != nil {
		opts.Progress = func(done, total uint64) { o.Progress("rebuild", done, total) }
	}
	v, err := projections.Open(data, log, opts)
	if err != nil {
		return err
	}
	defer v.Close()
	debug.FreeOSMemory()
	rssBefore := rssMiB("VmRSS:")
	resetPeakRSS()
	start := time.Now()
	st, err := v.Rebuild(ctx)
	if err != nil {
		return err
	}
	st.Duration = time.Since(start) // the whole rebuild, swap included
	if st.Events+st.Skipped+st.Erased != uint64(n) {
		return fmt.Errorf("rebuild folded %d of %d events", st.Events+st.Skipped+st.Erased, n)
	}
	if b.best.Duration == 0 || st.Duration < b.best.Duration {
		b.best = st
		b.peak = peakRSSMiB()
		b.before = rssBefore
	}
	return nil
}

func (b *rebuildBest) result(name string, n int, bytesIn int64) RebuildResult {
	best := b.best
	return RebuildResult{
		Result: Result{
			Bench:      name,
			Events:     n,
			EventsPerS: float64(n) / best.Duration.Seconds(),
			MBPerS:     float64(bytesIn) / best.Duration.Seconds() / 1e6,
		},
		Customers:    best.Customers,
		Refolded:     best.Refolded,
		Rounds:       best.Rounds,
		DeferredMiB:  float64(best.DeferredBytes) / (1 << 20),
		Workers:      best.Workers,
		PeakRSSMiB:   b.peak,
		RSSBeforeMiB: b.before,
		FirstPassS:   best.FirstPass.Seconds(),
		LatePassS:    best.LatePass.Seconds(),
		FinishS:      best.Finish.Seconds(),
	}
}
