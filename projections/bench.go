package projections

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/simulate"
)

// BenchOptions size BenchRebuild. Nil or zero fields take the defaults.
type BenchOptions struct {
	Workers   int          // rebuild workers (0: GOMAXPROCS)
	MaxStates int          // per-worker state bound (0: the Options default)
	Rounds    int          // each side is measured this many times, alternating, the best kept (0: 2)
	Seed      uint64       // simulation seed (0: 1)
	Logger    *slog.Logger // nil: discard
	// Progress, when set, is told the events appended while the log is
	// filled, then the rebuild progress.
	Progress func(stage string, done, total uint64)
}

// RebuildBenchResult is one `journey bench rebuild` measurement: the
// rebuild beside a raw Pebble scan of the same log, in the same run.
type RebuildBenchResult struct {
	eventstore.BenchResult
	Customers uint64 `json:"customers"`
	Refolded  uint64 `json:"refolded"`
	Rounds    int    `json:"rounds"` // rounds of the first pass (see Options.MaxStates)
	Workers   int    `json:"workers"`
	// DeferredMiB is what the first pass wrote to defer files.
	DeferredMiB float64 `json:"deferred_mib"`
	// The phases of the best rebuild, in seconds (see RebuildStats).
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

// BenchRebuild fills a fresh log under dir with events simulated journeys
// (every kind, late offline tills), then measures, alternating, a full
// Rebuild of the views and a raw Pebble iteration over the log's records
// (the "e/" values, eventstore's key layout), and returns the best of each.
// dir's contents are removed afterwards.
func BenchRebuild(ctx context.Context, dir string, events int, bo *BenchOptions) ([]RebuildBenchResult, error) {
	if events <= 0 {
		return nil, fmt.Errorf("projections: bench rebuild needs a positive number of events, got %d", events)
	}
	o := BenchOptions{}
	if bo != nil {
		o = *bo
	}
	if o.Rounds <= 0 {
		o.Rounds = 2
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
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
	if err := compactLog(logDir); err != nil {
		return nil, err
	}

	var bestRaw time.Duration
	rawScan := func() error {
		db, err := pebble.Open(logDir, &pebble.Options{Logger: quietLogger{}, ReadOnly: true})
		if err != nil {
			return err
		}
		defer db.Close()
		start := time.Now()
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte("e/"), UpperBound: []byte("e0")})
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

	var best RebuildStats
	var peak, before float64
	rebuild := func() error {
		log, err := eventstore.Open(logDir, &eventstore.Options{NoSync: true, Logger: o.Logger, CacheSize: RebuildLogCacheSize})
		if err != nil {
			return err
		}
		defer log.Close()
		opts := &Options{Workers: o.Workers, MaxStates: o.MaxStates, Logger: o.Logger}
		if o.Progress != nil {
			opts.Progress = func(done, total uint64) { o.Progress("rebuild", done, total) }
		}
		v, err := Open(data, log, opts)
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
		if st.Events+st.Skipped != uint64(n) {
			return fmt.Errorf("rebuild folded %d of %d events", st.Events+st.Skipped, n)
		}
		if best.Duration == 0 || st.Duration < best.Duration {
			best = st
			peak = peakRSSMiB()
			before = rssBefore
		}
		return nil
	}
	for range o.Rounds {
		if err := rawScan(); err != nil {
			return nil, err
		}
		if err := rebuild(); err != nil {
			return nil, err
		}
	}
	r := RebuildBenchResult{
		BenchResult: eventstore.BenchResult{
			Bench:              "rebuild",
			Events:             n,
			EventsPerS:         float64(n) / best.Duration.Seconds(),
			MBPerS:             float64(bytesIn) / best.Duration.Seconds() / 1e6,
			Baseline:           "raw pebble iteration over the log's e/ values",
			BaselineEventsPerS: float64(n) / bestRaw.Seconds(),
		},
		Customers:    best.Customers,
		Refolded:     best.Refolded,
		Rounds:       best.Rounds,
		DeferredMiB:  float64(best.DeferredBytes) / (1 << 20),
		Workers:      best.Workers,
		PeakRSSMiB:   peak,
		RSSBeforeMiB: before,
		FirstPassS:   best.FirstPass.Seconds(),
		LatePassS:    best.LatePass.Seconds(),
		FinishS:      best.Finish.Seconds(),
	}
	r.Ratio = r.EventsPerS / r.BaselineEventsPerS
	return []RebuildBenchResult{r}, nil
}

// fillLog appends events simulated events to a fresh log in dir.
func fillLog(ctx context.Context, dir string, events int, o BenchOptions) (int, int64, error) {
	log, err := eventstore.Open(dir, &eventstore.Options{NoSync: true, Logger: o.Logger})
	if err != nil {
		return 0, 0, err
	}
	// About six to eight events per simulated customer over a year.
	cfg := simulate.Config{Customers: max(1, events/6), Days: 365, Seed: o.Seed}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &appendWriter{ctx: ctx, log: log, want: events, progress: o.Progress}
	_, err = simulate.Run(ctx, w, cfg)
	if w.err != nil && !errors.Is(w.err, errEnough) {
		err = w.err
	} else if w.n >= events || err == nil {
		err = w.flush()
	}
	if err == nil && w.n < events {
		err = fmt.Errorf("projections: the simulation gave %d events, want %d", w.n, events)
	}
	return w.n, w.bytes, errors.Join(err, log.Close())
}

var errEnough = errors.New("enough events")

// appendWriter appends the JSONL written to it to a log, in batches.
type appendWriter struct {
	ctx      context.Context
	log      *eventstore.Store
	want, n  int
	bytes    int64
	partial  []byte
	reqs     []eventstore.Request
	err      error
	progress func(stage string, done, total uint64)
}

func (w *appendWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := bytes.Clone(w.partial[:i])
		w.partial = w.partial[i+1:]
		if w.n+len(w.reqs) >= w.want {
			continue
		}
		ev, err := journey.DecodeStored(line)
		if err != nil {
			continue // the simulation's deliberately invalid variants
		}
		w.reqs = append(w.reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
		w.bytes += int64(len(line))
		if len(w.reqs) == 4096 {
			if w.err = w.flush(); w.err != nil {
				return 0, w.err
			}
		}
	}
	w.partial = append(w.partial[:0:0], w.partial...)
	if w.n+len(w.reqs) >= w.want {
		if w.err = w.flush(); w.err != nil {
			return 0, w.err
		}
		w.err = errEnough
		return 0, errEnough
	}
	return len(p), nil
}

func (w *appendWriter) flush() error {
	if len(w.reqs) == 0 {
		return nil
	}
	res, err := w.log.Append(w.ctx, w.reqs)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
		if !r.Duplicate {
			w.n++
		}
	}
	w.reqs = w.reqs[:0]
	if w.progress != nil {
		w.progress("fill", uint64(w.n), uint64(w.want))
	}
	return nil
}

var _ io.Writer = (*appendWriter)(nil)

// resetPeakRSS resets the kernel's peak resident set size of the process
// (Linux: "5" to /proc/self/clear_refs); a no-op elsewhere.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMiB reads VmHWM from /proc/self/status (0 when unavailable).
func peakRSSMiB() float64 { return rssMiB("VmHWM:") }

// rssMiB reads a memory line of /proc/self/status (0 when unavailable).
func rssMiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// compactLog compacts the whole log database in dir.
func compactLog(dir string) error {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return err
	}
	err = db.Compact(context.Background(), []byte{0}, []byte{0xff}, true)
	return errors.Join(err, db.Close())
}
