package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

// IngestOptions configure an Ingester. Zero fields take defaults.
type IngestOptions struct {
	SubjectPrefix string           // "": DefaultSubjectPrefix
	RejectSubject string           // "": DefaultRejectSubject
	BatchSize     int              // most events per Append (one fsync); 0: DefaultBatchSize
	Clock         func() time.Time // the engine's clock for validation; nil: time.Now
	Logger        *slog.Logger     // nil: discard
	Metrics       *Metrics         // nil: none
	// NakDelay is the first redelivery delay after a store failure; it
	// doubles with each failure in a row up to MaxNakDelay. 0: DefaultNakDelay
	// / DefaultMaxNakDelay.
	NakDelay, MaxNakDelay time.Duration
	// LagEvery is how often the consumer's info is polled for the lag
	// gauges and readiness, and JetStream's state is checked; 0: DefaultLagEvery.
	LagEvery time.Duration

	// JetStream and Stream let the ingester recreate what Provision
	// provisions: when the consumer (or its stream) is deleted, it
	// provisions them again with Provision(JetStream, Stream) and consumes
	// the new consumer, from just after the last stream sequence it knows
	// acked. With JetStream nil, a deleted consumer stops Run with
	// ErrConsumerGone instead (a supervisor restarts the engine, whose
	// start provisions). JetStream also serves the account checks of
	// JetStreamProblem (JetStream disabled, account storage full).
	JetStream jetstream.JetStream
	Stream    StreamOptions
	// ServerCheck, when set, is asked at every poll for problems only the
	// server itself sees (the embedded server: a stream's write error after
	// its disk filled up, JetStream shut down, its max_file_store reached).
	// It returns the problem's kind (a Problem* constant) and what it is,
	// or "", nil.
	ServerCheck func() (kind string, err error)
	// ServerRepair, when set, is called while ServerCheck reports a
	// stream_write_error or jetstream_unavailable, at most every
	// RepairEvery (0: DefaultRepairEvery), to repair it (the embedded server restarts its
	// JetStream once its disk has room again, which clears a stream's
	// write error); nil error: repaired, the ingester consumes again.
	ServerRepair func() error
	RepairEvery  time.Duration
}

// Defaults of IngestOptions' zero fields.
const (
	DefaultBatchSize   = 1000
	DefaultNakDelay    = 500 * time.Millisecond
	DefaultMaxNakDelay = 10 * time.Second
	DefaultLagEvery    = 5 * time.Second
	DefaultRepairEvery = 5 * time.Second
)

// withDefaults is o with every zero field given its default; the stream's
// subject prefix is the ingester's unless set.
func (o IngestOptions) withDefaults() IngestOptions {
	o.SubjectPrefix = cmp.Or(o.SubjectPrefix, DefaultSubjectPrefix)
	o.RejectSubject = cmp.Or(o.RejectSubject, DefaultRejectSubject)
	o.BatchSize = positiveOr(o.BatchSize, DefaultBatchSize)
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.Logger = cmp.Or(o.Logger, discardLogger)
	o.NakDelay = positiveOr(o.NakDelay, DefaultNakDelay)
	o.MaxNakDelay = positiveOr(o.MaxNakDelay, DefaultMaxNakDelay)
	o.LagEvery = positiveOr(o.LagEvery, DefaultLagEvery)
	o.RepairEvery = positiveOr(o.RepairEvery, DefaultRepairEvery)
	o.Stream.SubjectPrefix = cmp.Or(o.Stream.SubjectPrefix, o.SubjectPrefix)
	o.Stream = o.Stream.withDefaults()
	return o
}

// Kinds of JetStream problems, as reported by Ready, the log and the
// journey_jetstream_problems_total metric.
const (
	// JetStream does not answer or is disabled (the account info fails).
	ProblemUnavailable = "jetstream_unavailable"
	// JetStream refuses new messages for lack of room: the server's
	// max_file_store, the account's storage limit, or the stream's
	// MaxBytes/MaxMsgs with DiscardNew is reached.
	ProblemStorageFull = "storage_full"
	// The stream failed to write (a full or failing disk): the server
	// takes no more messages into it and answers publishers nothing.
	ProblemWriteError = "stream_write_error"
	// The consumer is missing and could not be recreated, or its info
	// cannot be read.
	ProblemConsumer = "consumer"
)

