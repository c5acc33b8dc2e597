package projections

import (
	"maps"
	"math"
	"slices"
)

// A rebuild worker's reorder window: the first pass applies a customer's
// events in event-time order within Options.ReorderWindow.

// maxPinned bounds the chunks a worker's reorder window keeps (about
// maxPinned × chunkBytes of memory): beyond it the oldest minutes are
// released early, as when the window exceeds reorderMaxBytes. A variable
// for tests.
var maxPinned = 96

// reorderMaxBytes bounds the events in a rebuild worker's reorder window.
// Events are applied in event-time order once the newest event time seen
// is Options.ReorderWindow past them (or when the events waiting take more
// than reorderMaxBytes), so that events that reached the log up to that
// much late need no re-fold. reorderOverhead is the memory of one waiting
// event besides its bytes.
const (
	reorderMaxBytes = 16 << 20
	reorderOverhead = 64
)

// reorderItem is an event waiting in the reorder window.
type reorderItem struct {
	sec  int64 // event time
	nsec int32
	seq  uint64
	h    uint64 // the scanner's hash of the customer id
	raw  []byte // the event as stored
	// chunk holds raw (nil: raw is the caller's, valid during apply)
	chunk *scanChunk
}

func (a *reorderItem) less(b *reorderItem) bool {
	if a.sec != b.sec {
		return a.sec < b.sec
	}
	if a.nsec != b.nsec {
		return a.nsec < b.nsec
	}
	return a.seq < b.seq
}

// reorderBuckets is the reorder window: events by the minute of their
// time; a minute's events are sorted by (time, seq) when it is released.
type reorderBuckets struct {
	started bool
	min     int64 // the first minute not released
	m       map[int64][]reorderItem
	bytes   int
	free    [][]reorderItem
}

func (rb *reorderBuckets) push(minute int64, it reorderItem) {
	b, ok := rb.m[minute]
	if !ok && len(rb.free) > 0 {
		b, rb.free = rb.free[len(rb.free)-1], rb.free[:len(rb.free)-1]
	}
	rb.m[minute] = append(b, it)
	rb.bytes += len(it.raw) + reorderOverhead
}

func floorMinute(sec int64) int64 {
	q := sec / 60
	if sec%60 < 0 {
		q--
	}
	return q
}

// releaseMinute applies the events of one minute in (time, seq) order.
func (w *foldWorker) releaseMinute(minute int64) error {
	rb := &w.reorder
	items, ok := rb.m[minute]
	if !ok {
		return nil
	}
	delete(rb.m, minute)
	slices.SortFunc(items, func(a, b reorderItem) int {
		if a.less(&b) {
			return -1
		}
		if b.less(&a) {
			return 1
		}
		return 0
	})
	for i := range items {
		rb.bytes -= len(items[i].raw) + reorderOverhead
		if err := w.apply(items[i]); err != nil {
			return err
		}
		if c := items[i].chunk; c != nil {
			w.unref(c)
		}
		items[i] = reorderItem{}
	}
	rb.free = append(rb.free, items[:0])
	return nil
}

// release applies the minutes before horizon, and older ones while the
// window holds more than reorderMaxBytes.
func (w *foldWorker) release(horizon int64) error {
	rb := &w.reorder
	empty := 0
	for rb.min < horizon || rb.bytes > reorderMaxBytes || w.pinned > maxPinned {
		if len(rb.m) == 0 {
			rb.min = max(rb.min, horizon)
			return nil
		}
		if _, ok := rb.m[rb.min]; ok {
			if err := w.releaseMinute(rb.min); err != nil {
				return err
			}
			empty = 0
		} else if empty++; empty > 64 {
			// A long gap: jump to the first minute held.
			first := int64(math.MaxInt64)
			for k := range rb.m {
				first = min(first, k)
			}
			if rb.bytes <= reorderMaxBytes && w.pinned <= maxPinned {
				first = min(first, horizon)
			}
			rb.min = max(rb.min, first)
			empty = 0
			continue
		}
		rb.min++
	}
	return nil
}

// drain applies every event still in the reorder window.
func (w *foldWorker) drain() error {
	rb := &w.reorder
	for _, k := range slices.Sorted(maps.Keys(rb.m)) {
		if err := w.releaseMinute(k); err != nil {
			return err
		}
	}
	rb.min = math.MaxInt64
	return nil
}
