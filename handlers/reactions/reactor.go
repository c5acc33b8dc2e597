package reactions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/freshwal"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// Options are what a Reactor runs on.
type Options struct {
	Store *eventstore.Store  // the log: read, and appended to (the outbox)
	Views *projections.Views // the customers' answers (with the same Clock)
	// JetStream publishes the actions (nil: decide and record, never
	// dispatch — the dispatcher's position stays where it is).
	JetStream jetstream.JetStream
	// Dir holds the reactions' own database (<data>/reactions).
	Dir    string
	Config Config
	// Projections is the views' customer configuration (for the report's
	// satisfaction trend; nil: defaults).
	Projections *customer.Config
	Clock       func() time.Time // nil: time.Now; the views must use the same
	Logger      *slog.Logger
	// Registerer gets the metrics (nil: none registered).
	Registerer prometheus.Registerer
	// SweepEvery is the sweeper's period (0: 1 minute); PollEvery how often
	// an idle decider looks at the views again (0: 50 ms).
	SweepEvery, PollEvery time.Duration
	// MaxPerSweep bounds the customers one sweep re-evaluates (0: 100,000);
	// the rest wait for the next sweep.
	MaxPerSweep int
	// SweepShare is the share of one core a sweep may take (0: 0.25; 1 or
	// more: no limit): after each few customers the sweep pauses for as
	// long as their work took, times (1-share)/share, so that a big sweep
	// (a holiday, the first start over a million customers) leaves the
	// ingest its cores; it takes 1/share as long.
	SweepShare float64
	// Stream is the JetStream stream of the actions ("": JOURNEY_ACTIONS,
	// subjects journey.actions.>, 24 h dedupe window).
	Stream string
}

// DefaultSweepShare is the share of one core a sweep takes by default.
const DefaultSweepShare = 0.25

// SubjectPrefix is the actions' subject prefix: journey.actions.<kind>.
const SubjectPrefix = "journey.actions."

// DefaultStream is the stream the dispatcher provisions.
const DefaultStream = "JOURNEY_ACTIONS"

// Reactor decides the actions from the journey, records them in the log
// and dispatches them (see REACTIONS.md).
type Reactor struct {
	o    Options
	cfg  Config
	cond *customer.Config
	db   *pebble.DB
	log  *slog.Logger

	asked, dispatched, confirmed *prometheus.CounterVec
	overdue                      *prometheus.GaugeVec

	// recent holds the thank-yous decided and not yet written to the
	// database's t/ (customer → the cause's instant).
	recent map[string]time.Time

	mu sync.Mutex // one decider or sweep at a time
	// forgetMu: a publish holds it (read) from the check that its
	// customer is not erased to the acknowledgement; Forget takes it
	// (write) once, so that no action of the forgotten customer is
	// published after it (dispatch.go).
	forgetMu sync.RWMutex

	lanes []*lane // the dispatch lanes, the default one first (dispatch.go)
	// The pacing's wall clock and wait (time.Now and sleep; a test drives
	// them as a virtual clock).
	paceNow   func() time.Time
	paceSleep func(context.Context, time.Duration) bool
}

