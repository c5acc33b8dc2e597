package projections

import (
	"context"
	"math"
	"time"

	"github.com/journey-cdp/journey/eventstore"
)

// The first pass of a rebuild: every record up to the target, folded by
// the workers through their reorder windows, admission bounded by
// Options.MaxStates (the rest deferred to later rounds, rebuild_defer.go).

// firstPass scans every record up to target: it fills res (the log hash
// at target, the bytes folded, the newest event time), reports progress,
// deals the events up to asOf and the referral marks, and the workers fold
// them through their reorder windows and end their first round.
type firstPass struct {
	progress func(done, total uint64) // Options.Progress; nil: none
	target   uint64
	after    func(sec int64, nsec int32) bool
	res      *buildResult
	done     uint64 // records scanned
	maxSec   int64  // newest event time dealt (math.MinInt64: none)
	maxNsec  int32
}

func newFirstPass(v *Views, target uint64, asOf time.Time, res *buildResult) *firstPass {
	return &firstPass{progress: v.opts.Progress, target: target, after: afterAsOf(asOf), res: res, maxSec: math.MinInt64}
}

func (p *firstPass) deal(rec *eventstore.RawRecord) bool {
	p.done++
	if rec.Seq == p.target {
		copy(p.res.hash[:], rec.Hash)
	}
	if p.progress != nil && p.done&0xffff == 0 {
		p.progress(p.done, p.target)
	}
	if p.after(rec.EventSec, rec.EventNsec) {
		return false
	}
	if rec.EventSec > p.maxSec || (rec.EventSec == p.maxSec && rec.EventNsec > p.maxNsec) {
		p.maxSec, p.maxNsec = rec.EventSec, rec.EventNsec
	}
	if rec.Erased || rec.Type == eventstore.KindCustomerErased {
		p.res.stats.Erased++ // nothing of the customer's to fold
		return false
	}
	p.res.bytes += uint64(len(rec.Raw))
	return true
}

func (p *firstPass) marks() bool { return true }

func (p *firstPass) scanned() {
	if p.maxSec != math.MinInt64 {
		p.res.maxTime = time.Unix(p.maxSec, int64(p.maxNsec)).UTC()
	}
	if p.progress != nil {
		p.progress(p.done, p.target)
	}
}

func (p *firstPass) fold(_ context.Context, w *foldWorker, chunks <-chan *scanChunk) error {
	for c := range chunks {
		if err := w.chunk(c); err != nil {
			return err
		}
	}
	if err := w.drain(); err != nil {
		return err
	}
	return w.endRound()
}

func (w *foldWorker) chunk(c *scanChunk) error {
	c.refs++ // the loop's own reference
	window := w.v.opts.ReorderWindow
	windowSec := int64(window / time.Second)
	for i := range c.items {
		it := &c.items[i]
		if it.markFor != "" {
			if err := w.mark(it); err != nil {
				return err
			}
			continue
		}
		raw := c.buf[it.off:it.end]
		if window < 0 {
			if err := w.apply(reorderItem{seq: it.seq, h: it.h, raw: raw}); err != nil {
				return err
			}
			continue
		}
		if it.sec > w.newSec || (it.sec == w.newSec && it.nsec > w.newNsec) {
			w.newSec, w.newNsec = it.sec, it.nsec
		}
		minute := floorMinute(it.sec)
		rb := &w.reorder
		if !rb.started {
			rb.started, rb.min, rb.m = true, minute, map[int64][]reorderItem{}
		}
		if minute < rb.min {
			// Later than the window: applied now (re-folded if late).
			if err := w.apply(reorderItem{seq: it.seq, h: it.h, raw: raw}); err != nil {
				return err
			}
			continue
		}
		// The event stays in the chunk until the window releases it.
		c.refs++
		rb.push(minute, reorderItem{sec: it.sec, nsec: it.nsec, seq: it.seq, h: it.h, raw: raw, chunk: c})
		// Apply the minutes the reorder window has passed.
		if err := w.release(floorMinute(w.newSec - windowSec)); err != nil {
			return err
		}
	}
	if c.refs > 1 {
		c.pinned = true
		w.pinned++
	}
	w.unref(c)
	return nil
}