// ProblemStreamGap is Ready's kind for messages the engine never took that
// are gone from the stream (expired past MaxAge, purged, deleted, or the
// stream recreated): reported with the missing stream sequences, never
// skipped silently. Ingest goes on with what the stream still holds (what
// is gone cannot come back); Ready keeps the report until the engine
// restarts, which is the operator's acknowledgement.
const ProblemStreamGap = "stream_gap"

// ErrStreamGone is Run's error when the stream was deleted and the
// ingester has no JetStream to provision it again with
// (IngestOptions.JetStream).
var ErrStreamGone = errors.New("handlers: the JetStream stream was deleted")

// Ingester moves touchpoints from the JetStream stream into the log, in
// stream order and without acks: its durable consumer acks nothing
// (AckNone), and the stream sequence of the last message taken is
// committed in the log in the same Pebble batch (one fsync) as the events
// and quarantine entries that message produced (eventstore.AppendAt). On
// start it places its consumer right after that position; so a crash at
// any moment loses nothing the log had and doubles nothing, without
// redelivery. Invalid events are quarantined and announced on the reject
// subject.
//
// Three goroutines overlap: the NATS client delivers messages in order
// (a gap in the consumer's delivery sequence — messages lost in transit —
// places a new consumer right after the last one taken), the batcher
// decodes them and cuts batches while the appender is busy, and the
// appender (this one, so stream order is log order) quarantines and
// appends each batch. A watcher polls the stream and the consumer.
type Ingester struct {
	store   *eventstore.Store
	nc      *nats.Conn
	js      jetstream.JetStream // o.JetStream, or one on nc: places the consumer
	stream  string
	cname   string
	filter  string // the consumer's filter subject ("": the stream holds only ours)
	posName string // the position's name in the log: "nats:" + stream
	o       IngestOptions

	committed atomic.Uint64 // the position in the log; the appender's
	// problem is the JetStream problem found by the last check (nil: none).
	problem atomic.Pointer[jsProblem]
	gapErr  atomic.Pointer[error] // the stream gaps reported (Ready)

	mu       sync.Mutex // guards taken, inc, created, gapUpTo, lastSeen, gapN, cons
	taken    uint64     // stream seq of the last message handed to the batcher
	inc      *incarnation
	created  time.Time // the stream's creation time: a new one is another stream
	gapUpTo  uint64    // the highest stream seq reported missing
	gapN     uint64    // messages reported missing since the start
	lastSeen uint64    // the stream's last seq at the last poll
	cons     jetstream.Consumer

	lastKind string    // the kind of the last problem logged; the watcher's
	repaired time.Time // the last ServerRepair call; the watcher's
}

type jsProblem struct {
	kind string
	err  error
}

// incarnation is one consume of one consumer: its messages pass only while
// it is the current one and its delivery sequence has no gap.
type incarnation struct {
	next   uint64 // the delivery (consumer) sequence expected next
	broken bool
	cc     jetstream.ConsumeContext
}

// NewIngester returns an Ingester reading the stream of cons (see
// Provision; Run replaces cons by a consumer of the same name placed after
// the log's position) and appending to store; nc publishes the rejection
// notices.
func NewIngester(store *eventstore.Store, nc *nats.Conn, cons jetstream.Consumer, o IngestOptions) *Ingester {
	o = o.withDefaults()
	ci := cons.CachedInfo()
	in := &Ingester{store: store, nc: nc, js: o.JetStream, stream: ci.Stream, cname: ci.Name,
		filter: ci.Config.FilterSubject, posName: "nats:" + ci.Stream, o: o, cons: cons}
	if in.js == nil {
		in.js, _ = jetstream.New(nc) // fails only on bad options
	}
	o.Metrics.jetStreamOK(true)
	return in
}

// Ready returns nil while ingest works as far as the ingester can tell,
// else the JetStream problem its last check found, as "kind: detail"
// (readiness: see the Problem* kinds), or the stream gap it reported
// (ProblemStreamGap).
func (in *Ingester) Ready() error {
	if p := in.problem.Load(); p != nil {
		return fmt.Errorf("%s: %w", p.kind, p.err)
	}
	if e := in.gapErr.Load(); e != nil {
		return *e
	}
	return nil
}