// Open opens (creating) the reactions' database. A new database starts at
// the log's durable head: the history before it is not acted on, and its
// due index is seeded from the views by the first Run.
func Open(o Options) (*Reactor, error) {
	if o.Store == nil || o.Views == nil || o.Dir == "" {
		return nil, errors.New("reactions: Store, Views and Dir are required")
	}
	cfg := o.Config.withDefaults()
	cond, err := cfg.conditions()
	if err != nil {
		return nil, err
	}
	o.Clock = cmpFn(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.SweepEvery = positive(o.SweepEvery, time.Minute)
	o.PollEvery = positive(o.PollEvery, 50*time.Millisecond)
	if o.MaxPerSweep <= 0 {
		o.MaxPerSweep = 100_000
	}
	if o.SweepShare <= 0 {
		o.SweepShare = DefaultSweepShare
	}
	o.Stream = cmpOr(o.Stream, DefaultStream)
	// freshwal and a MANIFEST per change: a forgotten customer's id must
	// not stay in a reused WAL's tail or an old table bound (Forget).
	db, err := pebble.Open(filepath.Clean(o.Dir), &pebble.Options{Logger: quiet{}, FS: freshwal.FS(vfs.Default), MaxManifestFileSize: 1})
	if err != nil {
		return nil, fmt.Errorf("reactions: open %s: %w", filepath.Base(o.Dir), err)
	}
	r := &Reactor{o: o, cfg: cfg, cond: cond, db: db, log: o.Logger, recent: map[string]time.Time{}, paceNow: time.Now, paceSleep: sleep}
	if _, ok, err := getSeq(db, keyDecided); err != nil {
		db.Close()
		return nil, err
	} else if !ok {
		head := o.Store.DurableSeq()
		b := db.NewBatch()
		_ = b.Set(keyDecided, seqValue(head), nil)
		_ = b.Set(keyDispatched, seqValue(head), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			db.Close()
			return nil, fmt.Errorf("reactions: init: %w", err)
		}
		o.Logger.Info("reactions start at the log's head", "seq", head)
	}
	if err := r.openLanes(); err != nil {
		db.Close()
		return nil, err
	}
	r.asked = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "journey_actions_asked_total", Help: "Actions decided and recorded in the log, by kind."}, []string{"kind"})
	r.dispatched = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "journey_actions_dispatched_total", Help: "Actions published and acknowledged by JetStream, by kind."}, []string{"kind"})
	r.confirmed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "journey_actions_confirmed_total", Help: "Actions confirmed (a thank_you naming them, the win-back's purchase, the escalated case resolved), by kind."}, []string{"kind"})
	r.overdue = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_actions_overdue", Help: "Actions asked longer than overdue_after ago and not confirmed, by kind (at the last sweep)."}, []string{"kind"})
	for _, k := range Kinds() {
		r.asked.WithLabelValues(k)
		r.dispatched.WithLabelValues(k)
		r.confirmed.WithLabelValues(k)
		r.overdue.WithLabelValues(k)
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{r.asked, r.dispatched, r.confirmed, r.overdue} {
			if err := o.Registerer.Register(c); err != nil {
				db.Close()
				return nil, fmt.Errorf("reactions: metrics: %w", err)
			}
		}
	}
	return r, nil
}

func cmpFn(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}

func positive(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Close closes the database.
func (r *Reactor) Close() error { return r.db.Close() }

// Positions returns how far the log is decided and dispatched (the least
// of the dispatch lanes' positions).
func (r *Reactor) Positions() (decided, dispatched uint64, err error) {
	if decided, _, err = getSeq(r.db, keyDecided); err != nil {
		return
	}
	for i, l := range r.lanes {
		pos, _, err := getSeq(r.db, l.key)
		if err != nil {
			return 0, 0, err
		}
		if i == 0 || pos < dispatched {
			dispatched = pos
		}
	}
	return
}

// Run decides, sweeps and (with JetStream) dispatches until ctx ends.
func (r *Reactor) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.decideLoop(gctx) })
	if r.o.JetStream != nil {
		g.Go(func() error { return r.DispatchLoop(gctx) })
	}
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (r *Reactor) decideLoop(ctx context.Context) error {
	if err := r.seed(ctx); err != nil {
		return err
	}
	if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	sweep := time.NewTicker(r.o.SweepEvery)
	defer sweep.Stop()
	for {
		n, err := r.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		case <-time.After(r.o.PollEvery):
		}
	}
}

// Seed fills the due index of a new database from the views (what Run
// does first); a no-op once seeded. It is exported for the sweep benchmark.
func (r *Reactor) Seed(ctx context.Context) error { return r.seed(ctx) }

