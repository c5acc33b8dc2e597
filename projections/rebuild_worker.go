package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/customer"
)

// A rebuild worker: it folds the customers of one shard (those whose
// hash the scanner deals to it) and writes their states.

// foldWorker folds the customers of one shard.
type foldWorker struct {
	v       *Views
	db      *pebble.DB
	b       *pebble.Batch
	id      int
	spool   string                // path prefix of the worker's files
	tables  int                   // states tables written
	sstOpts sstable.WriterOptions // of the states tables
	// states are the customers of the round, by the scanner's hash of
	// their id; coll holds the rare customers whose hash collides with
	// another's. Once they hold maxStates customers, the round is closed:
	// the events and marks of other customers go to def (see Rounds).
	states        map[uint64]*entry
	coll          map[string]*entry
	maxStates     int
	closed        bool
	def           *deferSet
	queue         []string // defer files to replay
	deferred      uint64   // records deferred (first pass and rounds)
	deferredBytes int64    // their bytes
	round         int      // rounds done
	// dbBefore: the database held states before the build (a customer
	// not in memory may be there).
	dbBefore bool
	late     map[string]int // late customers → events seen
	lateH    map[uint64]struct{}
	gaps     customer.GapHistogram
	// reorder holds the events of the reorder window; newSec/newNsec is
	// the newest event time seen.
	reorder reorderBuckets
	pinned  int // chunks held by the reorder window
	newSec  int64
	newNsec int32
	asOf    time.Time
	target  uint64

	progress func(n uint64) // nil: no progress reports
	replayed uint64

	events, skipped, customers uint64
	ev                         journey.Event // apply's, reused: Apply keeps no pointer into it
}

// lookup returns the customer's entry in memory, nil when not there.
func (w *foldWorker) lookup(h uint64, customer string) *entry {
	if e, ok := w.states[h]; ok && e.st.Customer == customer {
		return e
	}
	if len(w.coll) > 0 {
		return w.coll[customer]
	}
	return nil
}

// get returns the customer's entry: in memory, in the database (a build
// into a database that held states), or new. It returns nil when the
// customer is not in memory and the round is closed.
func (w *foldWorker) get(h uint64, id string) (*entry, error) {
	if e := w.lookup(h, id); e != nil {
		return e, nil
	}
	if w.closed {
		return nil, nil
	}
	var e *entry
	if w.dbBefore {
		var err error
		if e, err = loadEntry(w.db, id); err != nil {
			return nil, err
		}
	}
	if e == nil {
		e = &entry{st: customer.NewState(id), stored: customer.NoGap}
	}
	e.h = h
	if _, taken := w.states[h]; taken {
		w.coll[id] = e
	} else {
		w.states[h] = e
	}
	if len(w.states)+len(w.coll) >= w.maxStates {
		w.closed = true
	}
	return e, nil
}

// known reports whether a customer with hash h may be held in this round
// (in memory or late): when the round is closed, an item for which it is
// false is deferred without decoding.
func (w *foldWorker) known(h uint64) bool {
	if _, ok := w.states[h]; ok {
		return true
	}
	if _, ok := w.lateH[h]; ok {
		return true
	}
	return len(w.coll) > 0
}

// forget drops the customer's entry from memory.
func (w *foldWorker) forget(h uint64, customer string) {
	if e, ok := w.states[h]; ok && e.st.Customer == customer {
		delete(w.states, h)
		return
	}
	delete(w.coll, customer)
}

