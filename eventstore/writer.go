package eventstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/maphash"
	"strings"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/internal/pebbleguard"
)

// AnyVersion as Request.ExpectedVersion disables the optimistic check.
const AnyVersion int64 = -1

// Request is one event to append. ExpectedVersion is the customer's
// current version the caller expects (0: no events yet), or AnyVersion.
type Request struct {
	Event           *journey.Event
	ExpectedVersion int64

	refused error          // set by sealRequests: refused before the writer (an erased customer)
	plain   *journey.Event // set by sealRequests: the event as received (Event is it sealed)
	erasure bool           // Forget's erasure record: stored plain, its subject already the pseudonym
}

// Result is the outcome of one Request. Err is nil on success and a
// *journey.Error (CodeVersionConflict, CodeIDConflict) when the request was
// refused; a refused request writes nothing.
type Result struct {
	Seq       uint64
	Version   uint64
	Duplicate bool
	Err       error
}

// pending is one Append call on its way through the writer. The writer
// fills results; the syncer (or the writer, for a call it never batched)
// sets err and closes done exactly once.
type pending struct {
	ctx     context.Context
	reqs    []Request
	results []Result
	next    int       // first request not yet placed in a batch (writer only)
	pos     *Position // nil: none; written with the call's last request
	err     error
	done    chan struct{}
	closed  bool // syncer only
}

// span is the part reqs[from:to] of a call placed in one batch.
type span struct {
	p        *pending
	from, to int
}

// inflight is one group-commit batch handed from the writer to the syncer.
type inflight struct {
	batch   *pebble.Batch // nil: nothing to write (all duplicates or refused)
	spans   []span
	lastSeq uint64
	hash    [32]byte
	carried []string // pseudonyms of the keys the batch carries (carry.go)
	err     error    // the batch failed before it was committed
}

// maxCachedCustomers bounds the writer's customer → version cache; the
// cache is cleared when it grows past it (between batches only).
const maxCachedCustomers = 1 << 20

type writer struct {
	s        *Store
	seq      uint64             // last assigned sequence
	hash     [32]byte           // hash of record seq
	versions map[string]*uint64 // values live in vslab
	vslab    []uint64
	ptrs     []*uint64 // per request of the current window: versions[subject]
	// complete is true while versions holds every customer of the log: the
	// log was empty at Open and the cache was never cleared. A miss then
	// means version 0, without a read.
	complete bool
	slab     []byte // backing store of the versions keys
	h        hash.Hash
	key      []byte
	sum      [32]byte

	// Per batch. cur holds the events of the batch being built, prev those
	// of the batch handed to the syncer, which may not be applied yet (and
	// so not visible to iter). Their raw bytes point into the batches,
	// which the writer closes only once they are no longer needed.
	iter  *pebble.Iterator // lazily opened view of every applied batch
	cb    *pebble.Batch    // the c/ entries of the batch being built
	ib    *pebble.Batch    // its i/ entries
	cur   batchIDs
	prev  batchIDs
	prevB *pebble.Batch // the batch of prev, closed at the next handoff
	seed  maphash.Seed
	now   int64  // recorded_at of the batch, unix ns; 0: not read yet
	open  []byte // samePlaintext's buffer
	err   error  // first read error of the batch
}

// batchIDs are the events of one batch by id, with a small filter in front
// of the map.
type batchIDs struct {
	m      map[string]batchEntry
	filter [64]uint64 // bit per maphash(id) mod 4096
}

func (b *batchIDs) get(id string, bit uint64) (batchEntry, bool) {
	if b.filter[bit>>6]&(1<<(bit&63)) == 0 {
		return batchEntry{}, false
	}
	e, ok := b.m[id]
	return e, ok
}

func (b *batchIDs) put(id string, bit uint64, e batchEntry) {
	b.m[id] = e
	b.filter[bit>>6] |= 1 << (bit & 63)
}

func (b *batchIDs) reset() {
	clear(b.m)
	b.filter = [64]uint64{}
}