// ConsumerOK reports whether the last check found no problem (see Ready).
func (in *Ingester) ConsumerOK() bool { return in.problem.Load() == nil }

// Position is the stream sequence of the last message whose events are
// in the log.
func (in *Ingester) Position() uint64 { return in.committed.Load() }

// took is one message handed to the batcher.
type took struct {
	m   jetstream.Msg
	seq uint64
}

// item is one event of a batch, decoded (a batch message gives several).
type item struct {
	seq     uint64 // stream sequence of its message
	subject string // its message's NATS subject
	raw     []byte
	ev      *journey.Event
	err     *journey.Error // invalid: quarantine
}

type batch struct {
	items []item
	last  uint64 // stream sequence of the batch's last message
	start time.Time
}

// Run ingests until ctx ends, then stops fetching, appends what the NATS
// client had already delivered and returns nil (what was still on its way
// is read again by the next run, from the position in the log). It
// returns an error when the store is closed or failed (see storeGone), the
// stream cannot be read, or it was deleted and cannot be provisioned again
// (ErrStreamGone).
//
// While it runs, a watcher polls the stream, the consumer and JetStream
// every LagEvery: a deleted consumer is placed again after the last
// message taken, a deleted stream provisioned again (see
// IngestOptions.JetStream) and read from its start; a JetStream problem
// (see the Problem* kinds) is reported by Ready, the metrics and one log
// line per change, and repaired with ServerRepair when set; messages gone
// from the stream before they were taken are reported (ProblemStreamGap).
func (in *Ingester) Run(ctx context.Context) error {
	bs := in.o.BatchSize
	msgs := make(chan took, 2*bs)
	stopping := make(chan struct{})
	cs := &consuming{in: in, msgs: msgs, stopping: stopping, lost: make(chan error, 1), bs: bs}
	if err := in.begin(ctx, cs); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing taken
		}
		return err
	}

	batches := make(chan batch)
	inputEnded := make(chan struct{})
	// rctx stops the stages on ctx's end or on a fatal error.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	var fatal atomic.Pointer[error]
	setFatal := func(err error) {
		if fatal.CompareAndSwap(nil, &err) {
			in.o.Logger.Error("ingest stopped", "err", err)
			rcancel()
		}
	}
	var watchWG, wg sync.WaitGroup
	watchWG.Add(1)
	go func() { defer watchWG.Done(); in.watch(rctx, cs, setFatal) }()
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(batches)
		in.batcher(msgs, inputEnded, batches)
	}()
	// The stopper: on the end, the consume hands over what the client
	// holds (Drain), then the input ends.
	go func() {
		defer wg.Done()
		<-rctx.Done()
		watchWG.Wait() // no consume starts after this
		cs.stop(fatal.Load() == nil)
		close(stopping)
		close(inputEnded)
	}()

	// The appender: this goroutine, the only one that appends, so stream
	// order is log order. A batch taken is finished even when ctx ends
	// (its store calls ignore the cancellation), except that a failing
	// store is not retried then: the next run reads it again.
	bctx := context.WithoutCancel(ctx)
	for b := range batches {
		if fatal.Load() != nil {
			continue // not committed: the next run reads it again
		}
		for failures := 0; ; {
			err := in.process(bctx, b)
			if err == nil {
				break
			}
			if storeGone(err) {
				setFatal(err)
				break
			}
			failures++
			d := in.backoff(failures)
			in.o.Logger.Error("append failed; the batch is retried", "events", len(b.items), "delay", d, "err", err)
			in.o.Metrics.naked(len(b.items))
			select {
			case <-rctx.Done():
			case <-time.After(d):
			}
			if rctx.Err() != nil {
				break
			}
		}
	}
	wg.Wait()
	if e := fatal.Load(); e != nil {
		return *e
	}
	return nil
}

