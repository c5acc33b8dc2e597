package projections

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"golang.org/x/sync/errgroup"
)

// The scanner of a rebuild: one goroutine reads the log and deals its
// records in chunks to the workers by customer hash (Views.pass); a
// scanPass says what a pass deals and how the workers fold it.

// scanItem is one unit of work for a rebuild worker: an event (raw bytes in
// the chunk's buffer) or a referral mark naming the worker's customer.
type scanItem struct {
	seq      uint64
	h        uint64 // maphash of the customer (event) or the referred (mark)
	off, end int    // event: raw = chunk.buf[off:end]
	sec      int64  // event: its time
	nsec     int32
	markFor  string // mark: the referred customer ("" for an event)
	markBy   string
	markTime time.Time
}

// scanChunk is a batch of scanItems the scanner deals to one foldWorker,
// with the raw events they point into.
type scanChunk struct {
	items []scanItem
	buf   []byte
	// refs counts the chunk's events waiting in the worker's reorder
	// window (they alias buf): the chunk is reused when it drops to 0.
	refs   int
	pinned bool // counted in foldWorker.pinned
}

// unref drops one reference to c, putting it back in the pool at the last.
func (w *foldWorker) unref(c *scanChunk) {
	if c.refs--; c.refs == 0 {
		if c.pinned {
			c.pinned = false
			w.pinned--
		}
		c.items, c.buf = c.items[:0], c.buf[:0]
		chunkPool.Put(c)
	}
}

// chunkItems and chunkBytes bound a chunk the scanner deals to a worker
// (chunkItems is a variable for tests).
var chunkItems = 512

const chunkBytes = 256 << 10

var chunkPool = sync.Pool{New: func() any {
	return &scanChunk{items: make([]scanItem, 0, chunkItems), buf: make([]byte, 0, chunkBytes+journey.MaxEventBytes)}
}}

// pass scans the log up to target into the workers: p says which records
// are dealt, whether referral marks are, what happens when the scan ends
// and how each worker folds what it is dealt.
func (v *Views) pass(ctx context.Context, target uint64, seed maphash.Seed, workers []*foldWorker, p scanPass) error {
	nw := len(workers)
	g, gctx := errgroup.WithContext(ctx)
	chans := make([]chan *scanChunk, nw)
	for i := range chans {
		chans[i] = make(chan *scanChunk, 8)
	}
	g.Go(func() error {
		defer func() {
			for _, c := range chans {
				close(c)
			}
		}()
		pending := make([]*scanChunk, nw)
		for i := range pending {
			pending[i] = chunkPool.Get().(*scanChunk)
		}
		send := func(i int) error {
			select {
			case chans[i] <- pending[i]:
			case <-gctx.Done():
				return gctx.Err()
			}
			pending[i] = chunkPool.Get().(*scanChunk)
			return nil
		}
		marks := p.marks()
		err := v.log.ScanRaw(gctx, 1, target, func(rec *eventstore.RawRecord) error {
			if !p.deal(rec) {
				return nil
			}
			h := maphash.Bytes(seed, rec.Customer)
			i := int(h % uint64(nw))
			c := pending[i]
			off := len(c.buf)
			c.buf = append(c.buf, rec.Raw...)
			c.items = append(c.items, scanItem{seq: rec.Seq, h: h, off: off, end: len(c.buf), sec: rec.EventSec, nsec: rec.EventNsec})
			if len(c.items) >= chunkItems || len(c.buf) >= chunkBytes {
				if err := send(i); err != nil {
					return err
				}
			}
			if rec.Type == journey.KindReferral && marks {
				ev, err := journey.DecodeStored(rec.Raw)
				if err != nil || ev.Data.Referred == "" || ev.Data.Referred == ev.Subject {
					return nil // the worker skips an invalid event the same way
				}
				h := maphash.String(seed, ev.Data.Referred)
				j := int(h % uint64(nw))
				c := pending[j]
				c.items = append(c.items, scanItem{seq: rec.Seq, h: h, markFor: ev.Data.Referred, markBy: ev.Subject, markTime: ev.Time})
				if len(c.items) >= chunkItems {
					if err := send(j); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range pending {
			if len(pending[i].items) > 0 {
				if err := send(i); err != nil {
					return err
				}
			} else {
				chunkPool.Put(pending[i])
			}
		}
		p.scanned()
		return nil
	})
	for i, w := range workers {
		// A worker's error cancels gctx: the scanner's send gives up and
		// it closes the channels, so nothing is left blocked.
		g.Go(func() error { return p.fold(gctx, w, chans[i]) })
	}
	return g.Wait()
}

// scanPass is what one scan of the log (Views.pass) does. firstPass folds
// every record; latePass collects the late customers' events and folds
// them at the end.
type scanPass interface {
	// deal reports whether the scanner deals rec to its customer's worker.
	deal(rec *eventstore.RawRecord) bool
	// marks reports whether a referral event also deals a mark to the
	// referred customer's worker.
	marks() bool
	// scanned is called once every record has been dealt.
	scanned()
	// fold is one worker's loop over the chunks dealt to it.
	fold(ctx context.Context, w *foldWorker, chunks <-chan *scanChunk) error
}

// afterAsOf returns the test of an event time being after asOf (never,
// for a zero asOf).
func afterAsOf(asOf time.Time) func(sec int64, nsec int32) bool {
	asOfSec, asOfNsec := asOf.Unix(), int32(asOf.Nanosecond())
	return func(sec int64, nsec int32) bool {
		return !asOf.IsZero() && (sec > asOfSec || (sec == asOfSec && nsec > asOfNsec))
	}
}