// batchEntry is an event placed in a batch.
type batchEntry struct {
	seq, version uint64
	customer     string
	raw          []byte // inside the batch's record value
}

func newWriter(s *Store, seq uint64, hash [32]byte) *writer {
	return &writer{
		s: s, seq: seq, hash: hash,
		cb: s.db.NewBatch(), ib: s.db.NewBatch(),
		versions: make(map[string]*uint64),
		complete: seq == 0,
		h:        sha256.New(),
		cur:      batchIDs{m: make(map[string]batchEntry)},
		prev:     batchIDs{m: make(map[string]batchEntry)},
		seed:     maphash.MakeSeed(),
	}
}

// Append appends reqs in order; concurrent calls are merged by one writer
// into one Pebble batch and one fsync. It returns after the fsync. A
// non-nil error means the store failed and nothing in reqs is acknowledged.
//
// Each Result says what happened to its Request: a new Seq and Version; a
// Duplicate (the id is stored with identical bytes: the original Seq and
// Version); or Err, a *journey.Error with CodeIDConflict or
// CodeVersionConflict, or ErrInvalidRequest, in which case nothing was
// written for that request. Duplicates of an event appended earlier in the
// same call, or in a concurrent one, are detected too.
//
// When ctx ends before the fsync, Append returns ctx.Err(); the events may
// or may not have been written, and appending them again is safe.
func (s *Store) Append(ctx context.Context, reqs []Request) ([]Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	return s.append(ctx, reqs, nil)
}