// begin reads the log's position and the stream, reports what is gone
// from it, and starts consuming right after the position.
func (in *Ingester) begin(ctx context.Context, cs *consuming) error {
	pos, err := in.store.Position(in.posName)
	if err != nil {
		return fmt.Errorf("handlers: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := in.js.Stream(bctx, in.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && in.o.JetStream != nil {
		st, _, err = provisionStream(bctx, in.js, in.o.Stream)
	}
	if err != nil {
		return fmt.Errorf("handlers: stream %s: %w", in.stream, err)
	}
	if pos == 0 {
		// A log written by an engine that acked: everything at or below its
		// consumer's ack floor was acked after its fsync, so is in the log.
		if c, err := st.Consumer(bctx, in.cname); err == nil {
			if ci := c.CachedInfo(); ci.Config.AckPolicy == jetstream.AckExplicitPolicy && ci.AckFloor.Stream > 0 {
				pos = ci.AckFloor.Stream
				in.o.Logger.Info("no stream position in the log: taking over from the acking consumer's ack floor",
					"consumer", in.cname, "ack_floor", pos)
			}
		}
	}
	si := st.CachedInfo()
	in.mu.Lock()
	in.created, in.lastSeen = si.Created, si.State.LastSeq
	if si.State.LastSeq < pos {
		in.noteGapLocked(0, 0, fmt.Sprintf("the stream's last sequence %d is below the log's position %d: it was "+
			"recreated (or reset) since the engine last read it, and what it held after %d is gone; reading the new stream from its start",
			si.State.LastSeq, pos, pos))
		pos = 0
	}
	in.taken = pos
	in.committed.Store(pos)
	if si.State.FirstSeq > pos+1 {
		in.noteGapLocked(pos+1, si.State.FirstSeq-1, "gone from the stream before the engine took them (expired past its max age, purged or deleted)")
	}
	in.mu.Unlock()
	return in.consumeFrom(bctx, cs, st)
}

// consumeFrom places the consumer right after the last message taken and
// consumes it; the consume before it passes nothing more.
func (in *Ingester) consumeFrom(ctx context.Context, cs *consuming, st jetstream.Stream) error {
	inc := &incarnation{next: 1}
	in.mu.Lock()
	old := in.inc
	in.inc = inc
	from := in.taken + 1
	in.mu.Unlock()
	if old != nil && old.cc != nil {
		old.cc.Stop()
	}
	cons, err := placeConsumer(ctx, st, in.cname, in.filter, from)
	if err != nil {
		return err
	}
	cc, err := cons.Consume(cs.handler(inc),
		jetstream.PullMaxMessages(2*cs.bs),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrBadRequest) {
				cs.signal(err) // terminal: the client stops this consume
				return
			}
			in.o.Logger.Debug("consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("handlers: consume: %w", err)
	}
	in.mu.Lock()
	inc.cc = cc
	in.cons = cons
	current := in.inc == inc
	in.mu.Unlock()
	if !current {
		cc.Stop()
	}
	return nil
}

func (in *Ingester) consumer() jetstream.Consumer {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cons
}

// consuming hands the current consume's messages to the batcher.
type consuming struct {
	in       *Ingester
	msgs     chan<- took
	stopping <-chan struct{}
	bs       int
	lost     chan error // the consume stopped (terminal error, messages lost in transit)
}

func (c *consuming) signal(err error) {
	select {
	case c.lost <- err:
	default:
	}
}

// handler passes inc's messages in order, one at a time (under in.mu, so
// that a new consume starts exactly after the last one passed).
func (c *consuming) handler(inc *incarnation) jetstream.MessageHandler {
	in := c.in
	return func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return // not a JetStream message
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		if in.inc != inc || inc.broken {
			return
		}
		if md.Sequence.Consumer != inc.next {
			inc.broken = true
			c.signal(fmt.Errorf("delivery sequence %d after %d: messages lost in transit", md.Sequence.Consumer, inc.next-1))
			return
		}
		inc.next++
		s := md.Sequence.Stream
		if s <= in.taken {
			return
		}
		if in.filter == "" && s > in.taken+1 {
			in.noteGapLocked(in.taken+1, s-1, "missing from the stream when the engine reached them (expired past its max age, purged or deleted)")
		}
		select {
		case c.msgs <- took{m: m, seq: s}:
			in.taken = s
		case <-c.stopping:
		}
	}
}

// stop ends the current consume: drain hands what the client buffered to
// the handler first (at most 5s).
func (c *consuming) stop(drain bool) {
	in := c.in
	in.mu.Lock()
	inc := in.inc
	in.mu.Unlock()
	if inc == nil || inc.cc == nil {
		return
	}
	cc := inc.cc
	if !drain {
		cc.Stop()
		return
	}
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(5 * time.Second):
		cc.Stop()
	}
}