// seed fills the due index of a new database from the views, once they
// have caught up with where the reactions started.
func (r *Reactor) seed(ctx context.Context) error {
	if v, err := getString(r.db, keySeeded); err != nil || v != "" {
		return err
	}
	start, _, err := getSeq(r.db, keyDecided)
	if err != nil {
		return err
	}
	for r.o.Views.Checkpoint() < start {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.o.PollEvery):
		}
	}
	b := r.db.NewBatch()
	defer b.Close()
	n := 0
	err = r.o.Views.Customers(ctx, time.Time{}, false, func(a *customer.Answer) error {
		if due := r.nextDue(a); !due.IsZero() {
			n++
			return setDue(r.db, b, a.State.Customer, due)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reactions: seed the due index: %w", err)
	}
	_ = b.Set(keySeeded, []byte("1"), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	r.log.Info("reactions: due index seeded from the views", "customers", n)
	return nil
}

// decision is one action decided, before it is recorded.
type decision struct {
	req   Request
	at    time.Time // the record's event time
	cause time.Time // the cause's instant (the 7-day limit measures from it)
}

// batchSize is the most log records one Step decides.
const batchSize = 2048

type record struct {
	seq      uint64
	typ      journey.Kind
	customer string
	raw      []byte
}

// Step decides the next log records that the views have folded (at most
// batchSize): it records their actions, updates the due index and the
// pending actions, and moves the decided position, and returns the number
// of records decided.
func (r *Reactor) Step(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	decided, _, err := getSeq(r.db, keyDecided)
	if err != nil {
		return 0, err
	}
	cp := r.o.Views.Checkpoint()
	target := min(r.o.Store.DurableSeq(), cp)
	if target <= decided {
		return 0, nil
	}
	end := min(decided+batchSize, target)
	var recs []record
	err = r.o.Store.ScanRaw(ctx, decided+1, end, func(rec *eventstore.RawRecord) error {
		if rec.Type == journey.KindActionRequested {
			return nil
		}
		recs = append(recs, record{seq: rec.Seq, typ: rec.Type, customer: string(rec.Customer), raw: slices.Clone(rec.Raw)})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reactions: read log %d..%d: %w", decided+1, end, err)
	}
	answers := map[string]*customer.Answer{}
	var order []string
	answer := func(c string) (*customer.Answer, error) {
		if a, ok := answers[c]; ok {
			return a, nil
		}
		a, err := r.o.Views.Customer(ctx, c, time.Time{})
		if errors.Is(err, projections.ErrNotFound) {
			a, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		answers[c] = a
		order = append(order, c)
		return a, nil
	}
	var ds []decision
	for _, rec := range recs {
		a, err := answer(rec.customer)
		if err != nil || a == nil {
			if err != nil {
				return 0, err
			}
			continue
		}
		switch rec.typ {
		case journey.KindPurchase, journey.KindFeedback, journey.KindComplaintResolved, journey.KindReferral:
		default:
			continue
		}
		ev, err := journey.DecodeStored(rec.raw)
		if err != nil {
			continue // the projections skip it too
		}
		d, ok, err := r.thankYou(ctx, ev, a)
		if err != nil {
			return 0, err
		}
		if ok {
			ds = append(ds, d)
		}
	}
	if err := r.record(ctx, ds); err != nil {
		return 0, err
	}
	b := r.db.NewBatch()
	defer b.Close()
	for _, c := range order {
		a := answers[c]
		if a == nil {
			continue
		}
		if err := setDue(r.db, b, c, r.nextDue(a)); err != nil {
			return 0, err
		}
		if err := r.confirm(b, a); err != nil {
			return 0, err
		}
	}
	if err := r.putDecided(b, ds); err != nil {
		return 0, err
	}
	_ = b.Set(keyDecided, seqValue(end), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("reactions: commit: %w", err)
	}
	clear(r.recent)
	return int(end - decided), nil
}

// thankYou decides the thank-you ev asks for, if any.
func (r *Reactor) thankYou(ctx context.Context, ev *journey.Event, a *customer.Answer) (decision, bool, error) {
	if r.cfg.ThankYou.Off {
		return decision{}, false, nil
	}
	reason := thankReason(ev, a.State)
	if reason == "" || !r.holds(KindThankYou, a) {
		return decision{}, false, nil
	}
	if within, err := r.thankedWithin(a.State.Customer, ev.Time); err != nil || (reason != "complaint_resolved" && within) {
		return decision{}, false, err
	}
	d, err := r.newDecision(ctx, KindThankYou, reason, ev.ID, a, ev.Time, "")
	if err != nil {
		return decision{}, false, err
	}
	d.req.Message = r.cfg.message(reason, a.State.Customer, "")
	r.recent[a.State.Customer] = d.cause
	return d, true, nil
}

// thankedWithin reports whether the customer was asked a thank-you whose
// cause is less than ThankYouEvery from at (event time). The last one's
// instant is kept in the database (t/), not read from the views, which
// may not have folded it yet.
func (r *Reactor) thankedWithin(c string, at time.Time) (bool, error) {
	last, ok := r.recent[c]
	if !ok {
		v, closer, err := r.db.Get(cat(prefixThanked, []byte(c)))
		if err == nil {
			last = instantAt(v)
			closer.Close()
		} else if !errors.Is(err, pebble.ErrNotFound) {
			return false, err
		}
	}
	if last.IsZero() {
		return false, nil
	}
	d := at.Sub(last)
	return d < r.cfg.ThankYouEvery && d > -r.cfg.ThankYouEvery, nil
}

// putDecided writes the decisions' pending entries and the thank-yous'
// instants to b.
func (r *Reactor) putDecided(b *pebble.Batch, ds []decision) error {
	for _, d := range ds {
		if err := putPending(b, d.req.Customer, d.req.ActionID, d.req.Kind, d.at); err != nil {
			return err
		}
		if d.req.Kind == KindThankYou {
			if err := b.Set(cat(prefixThanked, []byte(d.req.Customer)), putInstant(nil, d.cause), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// holds evaluates the condition named rule on a (true without one).
func (r *Reactor) holds(rule string, a *customer.Answer) bool {
	if _, ok := r.cond.Rules[rule]; !ok {
		return true
	}
	ok, err := r.cond.MatchRule(rule, a)
	if err != nil {
		r.log.Warn("reactions: condition failed", "rule", rule, "err", err)
		return false
	}
	return ok
}

func (r *Reactor) newDecision(ctx context.Context, kind, reason, cause string, a *customer.Answer, causeAt time.Time, caseID string) (decision, error) {
	// The record goes at the cause's instant, or at the customer's newest
	// event in the log when that is later: folded after it in the log, the
	// record is then not a late event (which would make the views fold the
	// customer again from their history).
	var newest time.Time
	c := a.State.Customer
	if v, err := r.o.Store.CustomerVersion(c); err != nil {
		return decision{}, err
	} else if v > 0 {
		recs, err := r.o.Store.CustomerEvents(ctx, c, v-1, 1)
		if err != nil {
			return decision{}, err
		}
		if len(recs) == 1 {
			newest = recs[0].EventTime
		}
	}
	return r.decisionAt(kind, reason, cause, a, causeAt, caseID, newest), nil
}

// decisionAt is newDecision given the time of the customer's newest event
// in the log (zero: none).
func (r *Reactor) decisionAt(kind, reason, cause string, a *customer.Answer, causeAt time.Time, caseID string, newest time.Time) decision {
	at := causeAt.UTC()
	if a.State.LastTime.After(at) {
		at = a.State.LastTime
	}
	if newest.After(at) {
		at = newest.UTC()
	}
	c := a.State.Customer
	id := ActionID(cause, kind)
	return decision{at: at, cause: causeAt.UTC(), req: Request{ActionID: id, Kind: kind, Customer: c, Reason: reason,
		Cause: cause, CaseID: caseID, Channel: r.cfg.policy(kind).Channel, AskedAt: at}}
}

// record appends the decisions' action_requested records (the outbox).
// An id already in the log (a decision taken again after a restart) is
// not asked again.
func (r *Reactor) record(ctx context.Context, ds []decision) error {
	if len(ds) == 0 {
		return nil
	}
	reqs := make([]eventstore.Request, 0, len(ds))
	for _, d := range ds {
		raw, err := journey.NewEvent(d.req.ActionID, journey.EngineSource, journey.KindActionRequested, d.req.Customer, d.at, d.req)
		if err != nil {
			return fmt.Errorf("reactions: action %s: %w", d.req.ActionID, err)
		}
		ev, err := journey.DecodeStored(raw)
		if err != nil {
			return err
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
	}
	res, err := r.o.Store.Append(ctx, reqs)
	if err != nil {
		return fmt.Errorf("reactions: record actions: %w", err)
	}
	for i, x := range res {
		var je *journey.Error
		switch {
		case x.Err == nil && !x.Duplicate:
			r.asked.WithLabelValues(ds[i].req.Kind).Inc()
		case x.Err == nil, errors.As(x.Err, &je) && je.Code == journey.CodeIDConflict:
			// Decided before (a restart): the log has it.
		case errors.As(x.Err, &je) && je.Code == journey.CodeErased:
			// The customer was forgotten (their key destroyed) while their
			// views row was still there (a forget cut short): nothing is
			// asked for them; the forget's re-run removes the row.
		default:
			return fmt.Errorf("reactions: record action %s: %w", ds[i].req.ActionID, x.Err)
		}
	}
	return nil
}

// confirm counts and forgets the customer's pending actions that a shows
// done.
func (r *Reactor) confirm(b *pebble.Batch, a *customer.Answer) error {
	pend, err := pendingOf(r.db, a.State.Customer)
	if err != nil || len(pend) == 0 {
		return err
	}
	for _, x := range a.Actions {
		asked, ok := pend[x.ID]
		if !ok || x.Status != customer.ActionDone {
			continue
		}
		r.confirmed.WithLabelValues(x.Kind).Inc()
		if err := b.Delete(pendingKey(a.State.Customer, x.ID), nil); err != nil {
			return err
		}
		if err := b.Delete(ageKey(asked, x.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

// quiet is a Pebble logger that keeps only errors.
type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("reactions: pebble: "+format, args...))
}

var _ = strings.TrimSpace
