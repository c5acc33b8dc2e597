package projections

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/journey-cdp/journey/eventstore"
)

// OverviewOptions tune an OverviewKeeper (a nil *OverviewOptions means
// defaults).
type OverviewOptions struct {
	// Poll is how often the keeper looks whether the views changed (0:
	// 250 ms). Looking is two atomic loads; it reads nothing.
	Poll time.Duration
	// MinInterval is the least time between two passes when the views keep
	// changing (0: 2 s); the keeper also waits at least 5 × the last
	// pass's duration, so passes take at most a fifth of a core.
	MinInterval time.Duration
	// MaxAge is the longest the overview is kept without a pass when
	// nothing changed (0: 10 min): the passing of time moves churn and
	// recency, and a new fit changes the population. The day's change
	// also causes a pass.
	MaxAge time.Duration
	// Idle is how long after the last request the keeper goes on counting
	// (0: 10 min). Then it stops until the next request, which is served
	// the last count (its computed-at instant says how old) and wakes the
	// keeper: nobody watching, the ingest does not pay for the passes. The
	// first count is made on the first request, which waits for it.
	Idle time.Duration
}

func (o *OverviewOptions) withDefaults() OverviewOptions {
	var c OverviewOptions
	if o != nil {
		c = *o
	}
	if c.Poll <= 0 {
		c.Poll = 250 * time.Millisecond
	}
	if c.MinInterval <= 0 {
		c.MinInterval = 2 * time.Second
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 10 * time.Minute
	}
	if c.Idle <= 0 {
		c.Idle = 10 * time.Minute
	}
	return c
}

// OverviewKeeper keeps the Overview of now in memory, recomputed in the
// background: when the views changed (their checkpoint moved, or a
// rebuild swapped them), at most every MinInterval (or 5 × the last
// pass); when the day changed; and at least every MaxAge — while someone
// asks for it (see OverviewOptions.Idle). Current serves the kept copy
// and never walks the customers. It counts the events per
// day from the log incrementally (only the records folded since its last
// pass). It stops on Close or when the views are closed.
type OverviewKeeper struct {
	v    *Views
	o    OverviewOptions
	cur  atomic.Pointer[Overview]
	errp atomic.Pointer[error] // the last pass's error (nil: none)

	passes atomic.Uint64
	took   atomic.Int64  // the last pass's duration (ns)
	asked  atomic.Int64  // wall clock of the last request (unix ns; 0: none yet)
	wake   chan struct{} // a request after an idle spell
	ready  chan struct{} // closed after the first pass (or the keeper's end)
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	// The loop's own: the events per day (days since 1970-01-01, UTC) of
	// the log records 1..daysSeq.
	days    map[int64]int
	daysSeq uint64
	dir     string
}

// KeepOverview starts an OverviewKeeper of v.
func (v *Views) KeepOverview(o *OverviewOptions) *OverviewKeeper {
	k := &OverviewKeeper{v: v, o: o.withDefaults(), ready: make(chan struct{}), stop: make(chan struct{}),
		done: make(chan struct{}), wake: make(chan struct{}, 1), days: map[int64]int{}}
	go k.run()
	return k
}

// ErrOverviewStopped: the keeper was closed (or its views were) before
// its first pass.
var ErrOverviewStopped = errors.New("projections: overview keeper stopped")