// noteGapLocked reports stream sequences from..to (0, 0: unknown) gone
// before the engine took them: the log, the metric and Ready. Each
// sequence is reported once.
func (in *Ingester) noteGapLocked(from, to uint64, why string) {
	if to != 0 {
		from = max(from, in.gapUpTo+1)
		if from > to {
			return
		}
		in.gapUpTo = to
		in.gapN += to - from + 1
		in.o.Metrics.streamLost(to - from + 1)
		in.o.Logger.Error("stream messages lost before ingest: "+why, "stream", in.stream,
			"from_seq", from, "to_seq", to, "messages", to-from+1)
		err := fmt.Errorf("%s: stream %s sequences %d..%d (%d messages) %s; %d missing since the start",
			ProblemStreamGap, in.stream, from, to, to-from+1, why, in.gapN)
		in.gapErr.Store(&err)
		return
	}
	in.o.Metrics.streamLost(0)
	in.o.Logger.Error("stream messages lost before ingest: "+why, "stream", in.stream)
	err := fmt.Errorf("%s: stream %s: %s", ProblemStreamGap, in.stream, why)
	in.gapErr.Store(&err)
}

// batcher decodes messages and hands batches to the appender: it
// accumulates while the appender is busy and hands over the moment it is
// free, so that the batch grows with the load (group commit). A message's
// events are never split across batches. Once the input has ended, it
// hands over what is left and returns.
func (in *Ingester) batcher(msgs <-chan took, ended <-chan struct{}, out chan<- batch) {
	prefix := in.o.SubjectPrefix + "."
	var cur batch
	var now time.Time
	n := 0 // messages in cur
	add := func(t took) {
		if len(cur.items) == 0 {
			now = in.o.Clock()
			cur.start = now
			cur.items = make([]item, 0, in.o.BatchSize)
		} else if n%64 == 0 {
			now = in.o.Clock()
		}
		n++
		cur.items = in.decode(cur.items, t, prefix, now)
		cur.last = t.seq
	}
	for {
		var send chan<- batch
		var recv <-chan took = msgs
		if len(cur.items) > 0 {
			send = out
		}
		if len(cur.items) >= in.o.BatchSize {
			recv = nil
		}
		select {
		case <-ended:
			for {
				select {
				case t := <-msgs:
					add(t)
					continue
				default:
				}
				break
			}
			if len(cur.items) > 0 {
				out <- cur
			}
			return
		case send <- cur:
			cur, n = batch{}, 0
		case t := <-recv:
			add(t)
		}
	}
}

// decode appends the events of one message to items, validated at the
// engine's clock now, including that the subject token is the event's
// subject (the customer). A batch message (BatchContentType header) gives
// one item per element, or one invalid item for the whole message when it
// is not a JSON array of objects; its subject token names the batch's
// partition (its first event's customer, see PublishOptions.Batch) and is
// not compared with each event's subject.
func (in *Ingester) decode(items []item, t took, prefix string, now time.Time) []item {
	subject, data := t.m.Subject(), t.m.Data()
	token := strings.TrimPrefix(subject, prefix)
	if h := t.m.Headers(); h != nil && isBatch(cmp.Or(h.Get(contentType), h.Get("content-type"))) {
		elems, je := splitBatch(data)
		if je != nil {
			return append(items, item{seq: t.seq, subject: subject, raw: data, err: je})
		}
		for _, e := range elems {
			items = append(items, decodeOne(t.seq, subject, "", e, now))
		}
		return items
	}
	return append(items, decodeOne(t.seq, subject, token, data, now))
}

// decodeOne decodes one event; token "" skips the subject check.
func decodeOne(seq uint64, subject, token string, raw []byte, now time.Time) item {
	it := item{seq: seq, subject: subject, raw: raw}
	ev, err := journey.Decode(raw, now)
	if err != nil {
		var je *journey.Error
		if !errors.As(err, &je) {
			je = &journey.Error{Code: journey.CodeInvalidJSON, Rule: err.Error()}
		}
		it.err = je
		return it
	}
	if token != "" && token != ev.Subject {
		it.err = &journey.Error{Code: journey.CodeInvalidField, Field: "subject",
			Rule: fmt.Sprintf("the NATS subject token %q differs from the event subject %q", token, ev.Subject)}
		return it
	}
	it.ev = ev
	return it
}