// apply decodes and folds one event, marks its customer late, or defers
// it to the next round.
func (w *foldWorker) apply(it reorderItem) error {
	if w.closed && !w.known(it.h) {
		return w.def.event(it)
	}
	ev := &w.ev
	if err := journey.DecodeStoredInto(it.raw, ev); err != nil {
		w.skipped++
		return nil
	}
	if len(w.late) > 0 {
		if n, ok := w.late[ev.Subject]; ok {
			w.events++
			w.late[ev.Subject] = n + 1
			return nil
		}
	}
	e, err := w.get(it.h, ev.Subject)
	if err != nil {
		return err
	}
	if e == nil {
		return w.def.event(it)
	}
	w.events++
	if ev.Time.Before(e.last) {
		// Late: fold this customer again from the log, after the rounds.
		w.late[ev.Subject] = e.st.Events + 1
		w.lateH[it.h] = struct{}{}
		w.forget(it.h, ev.Subject)
		return nil
	}
	e.st.Apply(ev, it.seq)
	e.last = ev.Time
	e.dirty = true
	return nil
}

func (w *foldWorker) mark(it *scanItem) error {
	_, late := w.late[it.markFor]
	var e *entry
	if !late {
		var err error
		if e, err = w.get(it.h, it.markFor); err != nil {
			return err
		}
		if e == nil {
			return w.def.mark(it)
		}
	}
	m := mark{By: it.markBy, Time: it.markTime, Seq: it.seq}
	if err := w.b.Set(markKey(it.markFor, it.seq), encodeMark(m), nil); err != nil {
		return err
	}
	if late {
		return nil // the re-fold reads the mark back
	}
	e.st.MarkReferred(m.By, m.Time, m.Seq)
	e.dirty = true
	return nil
}

// endRound writes the round's states to the database, empties memory and
// closes the defer file. The states go into an sstable of their own,
// ingested: no memtable to fill and flush, and each worker writes its own.
func (w *foldWorker) endRound() error {
	out := make([]*entry, 0, len(w.states)+len(w.coll))
	for _, e := range w.states {
		if e.dirty {
			out = append(out, e)
		}
	}
	for _, e := range w.coll {
		if e.dirty {
			out = append(out, e)
		}
	}
	clear(w.states)
	clear(w.coll)
	err := w.writeStates(out)
	files, n, size, cerr := w.def.close()
	w.def = nil
	w.queue = append(w.queue, files...)
	w.deferred += n
	w.deferredBytes += size
	return errors.Join(err, cerr, w.commit())
}

// writeStates writes the entries to an sstable and ingests it.
func (w *foldWorker) writeStates(out []*entry) error {
	if len(out) == 0 {
		return nil
	}
	// Sorted by customer, the id beside the pointer (fewer cache misses).
	type byID struct {
		id string
		e  *entry
	}
	sorted := make([]byID, len(out))
	for i, e := range out {
		sorted[i] = byID{e.st.Customer, e}
	}
	slices.SortFunc(sorted, func(a, b byID) int { return strings.Compare(a.id, b.id) })
	for i := range sorted {
		out[i] = sorted[i].e
	}
	fs := w.v.opts.FS
	path := fmt.Sprintf("%s.w%d.sst%d", w.spool, w.id, w.tables)
	w.tables++
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("projections: rebuild states table: %w", err)
	}
	defer func() { _ = fs.Remove(path) }()
	tw := sstable.NewWriter(objstorageprovider.NewFileWritable(f), w.sstOpts)
	var key, val []byte
	var traits [][]byte // the trait index keys (traits.go): after the states, sorted
	for _, e := range out {
		traits = append(traits, traitKeys(e.st.Customer, e.st)...)
		g := customer.GapBucket(e.st)
		key = append(append(key[:0], prefixState...), e.st.Customer...)
		if val, err = appendEntry(val[:0], e, g); err != nil {
			_ = tw.Close()
			return err
		}
		if err := tw.Set(key, val); err != nil {
			_ = tw.Close()
			return err
		}
		if !e.inDB {
			w.customers++
		}
		w.gaps.Move(e.stored, g)
	}
	slices.SortFunc(traits, bytes.Compare)
	for _, k := range traits {
		if err := tw.Set(k, nil); err != nil {
			_ = tw.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return w.db.Ingest(context.Background(), []string{path})
}

func (w *foldWorker) commit() error {
	if err := w.b.Commit(pebble.NoSync); err != nil {
		return err
	}
	w.b.Reset()
	return nil
}