// append is Append, with AppendAt's position when pos is not nil.
func (s *Store) append(ctx context.Context, reqs []Request, pos *Position) ([]Result, error) {
	if err := s.failure(); err != nil {
		return nil, err
	}
	if s.sealed {
		var err error
		if reqs, err = s.sealRequests(reqs); err != nil {
			return nil, err
		}
	}
	p := &pending{ctx: ctx, reqs: reqs, results: make([]Result, len(reqs)), pos: pos, done: make(chan struct{})}
	select {
	case s.reqCh <- p:
	case <-s.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stopped:
		select {
		case <-p.done: // completed before the writer stopped
		default:
			return nil, ErrClosed // queued after the writer's last look
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return p.results, nil
}

// group is the batch being built.
type group struct {
	b            *pebble.Batch
	inf          *inflight
	events, size int
}

func (w *writer) full(g *group) bool {
	return g.events >= w.s.opts.MaxBatchEvents || g.size >= maxBatchBytes
}

// run is the writer goroutine: it merges pending calls into batches until
// the store closes (finishing a call it has started). One batch at a time
// is with the syncer (being applied and fsynced); meanwhile the writer
// merges arrivals into the next batch, so the batch size follows the load
// and the writer's work overlaps Pebble's.
func (w *writer) run() {
	s := w.s
	defer func() {
		s.slots <- struct{}{} // the last batch is done
		w.closePrev()
		_ = w.cb.Close()
		_ = w.ib.Close()
		close(s.syncCh)
	}()
	var carry *pending
	for {
		p := carry
		if p == nil {
			select {
			case p = <-s.reqCh:
			case <-s.closing:
				w.refuseQueued()
				return
			}
		}
		g := &group{inf: &inflight{}}
		carry = w.fill(g, p)
		if len(g.inf.spans) == 0 {
			continue
		}
		for waiting := true; waiting; {
			if carry != nil || w.full(g) {
				s.slots <- struct{}{}
				break
			}
			select {
			case s.slots <- struct{}{}:
				waiting = false
			case p := <-s.reqCh:
				carry = w.fill(g, p)
			}
		}
		// The previous batch is applied, fsynced and acknowledged.
		w.closePrev()
		w.commit(g.b, g.inf)
	}
}

// fill adds p and then every waiting call to g until it is full. It
// returns a call that did not fit entirely (to be continued), or nil.
func (w *writer) fill(g *group, p *pending) *pending {
	for p != nil {
		if p.next == 0 {
			if err := w.admit(p); err != nil {
				p.err = err
				close(p.done)
				p = w.tryRecv()
				continue
			}
		}
		if g.b == nil {
			g.b = w.s.db.NewBatchWithSize(1 << 20)
		}
		from := p.next
		// Look the customers up in one tight pass first: independent map
		// probes overlap their cache misses, which the per-event path cannot.
		end := min(len(p.reqs), p.next+w.s.opts.MaxBatchEvents-g.events)
		w.ptrs = w.ptrs[:0]
		for _, r := range p.reqs[p.next:end] {
			var v *uint64
			if r.Event != nil {
				v = w.versions[r.Event.Subject]
			}
			w.ptrs = append(w.ptrs, v)
		}
		for p.next < len(p.reqs) && !w.full(g) {
			var v *uint64
			if i := p.next - from; i < len(w.ptrs) {
				v = w.ptrs[i]
			}
			n := w.add(g.b, &p.reqs[p.next], &p.results[p.next], v)
			p.next++
			if n > 0 {
				g.events++
				g.size += n
			}
		}
		g.inf.spans = append(g.inf.spans, span{p: p, from: from, to: p.next})
		if p.next < len(p.reqs) {
			return p
		}
		if p.pos != nil {
			// The call's last request is in this batch: so is its position.
			_ = g.b.Set(positionKey(p.pos.Name), seqValue(p.pos.committed(p.results)), nil)
		}
		if w.full(g) {
			return nil
		}
		p = w.tryRecv()
	}
	return nil
}

// refuseQueued completes the calls still queued at Close with ErrClosed.
func (w *writer) refuseQueued() {
	for {
		select {
		case p := <-w.s.reqCh:
			p.err = ErrClosed
			close(p.done)
		default:
			return
		}
	}
}

// tryRecv returns a waiting call, or nil.
func (w *writer) tryRecv() *pending {
	select {
	case p := <-w.s.reqCh:
		return p
	default:
		return nil
	}
}

// admit checks a call before its first request is batched.
func (w *writer) admit(p *pending) error {
	if err := w.s.failure(); err != nil {
		return err
	}
	return p.ctx.Err()
}

// commit hands b to the syncer, which applies it with its fsync. A read
// error while building the batch fails it (and the store) instead.
func (w *writer) commit(b *pebble.Batch, inf *inflight) {
	s := w.s
	if w.iter != nil {
		if err := w.iter.Close(); err != nil && w.err == nil {
			w.err = err
		}
		w.iter = nil
	}
	w.now = 0
	inf.lastSeq, inf.hash = w.seq, w.hash
	if w.err == nil && !w.cb.Empty() {
		if err := b.Apply(w.cb, nil); err != nil {
			w.err = err
		} else if err := b.Apply(w.ib, nil); err != nil {
			w.err = err
		}
	}
	w.cb.Reset()
	w.ib.Reset()
	switch {
	case w.err != nil:
		inf.err = s.fail(w.err)
		w.err = nil
	case !b.Empty():
		inf.batch = b
	}
	// This batch's events become prev; the cache keeps at least them.
	w.prev, w.cur = w.cur, w.prev
	w.prevB = b
	if len(w.versions) > maxCachedCustomers {
		w.versions = make(map[string]*uint64, len(w.prev.m))
		w.slab, w.vslab = nil, nil
		for _, e := range w.prev.m {
			if v := w.versions[e.customer]; v == nil {
				w.setVersion(e.customer, e.version)
			} else if e.version > *v {
				*v = e.version
			}
		}
		w.complete = false
	}
	switch {
	case inf.batch == nil || s.sealer == nil:
	case s.carry != nil:
		// The keys of the batch's new customers ride in the batch: its
		// fsync makes them durable with the events (an acknowledged
		// event's key is never lost); the key store's own fsync follows
		// later, for many batches at once (carry.go).
		if err := w.carry(inf); err != nil {
			inf.err, inf.batch = s.fail(keyStoreErr(err)), nil
		}
	default:
		// The keys are made durable before the batch is handed on; this
		// fsync overlaps the syncer's of the batch before.
		if err := s.sealer.Sync(); err != nil {
			inf.err, inf.batch = s.fail(keyStoreErr(err)), nil
		}
	}
	s.syncCh <- inf
}

// closePrev forgets the previous batch once the syncer is done with it
// (it is applied, so iterators see its events).
func (w *writer) closePrev() {
	w.prev.reset()
	if w.prevB != nil {
		_ = w.prevB.Close()
		w.prevB = nil
	}
}

// syncLoop is the syncer goroutine: in order it applies each batch with
// an fsync, publishes the durable head and completes the callers. The
// writer closes the batches.
func (s *Store) syncLoop() {
	if s.carry != nil {
		defer close(s.carry.done) // the settler's last round
	}
	var broken error // once a batch failed, no later one is acknowledged
	for inf := range s.syncCh {
		if inf.err != nil && broken == nil {
			broken = inf.err
		}
		if inf.batch != nil && broken == nil {
			if err := s.apply(inf.batch); err != nil {
				broken = s.fail(err)
			} else if s.carry != nil {
				s.carry.applied(inf.carried)
			}
		}
		if broken == nil && inf.lastSeq > s.durable.Load() {
			// The WAL holding the batch is fsynced: record the durable head
			// before anyone is told.
			if err := s.head.write(inf.lastSeq, inf.hash); err != nil {
				broken = s.fail(err)
			} else {
				s.publish(inf.lastSeq, inf.hash)
			}
		}
		// The batch is applied: the writer may hand over the next one while
		// this one's callers are woken.
		<-s.slots
		for _, sp := range inf.spans {
			p := sp.p
			if p.closed {
				continue
			}
			if broken != nil {
				p.err = broken
			} else if sp.to < len(p.reqs) {
				continue // the rest of the call is in a later batch
			}
			p.closed = true
			close(p.done)
		}
	}
}

// apply commits b with the store's sync setting.
func (s *Store) apply(b *pebble.Batch) error {
	return guard(func() error { return s.db.Apply(b, s.writeOpts()) })
}

// guard runs a Pebble write. Pebble reports a failed WAL write or fsync
// through Logger.Fatalf, which panics with a pebbleguard.Fatal; guard
// returns that as the error (ErrNoSpace for a full disk).
func guard(write func() error) error { return pebbleguard.Run(write, ErrNoSpace) }

// add places one request in b and returns the bytes it added (0 when it
// was refused or a duplicate).
func (w *writer) add(b *pebble.Batch, req *Request, res *Result, vp *uint64) int {
	ev := req.Event
	if req.refused != nil {
		res.Err = req.refused
		return 0
	}
	if err := checkRequest(req); err != nil {
		res.Err = err
		return 0
	}
	// Idempotency: first this batch, then everything applied before it.
	bit := maphash.String(w.seed, ev.ID) & 4095
	if e, ok := w.cur.get(ev.ID, bit); ok {
		w.duplicate(res, req, e.seq, e.version, e.raw)
		return 0
	}
	if e, ok := w.prev.get(ev.ID, bit); ok {
		w.duplicate(res, req, e.seq, e.version, e.raw)
		return 0
	}
	if seq, version, raw, ok := w.lookupID(ev.ID); ok {
		w.duplicate(res, req, seq, version, raw)
		return 0
	} else if w.err != nil {
		return 0
	}
	if vp == nil {
		vp = w.versions[ev.Subject] // new to the cache, or first seen in this batch
	}
	var cur uint64
	if vp != nil {
		cur = *vp
	} else if !w.complete {
		cur = w.lookupVersion(ev.Subject)
		if w.err != nil {
			return 0
		}
	}
	if req.ExpectedVersion != AnyVersion && uint64(req.ExpectedVersion) != cur {
		res.Err = &journey.Error{Code: journey.CodeVersionConflict, Field: "subject",
			Rule: fmt.Sprintf("expected version %d, customer is at %d", req.ExpectedVersion, cur)}
		return 0
	}
	seq, version := w.seq+1, cur+1
	n := recordLen(ev)
	op := b.SetDeferred(len(prefixEvent)+8, n)
	eventKey(op.Key[:0], seq)
	body := op.Value[hashLen:]
	if w.now == 0 {
		w.now = w.s.opts.Clock().UnixNano()
	}
	format := recordFormat
	switch {
	case req.erasure:
		format = erasureFormat
	case w.s.sealed:
		format = sealedFormat
	}
	putBody(body, format, seq, version, w.now, ev)
	w.h.Reset()
	w.h.Write(w.hash[:])
	w.h.Write(body)
	w.h.Sum(w.sum[:0])
	copy(op.Value[:hashLen], w.sum[:])
	// The batch's copy of the raw bytes (the caller may reuse ev.Raw once
	// acknowledged). If the batch buffer grows, this keeps the old array.
	stored := op.Value[len(op.Value)-len(ev.Raw):]
	_ = op.Finish()

	var sv [8]byte
	binary.BigEndian.PutUint64(sv[:], seq)
	// The index entries go to side batches appended at the end: a batch
	// whose keys come in runs (all e/ in order, then c/, then i/, UUIDv7 ids
	// mostly in order) inserts into Pebble's memtable skiplist faster than
	// one that alternates between the three keyspaces.
	w.key = customerKey(w.key[:0], ev.Subject, version)
	_ = w.cb.Set(w.key, sv[:], nil)
	w.key = idKey(w.key[:0], ev.ID)
	_ = w.ib.Set(w.key, sv[:], nil)

	w.seq, w.hash = seq, w.sum
	if vp != nil {
		*vp = version
	} else {
		w.setVersion(ev.Subject, version)
	}
	w.cur.put(ev.ID, bit, batchEntry{seq: seq, version: version, customer: ev.Subject,
		raw: stored})
	res.Seq, res.Version = seq, version
	return n
}

// setVersion adds a customer to the cache.
func (w *writer) setVersion(customer string, version uint64) {
	if len(w.vslab) == cap(w.vslab) {
		w.vslab = make([]uint64, 0, 8192)
	}
	w.vslab = append(w.vslab, version)
	w.versions[w.internCustomer(customer)] = &w.vslab[len(w.vslab)-1]
}

// internCustomer copies a new cache key into a shared slab, so that the
// cache's keys sit together in memory: a lookup's key comparison then
// rarely misses the CPU cache (scattered key strings did, measurably).
func (w *writer) internCustomer(c string) string {
	if len(c) == 0 {
		return ""
	}
	if cap(w.slab)-len(w.slab) < len(c) {
		w.slab = make([]byte, 0, max(64<<10, len(c)))
	}
	start := len(w.slab)
	w.slab = append(w.slab, c...)
	return unsafe.String(&w.slab[start], len(c))
}

func (w *writer) duplicate(res *Result, req *Request, seq, version uint64, raw []byte) {
	ev := req.Event
	same := bytes.Equal(raw, ev.Raw)
	if !same && req.plain != nil {
		// Sealing is randomised: a sealed log compares what was received.
		same = w.samePlaintext(req, raw)
	}
	if !same {
		res.Err = &journey.Error{Code: journey.CodeIDConflict, Field: "id",
			Rule: fmt.Sprintf("id %q is stored at sequence %d with other bytes", ev.ID, seq)}
		return
	}
	res.Seq, res.Version, res.Duplicate = seq, version, true
}

// samePlaintext reports whether stored, the sealed bytes of the event
// with req's id, open under req's header (kind, customer, event time) to
// req's customer and event bytes.
func (w *writer) samePlaintext(req *Request, stored []byte) bool {
	ev, pl := req.Event, req.plain
	w.open = sealAD(w.open[:0], string(ev.Type), ev.Subject, ev.ID, ev.Time.Unix(), uint32(ev.Time.Nanosecond()))
	n := len(w.open)
	out, err := w.s.sealer.Open(w.open, []byte(ev.Subject), w.open[:n], stored)
	if err != nil {
		return false // another header, or erased: not the same event
	}
	w.open = out
	pt := out[n:]
	l, k := binary.Uvarint(pt)
	return k > 0 && l == uint64(len(pl.Subject)) && uint64(len(pt)-k) >= l &&
		string(pt[k:k+int(l)]) == pl.Subject && bytes.Equal(pt[k+int(l):], pl.Raw)
}

// checkRequest rejects requests no caller should send.
func checkRequest(req *Request) error {
	ev := req.Event
	switch {
	case ev == nil:
		return fmt.Errorf("%w: nil Event", ErrInvalidRequest)
	case ev.ID == "" || len(ev.ID) > journey.MaxIDBytes:
		return fmt.Errorf("%w: id must be 1..%d bytes", ErrInvalidRequest, journey.MaxIDBytes)
	case ev.Subject == "" || len(ev.Subject) > journey.MaxSubjectBytes || strings.IndexByte(ev.Subject, 0) >= 0:
		return fmt.Errorf("%w: subject must be 1..%d bytes without NUL", ErrInvalidRequest, journey.MaxSubjectBytes)
	case ev.Type == "" || len(ev.Type) > 64:
		return fmt.Errorf("%w: missing type", ErrInvalidRequest)
	case len(ev.Raw) == 0:
		return fmt.Errorf("%w: empty Raw", ErrInvalidRequest)
	case req.ExpectedVersion < AnyVersion:
		return fmt.Errorf("%w: ExpectedVersion %d", ErrInvalidRequest, req.ExpectedVersion)
	}
	return nil
}

// view returns the batch's read view of the log, opening it on first use.
func (w *writer) view() *pebble.Iterator {
	if w.iter == nil {
		it, err := w.s.db.NewIter(nil)
		if err != nil {
			w.err = err
			return nil
		}
		w.iter = it
	}
	return w.iter
}

// lookupID finds a stored event by id in the applied log.
func (w *writer) lookupID(id string) (seq, version uint64, raw []byte, ok bool) {
	it := w.view()
	if it == nil {
		return 0, 0, nil, false
	}
	w.key = idKey(w.key[:0], id)
	if !it.SeekPrefixGE(w.key) || !bytes.Equal(it.Key(), w.key) {
		w.err = it.Error()
		return 0, 0, nil, false
	}
	v, err := it.ValueAndErr()
	if err == nil {
		seq, err = decodeSeqValue(v)
	}
	if err != nil {
		w.err = fmt.Errorf("id index %q: %w", id, err)
		return 0, 0, nil, false
	}
	w.key = eventKey(w.key[:0], seq)
	if !it.SeekGE(w.key) || !bytes.Equal(it.Key(), w.key) {
		w.err = fmt.Errorf("id %q points to missing record %d: %w", id, seq, it.Error())
		return 0, 0, nil, false
	}
	v, err = it.ValueAndErr()
	var r recordView
	if err == nil {
		err = parseRecord(v, &r)
	}
	if err != nil {
		w.err = fmt.Errorf("record %d: %w", seq, err)
		return 0, 0, nil, false
	}
	return seq, r.version, r.raw, true
}

// lookupVersion reads a customer's last version from the applied log.
func (w *writer) lookupVersion(customer string) uint64 {
	it := w.view()
	if it == nil {
		return 0
	}
	w.key = customerKey(w.key[:0], customer, 0)
	prefix := w.key[:len(w.key)-8]
	upper := append(append([]byte(nil), prefix[:len(prefix)-1]...), 1)
	if !it.SeekLT(upper) || !bytes.HasPrefix(it.Key(), prefix) || len(it.Key()) != len(prefix)+8 {
		w.err = it.Error()
		return 0
	}
	return binary.BigEndian.Uint64(it.Key()[len(prefix):])
}