// process makes one batch durable: it quarantines the invalid events,
// appends the valid ones with the batch's position in one AppendAt (one
// fsync), then quarantines what the append refused (an id conflict, which
// held the position back before its message) and commits the position.
// Every step is idempotent (the quarantine keeps an input once, the append
// answers duplicates), so a batch whose processing failed, or that a crash
// interrupted, is processed again whole.
func (in *Ingester) process(ctx context.Context, b batch) error {
	items := b.items
	for i := range items {
		if items[i].err != nil {
			if err := in.quarantine(ctx, &items[i]); err != nil {
				return err
			}
		}
	}
	reqs := make([]eventstore.Request, 0, len(items))
	sources := make([]uint64, 0, len(items))
	idx := make([]int, 0, len(items))
	for i := range items {
		if items[i].err == nil {
			reqs = append(reqs, eventstore.Request{Event: items[i].ev, ExpectedVersion: eventstore.AnyVersion})
			sources = append(sources, items[i].seq)
			idx = append(idx, i)
		}
	}
	t0 := time.Now()
	res, err := in.store.AppendAt(ctx, reqs, eventstore.Position{Name: in.posName, Seq: b.last, Sources: sources})
	if len(reqs) > 0 {
		in.o.Metrics.observeAppend(time.Since(t0).Seconds())
	}
	if err != nil {
		return err
	}
	appended, dups, refused := 0, 0, false
	for j, r := range res {
		it := &items[idx[j]]
		switch {
		case r.Err == nil && r.Duplicate:
			dups++
		case r.Err == nil:
			appended++
		default:
			refused = true
			je, ok := errors.AsType[*journey.Error](r.Err)
			if !ok {
				je = &journey.Error{Code: journey.CodeInternal, Rule: r.Err.Error()}
			}
			it.err = je
			if err := in.quarantine(ctx, it); err != nil {
				return err
			}
		}
	}
	if refused {
		if err := in.store.SetPosition(ctx, in.posName, b.last); err != nil {
			return err
		}
	}
	in.committed.Store(b.last)
	in.o.Metrics.appended(appended)
	in.o.Metrics.duplicates(dups)
	in.o.Metrics.observeBatch(len(items), time.Since(b.start).Seconds())
	return nil
}

// quarantine keeps the item's input with its reason; its origin is
// "nats:" and the message's subject, whose token is a customer id: for an
// event of an erased customer it is the subject with that token as the
// stream's wildcard ("nats:journey.events.*"), so that the entry names no
// one.
func (in *Ingester) quarantine(ctx context.Context, it *item) error {
	origin := "nats:" + it.subject
	if it.err.Code == journey.CodeErased {
		origin = "nats:" + in.o.SubjectPrefix + ".*"
	}
	return quarantine(ctx, in.store, in.nc, in.o.RejectSubject, in.o.Metrics, in.o.Logger, in.o.Clock,
		it.raw, it.err, origin)
}

func (in *Ingester) backoff(failures int) time.Duration {
	d := in.o.NakDelay
	for i := 1; i < failures && d < in.o.MaxNakDelay; i++ {
		d *= 2
	}
	return min(d, in.o.MaxNakDelay)
}

// storeGone reports whether err means the store takes no more appends:
// closed, or failed (a commit failed; it must be reopened, which a
// restart of the engine does). Run then stops with the error instead of
// retrying forever; the next run reads the batch again.
func storeGone(err error) bool {
	return errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrFailed)
}

