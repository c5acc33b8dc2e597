package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/simulate"
)

// Options size Rebuild and AsOf. Nil or zero fields take the defaults.
type Options struct {
	Workers   int          // views workers (0: GOMAXPROCS)
	MaxStates int          // rebuild: per-worker state bound (0: the projections default)
	Rounds    int          // rebuild: each side is measured this many times, alternating, the best kept (0: 2)
	Seed      uint64       // simulation seed (0: 1)
	Logger    *slog.Logger // nil: discard
	// Progress, when set, is told the events appended while the log is
	// filled, then the rebuild progress.
	Progress func(stage string, done, total uint64)
}

func (bo *Options) withDefaults() Options {
	o := Options{}
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
	return o
}

// fillLog appends events simulated events (internal/simulate: journeys of
// about events/6 customers over a year, late tills included; its invalid
// variants skipped) to a fresh log in dir, and returns how many and their
// bytes.
func fillLog(ctx context.Context, dir string, events int, o Options) (int, int64, error) {
	return fillLogSealed(ctx, dir, events, o, nil)
}

// fillLogSealed is fillLog into a log sealed by sealer (nil: plaintext).
func fillLogSealed(ctx context.Context, dir string, events int, o Options, sealer eventstore.Sealer) (int, int64, error) {
	log, err := eventstore.Open(dir, &eventstore.Options{NoSync: true, Logger: o.Logger, Sealer: sealer})
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
		err = fmt.Errorf("bench: the simulation gave %d events, want %d", w.n, events)
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
