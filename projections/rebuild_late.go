package projections

import (
	"context"
	"hash/maphash"
	"maps"
	"slices"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
	"golang.org/x/sync/errgroup"
)

// The late pass of a rebuild: the customers a worker found late (an event
// older than the customer's newest) are folded again from their whole
// history, in event-time order.

// refoldLate folds again the customers the workers found late (an event
// older than the customer's newest): when they are few, from their
// histories read by customer (refoldFromLog); else with late passes over
// the log, in groups whose events fit about lateBudget bytes (bytes is
// what the first pass dealt).
func (v *Views) refoldLate(ctx context.Context, target uint64, asOf time.Time, seed maphash.Seed, workers []*foldWorker, bytes uint64) error {
	var lateEvents int
	var folded uint64
	for _, w := range workers {
		for _, n := range w.late {
			lateEvents += n
		}
		folded += w.events
	}
	if lateEvents > 0 && lateEvents*64 < int(folded) {
		// Few: read their histories by customer.
		g, gctx := errgroup.WithContext(ctx)
		for _, w := range workers {
			g.Go(func() error { return w.refoldFromLog(gctx) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	} else if lateEvents > 0 {
		perEvent := 512 + 2*int(bytes/max(1, folded))
		groups := max(1, (lateEvents*perEvent+lateBudget-1)/lateBudget)
		for g := range groups {
			only := map[string]struct{}{}
			for _, w := range workers {
				for c := range w.late {
					if groups == 1 || int(maphash.String(seed, c)>>32)%groups == g {
						only[c] = struct{}{}
					}
				}
			}
			if err := v.pass(ctx, target, seed, workers, &latePass{only: only, after: afterAsOf(asOf)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// lateBudget bounds the memory of the late customers' events collected
// in one pass.
const lateBudget = 128 << 20

// latePass scans for the late customers in only: it deals their events up
// to asOf and no marks; each worker collects them and folds them at the end
// (foldLate).
type latePass struct {
	only  map[string]struct{}
	after func(sec int64, nsec int32) bool
}

func (p *latePass) deal(rec *eventstore.RawRecord) bool {
	_, ok := p.only[string(rec.Customer)]
	return ok && !p.after(rec.EventSec, rec.EventNsec)
}

func (p *latePass) marks() bool { return false }

func (p *latePass) scanned() {}

func (p *latePass) fold(ctx context.Context, w *foldWorker, chunks <-chan *scanChunk) error {
	collected := map[string][]histItem{}
	for c := range chunks {
		if err := w.collect(c, collected); err != nil {
			return err
		}
	}
	return w.foldLate(ctx, collected)
}

// collect keeps the events of c (late customers) for foldLate.
func (w *foldWorker) collect(c *scanChunk, into map[string][]histItem) error {
	for i := range c.items {
		it := &c.items[i]
		ev, err := journey.DecodeStored(c.buf[it.off:it.end])
		if err != nil {
			continue // counted as skipped in the first pass
		}
		ev.Raw = nil // the chunk is reused; Apply does not need the bytes
		into[ev.Subject] = append(into[ev.Subject], histItem{time: ev.Time, seq: it.seq, ev: ev})
	}
	c.items, c.buf = c.items[:0], c.buf[:0]
	chunkPool.Put(c)
	return nil
}

// refoldFromLog folds each late customer from their history in the log:
// in groups of refoldGroup customers, the sequences of a group's histories
// merged and read in one forward sweep of the log (each block read once,
// not once per customer).
func (w *foldWorker) refoldFromLog(ctx context.Context) error {
	customers := slices.Sorted(maps.Keys(w.late))
	for len(customers) > 0 {
		group := customers[:min(refoldGroup, len(customers))]
		customers = customers[len(group):]
		var seqs []uint64
		for _, c := range group {
			cs, err := w.v.log.CustomerSeqs(ctx, c)
			if err != nil {
				return err
			}
			for _, seq := range cs {
				if seq <= w.target {
					seqs = append(seqs, seq)
				}
			}
		}
		slices.Sort(seqs)
		collected := make(map[string][]histItem, len(group))
		for _, c := range group {
			collected[c] = nil // a customer whose events all fall after asOf folds to its marks
		}
		err := w.v.log.ReadSeqs(ctx, seqs, func(r *eventstore.RawRecord) error {
			if !w.asOf.IsZero() && time.Unix(r.EventSec, int64(r.EventNsec)).After(w.asOf) {
				return nil
			}
			ev, err := journey.DecodeStored(r.Raw)
			if err != nil {
				return nil
			}
			ev.Raw = nil // r.Raw is the log's; Apply does not need the bytes
			collected[ev.Subject] = append(collected[ev.Subject], histItem{time: ev.Time, seq: r.Seq, ev: ev})
			return nil
		})
		if err != nil {
			return err
		}
		if err := w.foldLate(ctx, collected); err != nil {
			return err
		}
	}
	return nil
}

// refoldGroup is how many late customers' histories refoldFromLog reads
// in one sweep.
const refoldGroup = 1024

// foldLate folds the collected late customers in event-time order, with
// the referral marks naming them, and writes them.
func (w *foldWorker) foldLate(ctx context.Context, collected map[string][]histItem) error {
	n := 0
	for c, items := range collected {
		ms, err := readMarks(w.db, c, w.target, w.asOf)
		if err != nil {
			return err
		}
		st, last := foldItems(c, items, ms)
		e := &entry{st: st, last: last, stored: customer.NoGap}
		old, err := loadEntry(w.db, c)
		if err != nil {
			return err
		}
		if old != nil {
			e.stored, e.inDB = old.stored, true
		} else {
			w.customers++
		}
		if err := putEntry(w.b, c, e, w.gaps); err != nil {
			return err
		}
		delete(collected, c)
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := w.commit(); err != nil {
				return err
			}
		}
	}
	return w.commit()
}