// watch polls the stream and the consumer every LagEvery for the lag
// gauges and what is gone from the stream, consumes again when the
// consume stopped or the consumer (or the stream) went (or exits Run
// through fatal), and checks JetStream's state for Ready.
func (in *Ingester) watch(ctx context.Context, cs *consuming, fatal func(error)) {
	t := time.NewTicker(in.o.LagEvery)
	defer t.Stop()
	var lost error // the consume stopped
	for {
		if lost != nil {
			in.o.Logger.Warn("consume stopped", "err", lost)
		}
		p, gone := in.check(ctx)
		if ctx.Err() != nil {
			return
		}
		// Consume again after the consumer went, the consume stopped, or
		// JetStream came back (its pull requests are gone with it).
		back := p == nil && in.lastKind != "" && in.lastKind != ProblemStorageFull
		if gone || lost != nil || back {
			if err := in.reconsume(ctx, cs, gone); err != nil {
				if errors.Is(err, ErrStreamGone) {
					fatal(err)
					return
				}
				if p == nil {
					p = &jsProblem{kind: ProblemConsumer, err: err}
				}
			} else {
				lost = nil
				if gone {
					p, _ = in.check(ctx)
				}
			}
		}
		if p != nil && (p.kind == ProblemWriteError || p.kind == ProblemUnavailable) && in.o.ServerRepair != nil &&
			time.Since(in.repaired) >= in.o.RepairEvery {
			in.repaired = time.Now()
			if err := in.o.ServerRepair(); err != nil {
				in.o.Logger.Debug("jetstream repair", "err", err)
			} else {
				in.o.Logger.Warn("jetstream restarted to clear the problem; consuming again", "problem", p.kind)
				in.o.Metrics.recovered("jetstream_restarted")
				if err := in.reconsume(ctx, cs, false); err != nil {
					in.o.Logger.Warn("consume after the jetstream restart", "err", err)
				}
				p, _ = in.check(ctx)
			}
		}
		in.report(p)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case lost = <-cs.lost:
		}
	}
}

// check reads the stream's state (lag gauges, what is gone from it), the
// consumer's and JetStream's. gone: the consumer or the stream does not
// exist, or the stream is another one than the one being read (recreated).
func (in *Ingester) check(ctx context.Context) (p *jsProblem, gone bool) {
	ictx, cancel := context.WithTimeout(ctx, min(max(2*in.o.LagEvery, time.Second), 5*time.Second))
	defer cancel()
	_, err := in.consumer().Info(ictx)
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound):
		gone = true
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		p = &jsProblem{kind: ProblemUnavailable, err: err}
	default:
		p = &jsProblem{kind: ProblemConsumer, err: fmt.Errorf("consumer info: %w", err)}
		if _, aerr := in.js.AccountInfo(ictx); aerr != nil {
			p = &jsProblem{kind: ProblemUnavailable, err: fmt.Errorf("JetStream does not answer: consumer info: %v; account info: %w", err, aerr)}
		}
	}
	if in.o.ServerCheck != nil {
		if kind, err := in.o.ServerCheck(); err != nil {
			return &jsProblem{kind: kind, err: err}, gone
		}
	}
	if p != nil {
		return p, gone
	}
	if in.o.JetStream != nil {
		ai, err := in.js.AccountInfo(ictx)
		if err != nil {
			return &jsProblem{kind: ProblemUnavailable, err: fmt.Errorf("account info: %w", err)}, gone
		}
		if max := ai.Limits.MaxStore; max > 0 && ai.Store+journey.MaxEventBytes > uint64(max) {
			return &jsProblem{kind: ProblemStorageFull, err: fmt.Errorf("the account's JetStream storage is full (%d of its %d bytes used)", ai.Store, max)}, gone
		}
	}
	if gone {
		return nil, gone
	}
	st, err := in.js.Stream(ictx, in.stream)
	if err != nil {
		return nil, errors.Is(err, jetstream.ErrStreamNotFound)
	}
	si := st.CachedInfo()
	in.mu.Lock()
	if !si.Created.Equal(in.created) {
		in.mu.Unlock()
		return nil, true // another stream under the name
	}
	in.lastSeen = si.State.LastSeq
	if si.State.FirstSeq > in.taken+1 {
		in.noteGapLocked(in.taken+1, si.State.FirstSeq-1, "gone from the stream before the engine took them (expired past its max age, purged or deleted)")
	}
	taken := in.taken
	in.mu.Unlock()
	if m := in.o.Metrics; m != nil {
		pos := in.committed.Load()
		m.Pending.Set(float64(si.State.LastSeq - min(pos, si.State.LastSeq)))
		m.AckPending.Set(float64(taken - min(pos, taken)))
	}
	if si.Config.Discard == jetstream.DiscardNew {
		switch {
		case si.Config.MaxBytes > 0 && si.State.Bytes+journey.MaxEventBytes > uint64(si.Config.MaxBytes):
			return &jsProblem{kind: ProblemStorageFull, err: fmt.Errorf("stream %s is full: %d of its MaxBytes %d (DiscardNew)", si.Config.Name, si.State.Bytes, si.Config.MaxBytes)}, false
		case si.Config.MaxMsgs > 0 && si.State.Msgs >= uint64(si.Config.MaxMsgs):
			return &jsProblem{kind: ProblemStorageFull, err: fmt.Errorf("stream %s is full: %d of its MaxMsgs %d (DiscardNew)", si.Config.Name, si.State.Msgs, si.Config.MaxMsgs)}, false
		}
	}
	return nil, false
}

