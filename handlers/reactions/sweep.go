package reactions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// RecheckAfter is when a customer whose due instant has passed without a
// decision (their answer did not yet say at_risk) is looked at again.
const RecheckAfter = 24 * time.Hour

// lastTouchpoints is how many of the customer's last touchpoints a report
// lists.
const lastTouchpoints = 5

// Sweep re-evaluates the customers whose next-due instant (the due index)
// has come by now (Options.Clock), at most MaxPerSweep of them: time passes
// without events, so this is where a customer crosses into at_risk or
// churned (a win-back with its report) and where an open complaint passes
// its SLA (an escalation). It also thanks on a holiday of the calendar and
// refreshes the overdue gauge. It returns the customers re-evaluated.
func (r *Reactor) Sweep(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.o.Clock().UTC()
	var due []string
	it, err := r.db.NewIter(&pebble.IterOptions{LowerBound: prefixDue, UpperBound: dueKey(now.Add(time.Second), "")})
	if err != nil {
		return 0, err
	}
	for it.First(); it.Valid() && len(due) < r.o.MaxPerSweep; it.Next() {
		due = append(due, string(it.Key()[len(prefixDue)+8:]))
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	type swept struct {
		a    *customer.Answer
		skip map[string]bool
	}
	var ds []decision
	var sw []swept
	b := r.db.NewBatch()
	defer b.Close()
	pace := newSweepPacer(r.o.SweepShare)
	for i, c := range due {
		if err := pace.step(ctx, i); err != nil {
			return 0, err
		}
		a, err := r.o.Views.Customer(ctx, c, time.Time{})
		if errors.Is(err, projections.ErrNotFound) {
			if err := setDue(r.db, b, c, time.Time{}); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		// The customer's newest log records, read once: whether the views
		// are behind, the record time of a decision, the report's last
		// touchpoints.
		tail, err := r.tail(ctx, c)
		if err != nil {
			return 0, err
		}
		if len(tail) > 0 && tail[len(tail)-1].Seq > a.State.LastSeq {
			continue // the views have not folded all of the customer yet: the next sweep
		}
		skip := map[string]bool{}
		s := a.State
		if !r.cfg.Winback.Off && s.Purchases > 0 && (a.Churn == customer.ChurnAtRisk || a.Churn == customer.ChurnChurned) {
			cause := winbackCause(s)
			id := ActionID(cause, KindWinback)
			if !hasAction(a, id) {
				skip[id] = true
				if r.holds(KindWinback, a) {
					at := s.LastPurchase.Add(2 * time.Duration(a.ExpectedGapDays*float64(24*time.Hour)))
					if at.After(now) || !at.After(s.LastPurchase) {
						at = now
					}
					d := r.decisionAfter(KindWinback, "", cause, a, at, "", tail)
					d.req.Report = r.reportFrom(a, tail)
					d.req.Reason = d.req.Report.LikelyReason
					d.req.Message = r.cfg.message(KindWinback, c, "")
					ds = append(ds, d)
				}
			}
		}
		if !r.cfg.Escalation.Off {
			for _, oc := range s.OpenComplaints {
				deadline := oc.Opened.Add(r.sla(oc.Severity))
				cause := escalationCause(c, oc.CaseID)
				id := ActionID(cause, KindEscalation)
				if deadline.After(now) || hasAction(a, id) {
					continue
				}
				skip[id] = true
				if r.holds(KindEscalation, a) {
					d := r.decisionAfter(KindEscalation, "sla_"+oc.Severity, cause, a, deadline, oc.CaseID, tail)
					d.req.Report = r.reportFrom(a, tail)
					d.req.Message = r.cfg.message(KindEscalation, c, "")
					ds = append(ds, d)
				}
			}
		}
		sw = append(sw, swept{a, skip})
	}
	if err := r.record(ctx, ds); err != nil {
		return 0, err
	}
	for _, x := range sw {
		next := r.nextDueSkipping(x.a, x.skip)
		if !next.IsZero() && !next.After(now) {
			next = now.Add(RecheckAfter)
		}
		if err := setDue(r.db, b, x.a.State.Customer, next); err != nil {
			return 0, err
		}
	}
	if err := r.putDecided(b, ds); err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("reactions: commit sweep: %w", err)
	}
	if err := r.holidays(ctx, now); err != nil {
		return len(due), err
	}
	return len(due), r.countOverdue(now)
}

// tailLength is how many of a customer's newest log records a sweep reads
// (action records are in the customer's stream too).
const tailLength = 4 * lastTouchpoints

// tail returns c's newest durable log records (at most tailLength, oldest
// first). The sweep reads it once per customer: the newest record's seq
// says whether the views lag the log (a customer who bought a moment ago
// must not be judged lapsed from an older state), its time is where a
// decision's record goes, and the report lists the last touchpoints.
func (r *Reactor) tail(ctx context.Context, c string) ([]eventstore.Record, error) {
	v, err := r.o.Store.CustomerVersion(c)
	if err != nil || v == 0 {
		return nil, err
	}
	return r.o.Store.CustomerEvents(ctx, c, uint64(max(int64(v)-tailLength, 0)), tailLength)
}

// decisionAfter is newDecision with the customer's newest records already
// read (tail).
func (r *Reactor) decisionAfter(kind, reason, cause string, a *customer.Answer, causeAt time.Time, caseID string, tail []eventstore.Record) decision {
	var newest time.Time
	if len(tail) > 0 {
		newest = tail[len(tail)-1].EventTime
	}
	return r.decisionAt(kind, reason, cause, a, causeAt, caseID, newest)
}

// reportFrom builds a's report from the customer's newest records.
func (r *Reactor) reportFrom(a *customer.Answer, recs []eventstore.Record) *Report {
	var last []Touchpoint
	for i := len(recs) - 1; i >= 0 && len(last) < lastTouchpoints; i-- {
		if !recs[i].Type.Engine() {
			last = append(last, Touchpoint{Type: string(recs[i].Type), Time: recs[i].EventTime.UTC()})
		}
	}
	earlier := r.o.Projections.Derive(a.State, a.AsOf.Add(-90*24*time.Hour), nil).Satisfaction
	return reportOf(a, earlier, last)
}

// holidays thanks, once per holiday, the customers its condition holds for,
// on the holiday's day (UTC).
func (r *Reactor) holidays(ctx context.Context, now time.Time) error {
	if r.cfg.ThankYou.Off || len(r.cfg.Holidays) == 0 {
		return nil
	}
	done, err := getString(r.db, keyHoliday)
	if err != nil {
		return err
	}
	for _, h := range r.cfg.Holidays {
		day, _ := time.Parse(time.DateOnly, h.Date)
		if now.Before(day) || !now.Before(day.Add(24*time.Hour)) || h.Date <= done {
			continue
		}
		rule := "holiday:" + h.Date
		var ds []decision
		flush := func() error {
			if err := r.record(ctx, ds); err != nil {
				return err
			}
			b := r.db.NewBatch()
			defer b.Close()
			if err := r.putDecided(b, ds); err != nil {
				return err
			}
			ds = ds[:0]
			if err := b.Commit(pebble.Sync); err != nil {
				return err
			}
			clear(r.recent)
			return nil
		}
		err := r.o.Views.Customers(ctx, time.Time{}, false, func(a *customer.Answer) error {
			if !r.holds(rule, a) || !r.holds(KindThankYou, a) {
				return nil
			}
			c := a.State.Customer
			if within, err := r.thankedWithin(c, day); err != nil || within {
				return err
			}
			d, err := r.newDecision(ctx, KindThankYou, "holiday", "holiday:"+c+":"+h.Date, a, day, "")
			if err != nil {
				return err
			}
			d.req.Message = r.cfg.message("holiday", c, cmpOr(h.Name, "holiday"))
			r.recent[c] = d.cause
			ds = append(ds, d)
			if len(ds) >= 1000 {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return fmt.Errorf("reactions: holiday %s: %w", h.Date, err)
		}
		if err := r.db.Set(keyHoliday, []byte(h.Date), pebble.Sync); err != nil {
			return err
		}
		done = h.Date
	}
	return nil
}

// countOverdue sets the overdue gauge from the pending actions asked
// before now − OverdueAfter.
func (r *Reactor) countOverdue(now time.Time) error {
	it, err := r.db.NewIter(&pebble.IterOptions{LowerBound: prefixAge, UpperBound: ageKey(now.Add(-r.cfg.OverdueAfter), "")})
	if err != nil {
		return err
	}
	n := map[string]int{}
	for it.First(); it.Valid(); it.Next() {
		v := it.Value()
		for i, c := range v {
			if c == 0 {
				n[string(v[:i])]++
				break
			}
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, k := range Kinds() {
		r.overdue.WithLabelValues(k).Set(float64(n[k]))
	}
	return nil
}

var _ = journey.KindActionRequested

// sweepPacer holds a sweep to its share of one core: every sweepSlice
// customers it sleeps for the work since the last pause times
// (1-share)/share.
type sweepPacer struct {
	share float64
	since time.Time
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// sweepSlice is how many customers a sweep re-evaluates between pauses.
const sweepSlice = 64

func newSweepPacer(share float64) *sweepPacer {
	return &sweepPacer{share: share, since: time.Now(), now: time.Now, sleep: sleepCtx}
}

// step is called before customer i; it pauses at each slice's end.
func (p *sweepPacer) step(ctx context.Context, i int) error {
	if p.share >= 1 || i == 0 || i%sweepSlice != 0 {
		return ctx.Err()
	}
	work := p.now().Sub(p.since)
	err := p.sleep(ctx, time.Duration(float64(work)*(1-p.share)/p.share))
	p.since = p.now()
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