// Current is the kept overview of now (do not modify it), waiting for the
// first pass when there is none yet. It walks nothing.
func (k *OverviewKeeper) Current(ctx context.Context) (*Overview, error) {
	// The kept count is taken before the keeper is woken: a request after
	// an idle spell is answered with the last count, never with one the
	// keeper made in between because of it.
	o := k.cur.Load()
	now := time.Now().UnixNano()
	if prev := k.asked.Swap(now); prev == 0 || time.Duration(now-prev) >= k.o.Idle {
		select { // the keeper was idle: count again now
		case k.wake <- struct{}{}:
		default:
		}
	}
	if o != nil {
		return o, nil
	}
	select {
	case <-k.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if o := k.cur.Load(); o != nil {
		return o, nil
	}
	if e := k.errp.Load(); e != nil {
		return nil, *e
	}
	return nil, ErrOverviewStopped
}

// At is the overview at asOf: the kept one when asOf is zero (Current),
// else a pass over the population as of asOf (Views.Overview) with the
// kept events per day up to asOf's day.
func (k *OverviewKeeper) At(ctx context.Context, asOf time.Time) (*Overview, error) {
	if asOf.IsZero() {
		return k.Current(ctx)
	}
	o, err := k.v.Overview(ctx, asOf)
	if err != nil {
		return nil, err
	}
	cur, err := k.Current(ctx)
	if err != nil {
		return nil, err
	}
	last := asOf.UTC().Format(time.DateOnly)
	o.EventsByDay = map[string]int{}
	for d, n := range cur.EventsByDay {
		if d <= last {
			o.EventsByDay[d] = n
		}
	}
	return o, nil
}

// Every is the least time between two passes now: MinInterval, or 5 ×
// the last pass's duration when that is longer. Under steady ingest the
// overview of now is behind the views by at most Every plus one pass.
func (k *OverviewKeeper) Every() time.Duration {
	return max(k.o.MinInterval, 5*time.Duration(k.took.Load()))
}

// Passes counts the passes over the customers the keeper made.
func (k *OverviewKeeper) Passes() uint64 { return k.passes.Load() }

// Close stops the keeper and waits for its pass in flight.
func (k *OverviewKeeper) Close() {
	k.once.Do(func() { close(k.stop) })
	<-k.done
}

func (k *OverviewKeeper) run() {
	defer close(k.done)
	readyOnce := sync.OnceFunc(func() { close(k.ready) })
	defer readyOnce()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-k.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(k.o.Poll)
	defer t.Stop()
	var lastPass time.Time // wall clock of the last pass's start
	for {
		if _, err := k.v.Population(); errors.Is(err, ErrClosed) {
			return
		}
		cp, dir := k.v.Checkpoint(), k.v.Dir()
		cur := k.cur.Load()
		now := k.v.now().UTC()
		asked := k.asked.Load()
		watched := asked != 0 && time.Since(time.Unix(0, asked)) < k.o.Idle
		due := cur == nil && k.errp.Load() == nil && asked != 0
		if (cur != nil || k.errp.Load() != nil) && watched {
			wait := k.Every()
			changed := cur == nil || cp != cur.Checkpoint || dir != k.dir
			due = changed && time.Since(lastPass) >= wait ||
				cur != nil && now.Truncate(24*time.Hour) != cur.ComputedAt.Truncate(24*time.Hour) ||
				time.Since(lastPass) >= k.o.MaxAge
		}
		if due {
			lastPass = time.Now()
			o, err := k.pass(ctx, cp)
			k.took.Store(int64(time.Since(lastPass)))
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrClosed) {
					return
				}
				k.v.opts.Logger.Warn("projections: overview pass", "err", err)
				k.errp.Store(&err)
			} else {
				k.errp.Store(nil)
				k.dir = dir
				k.cur.Store(o)
			}
			readyOnce()
		}
		select {
		case <-k.stop:
			return
		case <-t.C:
		case <-k.wake:
		}
	}
}

// pass counts the log's events up to cp (those since the last pass) and
// the population now.
func (k *OverviewKeeper) pass(ctx context.Context, cp uint64) (*Overview, error) {
	k.passes.Add(1)
	if cp > k.daysSeq && k.v.log != nil {
		err := k.v.log.ScanRaw(ctx, k.daysSeq+1, cp, func(rec *eventstore.RawRecord) error {
			d := rec.EventSec / 86400
			if rec.EventSec < 0 && rec.EventSec%86400 != 0 {
				d--
			}
			k.days[d]++
			k.daysSeq = rec.Seq
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	o, err := k.v.Overview(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	o.Checkpoint = cp
	last := o.AsOf.Format(time.DateOnly)
	o.EventsByDay = make(map[string]int, len(k.days))
	for d, n := range maps.All(k.days) {
		if s := time.Unix(d*86400, 0).UTC().Format(time.DateOnly); s <= last {
			o.EventsByDay[s] = n
		}
	}
	return o, nil
}