// reconsume consumes again, right after the last message taken: on a new
// consumer (the old one's delivered messages may be lost with its pull
// requests), on the stream provisioned again when it is missing and the
// ingester can provision (else ErrStreamGone). A stream that is not the
// one being read (recreated) is read from its start, after reporting what
// the old one held that the engine had not taken.
func (in *Ingester) reconsume(ctx context.Context, cs *consuming, gone bool) error {
	if gone && in.o.JetStream != nil {
		if err := in.awaitStreamDeleted(ctx); err != nil {
			return err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := in.js.Stream(pctx, in.stream)
	created := false
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if in.o.JetStream == nil {
			return ErrStreamGone
		}
		st, created, err = provisionStream(pctx, in.js, in.o.Stream)
	}
	if err != nil {
		return err
	}
	si := st.CachedInfo()
	in.mu.Lock()
	recreated := !si.Created.Equal(in.created)
	if recreated {
		if in.lastSeen > in.taken {
			in.noteGapLocked(in.taken+1, in.lastSeen, "deleted with the stream before the engine took them")
		}
		in.created, in.taken, in.gapUpTo, in.lastSeen = si.Created, 0, 0, si.State.LastSeq
	}
	from := in.taken + 1
	in.mu.Unlock()
	if err := in.consumeFrom(pctx, cs, st); err != nil {
		return err
	}
	switch {
	case created:
		in.o.Logger.Warn("stream was missing: recreated", "stream", in.stream)
		in.o.Metrics.recovered("stream_recreated")
	case recreated:
		in.o.Logger.Warn("the stream was recreated: reading the new one from its start", "stream", in.stream)
		in.o.Metrics.recovered("stream_recreated")
	case gone:
		in.o.Logger.Warn("consumer was missing: recreated", "stream", in.stream, "consumer", in.cname, "from_stream_seq", from)
		in.o.Metrics.recovered("consumer_recreated")
	default:
		in.o.Logger.Warn("consuming again", "consumer", in.cname, "from_stream_seq", from)
	}
	in.o.Metrics.recovered("consume_restarted")
	return nil
}

// streamGoneGrace is how long a missing stream must stay missing before
// the ingester creates it again. The server forgets a deleted stream's
// name before it removes its files; a stream created under that name in
// between has its directory removed under it and stores nothing, without
// answering its publishers (nats-server 2.15 stream.stop).
const streamGoneGrace = 2 * time.Second

// awaitStreamDeleted returns once the stream exists or has been missing
// for streamGoneGrace (or ctx ended).
func (in *Ingester) awaitStreamDeleted(ctx context.Context) error {
	missing := func() bool {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := in.js.Stream(lctx, in.stream)
		return errors.Is(err, jetstream.ErrStreamNotFound)
	}
	if !missing() {
		return nil
	}
	t := time.NewTimer(streamGoneGrace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	return nil
}

// report records the check's outcome for Ready and the metrics, and logs
// a change of kind (not every poll).
func (in *Ingester) report(p *jsProblem) {
	in.problem.Store(p)
	kind := ""
	if p != nil {
		kind = p.kind
	}
	if kind == in.lastKind {
		return
	}
	in.o.Metrics.jetStreamOK(p == nil)
	if p == nil {
		in.o.Logger.Info("jetstream ok again: ingest resumes", "was", in.lastKind)
	} else {
		in.o.Logger.Error("jetstream problem: ingest impaired", "problem", p.kind, "err", p.err)
		in.o.Metrics.problem(p.kind)
	}
	in.lastKind = kind
}
