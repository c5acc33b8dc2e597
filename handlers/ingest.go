package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// ErrConsumerGone is Run's error when the consumer was deleted and the
// ingester has no JetStream to recreate it with (IngestOptions.JetStream).
var ErrConsumerGone = errors.New("handlers: the JetStream consumer was deleted")

// Ingester moves touchpoints from the JetStream consumer into the log:
// pull, decode and validate, append the valid ones of a batch in one
// Append (one fsync), and ack each message only after that fsync. Invalid
// ones are quarantined, announced on the reject subject and terminated.
//
// Four goroutines overlap: the NATS client delivers messages, the batcher
// decodes them and cuts batches while the appender is busy, the appender
// hands each batch to the store (one Append at a time, so stream order is
// log order), and the acker acks, quarantines and naks after each Append.
// So decoding of the next batch runs while the previous one is being
// fsynced, and acking the previous one while the next is appended.
type Ingester struct {
	store *eventstore.Store
	nc    *nats.Conn
	cons  jetstream.Consumer
	o     IngestOptions

	failures int // store failures in a row; the acker's

	// problem is the JetStream problem found by the last check (nil: none).
	problem  atomic.Pointer[jsProblem]
	ackFloor uint64    // the consumer's ack floor (stream seq) at the last poll; the watcher's
	lastKind string    // the kind of the last problem logged; the watcher's
	repaired time.Time // the last ServerRepair call; the watcher's
}

type jsProblem struct {
	kind string
	err  error
}

// NewIngester returns an Ingester reading cons (see Provision) and
// appending to store; nc publishes the rejection notices.
func NewIngester(store *eventstore.Store, nc *nats.Conn, cons jetstream.Consumer, o IngestOptions) *Ingester {
	o = o.withDefaults()
	in := &Ingester{store: store, nc: nc, cons: cons, o: o}
	o.Metrics.jetStreamOK(true)
	return in
}

// Ready returns nil while ingest works as far as the ingester can tell,
// else the JetStream problem its last check found, as "kind: detail"
// (readiness: see the Problem* kinds).
func (in *Ingester) Ready() error {
	if p := in.problem.Load(); p != nil {
		return fmt.Errorf("%s: %w", p.kind, p.err)
	}
	return nil
}

// ConsumerOK reports whether the last check found no problem (see Ready).
func (in *Ingester) ConsumerOK() bool { return in.problem.Load() == nil }

// item is one message of a batch, decoded.
type item struct {
	msg jetstream.Msg
	ev  *journey.Event
	err *journey.Error // invalid: quarantine
}

type batch struct {
	items []item
	start time.Time
}

// Run ingests until ctx ends, then stops fetching, finishes the batch in
// flight (fsync and acks), naks (without delay) what it holds undecided,
// including what the NATS client had fetched but not yet handed over, so
// that it is redelivered at once to the next run, and returns nil. It
// returns an error when the store is closed or failed (see storeGone), the
// consumer cannot be consumed, or it was deleted and cannot be recreated
// (ErrConsumerGone).
//
// While it runs, a watcher polls the consumer and JetStream every
// LagEvery: a deleted consumer (or stream) is provisioned again and
// consumed anew (see IngestOptions.JetStream); a JetStream problem (see the
// Problem* kinds) is reported by Ready, the metrics and one log line per
// change, and repaired with ServerRepair when set.
func (in *Ingester) Run(ctx context.Context) error {
	bs := in.o.BatchSize
	msgs := make(chan jetstream.Msg, 2*bs)
	stopping := make(chan struct{})
	cs := &consuming{in: in, lost: make(chan error, 1), bs: bs, handler: func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-stopping:
			_ = m.Nak()
		}
	}}
	if err := cs.start(in.cons); err != nil {
		return err
	}

	batches := make(chan batch)
	acks := make(chan appended, 1)
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
	var wg, ackWG sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); in.watch(rctx, cs, setFatal) }()
	go func() {
		defer wg.Done()
		defer close(batches)
		in.batcher(rctx, msgs, batches)
	}()
	// The acker: acks, naks and quarantines after each Append, so that the
	// appender can hand the store its next batch at once.
	ackWG.Add(1)
	go func() {
		defer ackWG.Done()
		for a := range acks {
			if fatal.Load() != nil {
				nakAll(a.b.items)
				continue
			}
			if err := in.finish(context.WithoutCancel(ctx), a); err != nil {
				setFatal(err)
			}
		}
	}()

	// The appender: this goroutine, the only one that appends, so stream
	// order is log order. The batch in flight is finished with a context
	// that ignores cancellation: once taken, it is made durable and acked
	// (or nak'ed) before Run returns.
	bctx := context.WithoutCancel(ctx)
	failures := 0
	for b := range batches {
		if fatal.Load() != nil {
			nakAll(b.items)
			continue
		}
		a := in.append(bctx, b)
		acks <- a
		switch {
		case a.err == nil:
			failures = 0
		case storeGone(a.err):
			setFatal(a.err)
		default:
			// Back off before the next batch so that a failing disk is
			// not hammered; the acker naks the batch with this delay.
			failures++
			select {
			case <-rctx.Done():
			case <-time.After(in.backoff(failures)):
			}
		}
	}
	close(acks)
	ackWG.Wait()
	wg.Wait() // the watcher: no consume starts after this
	// Hand back what the client fetched and has not delivered: Drain
	// delivers its buffer to the callback, which now naks.
	close(stopping)
	cs.drain()
	// The consume callback may have queued more after the batcher left.
	nakQueued(msgs)
	if e := fatal.Load(); e != nil {
		return *e
	}
	return nil
}

// consuming is the Consume of the current consumer, restarted on another
// one by the watcher when the consumer was deleted.
type consuming struct {
	in      *Ingester
	handler jetstream.MessageHandler
	bs      int
	lost    chan error // a terminal consume error: the consume stopped

	mu   sync.Mutex
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext
}

// start consumes cons, draining the consume before it.
func (c *consuming) start(cons jetstream.Consumer) error {
	cc, err := cons.Consume(c.handler,
		jetstream.PullMaxMessages(2*c.bs),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrBadRequest) {
				// Terminal: the client stops this consume after the call.
				select {
				case c.lost <- err:
				default:
				}
				return
			}
			c.in.o.Logger.Debug("consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("handlers: consume: %w", err)
	}
	c.mu.Lock()
	old := c.cc
	c.cons, c.cc = cons, cc
	c.mu.Unlock()
	if old != nil {
		old.Drain() // what it fetched still goes to the handler
	}
	return nil
}

func (c *consuming) consumer() jetstream.Consumer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cons
}

// drain stops the consume, handing what the client has buffered to the
// callback, and waits (at most 5s) until it has.
func (c *consuming) drain() {
	c.mu.Lock()
	cc := c.cc
	c.mu.Unlock()
	if cc == nil {
		return
	}
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(5 * time.Second):
		cc.Stop()
	}
}

// batcher decodes messages and hands batches to the appender: it
// accumulates while the appender is busy and hands over the moment it is
// free, so that the batch grows with the load (group commit).
func (in *Ingester) batcher(ctx context.Context, msgs <-chan jetstream.Msg, out chan<- batch) {
	prefix := in.o.SubjectPrefix + "."
	var cur batch
	var now time.Time
	for {
		var send chan<- batch
		var recv <-chan jetstream.Msg = msgs
		if len(cur.items) > 0 {
			send = out
		}
		if len(cur.items) >= in.o.BatchSize {
			recv = nil
		}
		select {
		case <-ctx.Done():
			nakAll(cur.items)
			nakQueued(msgs)
			return
		case send <- cur:
			cur = batch{}
		case m := <-recv:
			if len(cur.items) == 0 {
				now = in.o.Clock()
				cur.start = now
				cur.items = make([]item, 0, in.o.BatchSize)
			} else if len(cur.items)%64 == 0 {
				now = in.o.Clock()
			}
			cur.items = append(cur.items, in.decode(m, prefix, now))
		}
	}
}

// decode validates one message at the engine's clock now, including that
// its subject token is the event's subject (the customer).
func (in *Ingester) decode(m jetstream.Msg, prefix string, now time.Time) item {
	ev, err := journey.Decode(m.Data(), now)
	if err != nil {
		var je *journey.Error
		if !errors.As(err, &je) {
			je = &journey.Error{Code: journey.CodeInvalidJSON, Rule: err.Error()}
		}
		return item{msg: m, err: je}
	}
	token := strings.TrimPrefix(m.Subject(), prefix)
	if token != ev.Subject {
		return item{msg: m, err: &journey.Error{Code: journey.CodeInvalidField, Field: "subject",
			Rule: fmt.Sprintf("the NATS subject token %q differs from the event subject %q", token, ev.Subject)}}
	}
	return item{msg: m, ev: ev}
}

// appended is a batch after its Append: idx maps res to the batch's items.
type appended struct {
	b   batch
	idx []int
	res []eventstore.Result
	err error // the store failed: nothing in the batch is durable
}

// append appends a batch's valid events in one Append (one fsync).
func (in *Ingester) append(ctx context.Context, b batch) appended {
	reqs := make([]eventstore.Request, 0, len(b.items))
	a := appended{b: b, idx: make([]int, 0, len(b.items))}
	for i := range b.items {
		if b.items[i].err == nil {
			reqs = append(reqs, eventstore.Request{Event: b.items[i].ev, ExpectedVersion: eventstore.AnyVersion})
			a.idx = append(a.idx, i)
		}
	}
	if len(reqs) > 0 {
		t0 := time.Now()
		a.res, a.err = in.store.Append(ctx, reqs)
		in.o.Metrics.observeAppend(time.Since(t0).Seconds())
	}
	return a
}

// finish acks what a's Append made durable, quarantines and terminates the
// invalid messages and the id conflicts, and naks (with a delay) what the
// store failed. It returns an error only when the store is gone (storeGone).
func (in *Ingester) finish(ctx context.Context, a appended) error {
	items := a.b.items
	switch {
	case storeGone(a.err):
		nakAll(items)
		return a.err
	case a.err != nil:
		in.failures++
		in.nakDelayed(items, a.idx, in.failures, a.err)
	default:
		in.failures = 0
		appended, dups := 0, 0
		for j, r := range a.res {
			it := &items[a.idx[j]]
			if r.Err == nil {
				if r.Duplicate {
					dups++
				} else {
					appended++
				}
				_ = it.msg.Ack()
				continue
			}
			var je *journey.Error
			if errors.As(r.Err, &je) && je.Code != journey.CodeInternal {
				it.err = je // id_conflict: quarantined below
				continue
			}
			in.o.Logger.Warn("append refused", "id", it.ev.ID, "err", r.Err)
			_ = it.msg.NakWithDelay(in.o.NakDelay)
			in.o.Metrics.naked(1)
		}
		in.o.Metrics.appended(appended)
		in.o.Metrics.duplicates(dups)
	}
	for i := range items {
		it := &items[i]
		if it.err == nil {
			continue
		}
		err := quarantine(ctx, in.store, in.nc, in.o.RejectSubject, in.o.Metrics, in.o.Logger, in.o.Clock,
			it.msg.Data(), it.err, "nats:"+it.msg.Subject())
		if err != nil {
			if storeGone(err) {
				nakAll(items[i:])
				return err
			}
			in.o.Logger.Error("quarantine failed; will retry", "subject", it.msg.Subject(), "err", err)
			_ = it.msg.NakWithDelay(in.o.NakDelay)
			in.o.Metrics.naked(1)
			continue
		}
		_ = it.msg.Term()
	}
	in.o.Metrics.observeBatch(len(items), time.Since(a.b.start).Seconds())
	return nil
}

// nakDelayed naks the appended part of a batch after a store failure, with
// a delay growing with the failures in a row.
func (in *Ingester) nakDelayed(items []item, idx []int, failures int, err error) {
	d := in.backoff(failures)
	in.o.Logger.Error("append failed; batch nak'ed for redelivery", "events", len(idx), "delay", d, "err", err)
	for _, i := range idx {
		_ = items[i].msg.NakWithDelay(d)
	}
	in.o.Metrics.naked(len(idx))
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
// restart of the engine does). Run then stops with the error, after
// nak'ing what it holds, instead of nak'ing batches forever.
func storeGone(err error) bool {
	return errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrFailed)
}

// nakQueued hands back at once every message waiting in msgs.
func nakQueued(msgs <-chan jetstream.Msg) {
	for {
		select {
		case m := <-msgs:
			_ = m.Nak()
		default:
			return
		}
	}
}

func nakAll(items []item) {
	for i := range items {
		_ = items[i].msg.Nak()
	}
}

// watch polls the consumer's info for the lag gauges every LagEvery,
// recreates the consumer when it is gone (or exits Run through fatal), and
// checks JetStream's state for Ready.
func (in *Ingester) watch(ctx context.Context, cs *consuming, fatal func(error)) {
	t := time.NewTicker(in.o.LagEvery)
	defer t.Stop()
	var lost error // the consume stopped on a terminal error
	for {
		if lost != nil {
			in.o.Logger.Warn("consume stopped by the server", "err", lost)
		}
		p, gone := in.check(ctx, cs)
		if ctx.Err() != nil {
			return
		}
		// Consume again after the consumer went, the consume stopped, or
		// JetStream came back (its pull requests are gone with it).
		back := p == nil && in.lastKind != "" && in.lastKind != ProblemStorageFull
		if gone || lost != nil || back {
			if err := in.reconsume(ctx, cs, gone); err != nil {
				if errors.Is(err, ErrConsumerGone) {
					fatal(err)
					return
				}
				if p == nil {
					p = &jsProblem{kind: ProblemConsumer, err: err}
				}
			} else {
				lost = nil
				if gone {
					p, _ = in.check(ctx, cs)
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
				p, _ = in.check(ctx, cs)
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

// check reads the consumer's info (lag gauges, ack floor) and JetStream's
// state. gone: the consumer or its stream does not exist.
func (in *Ingester) check(ctx context.Context, cs *consuming) (p *jsProblem, gone bool) {
	ictx, cancel := context.WithTimeout(ctx, min(max(2*in.o.LagEvery, time.Second), 5*time.Second))
	defer cancel()
	info, err := cs.consumer().Info(ictx)
	switch {
	case err == nil:
		in.ackFloor = info.AckFloor.Stream
		if m := in.o.Metrics; m != nil {
			m.Pending.Set(float64(info.NumPending))
			m.AckPending.Set(float64(info.NumAckPending))
		}
	case errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound):
		gone = true
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		p = &jsProblem{kind: ProblemUnavailable, err: err}
	default:
		p = &jsProblem{kind: ProblemConsumer, err: fmt.Errorf("consumer info: %w", err)}
		if in.o.JetStream != nil {
			if _, aerr := in.o.JetStream.AccountInfo(ictx); aerr != nil {
				p = &jsProblem{kind: ProblemUnavailable, err: fmt.Errorf("JetStream does not answer: consumer info: %v; account info: %w", err, aerr)}
			}
		}
	}
	if in.o.ServerCheck != nil {
		if kind, err := in.o.ServerCheck(); err != nil {
			return &jsProblem{kind: kind, err: err}, gone
		}
	}
	if p != nil || in.o.JetStream == nil {
		return p, gone
	}
	ai, err := in.o.JetStream.AccountInfo(ictx)
	if err != nil {
		return &jsProblem{kind: ProblemUnavailable, err: fmt.Errorf("account info: %w", err)}, gone
	}
	if max := ai.Limits.MaxStore; max > 0 && ai.Store+journey.MaxEventBytes > uint64(max) {
		return &jsProblem{kind: ProblemStorageFull, err: fmt.Errorf("the account's JetStream storage is full (%d of its %d bytes used)", ai.Store, max)}, gone
	}
	if gone {
		return nil, gone
	}
	st, err := in.o.JetStream.Stream(ictx, in.o.Stream.Stream)
	if err != nil {
		return nil, errors.Is(err, jetstream.ErrStreamNotFound)
	}
	if si := st.CachedInfo(); si.Config.Discard == jetstream.DiscardNew {
		switch {
		case si.Config.MaxBytes > 0 && si.State.Bytes+journey.MaxEventBytes > uint64(si.Config.MaxBytes):
			return &jsProblem{kind: ProblemStorageFull, err: fmt.Errorf("stream %s is full: %d of its MaxBytes %d (DiscardNew)", si.Config.Name, si.State.Bytes, si.Config.MaxBytes)}, false
		case si.Config.MaxMsgs > 0 && si.State.Msgs >= uint64(si.Config.MaxMsgs):
			return &jsProblem{kind: ProblemStorageFull, err: fmt.Errorf("stream %s is full: %d of its MaxMsgs %d (DiscardNew)", si.Config.Name, si.State.Msgs, si.Config.MaxMsgs)}, false
		}
	}
	return nil, false
}

// reconsume consumes again after the consume stopped: on the consumer
// provisioned again (recreated when missing) when the ingester can
// provision, else, when it is gone, ErrConsumerGone.
func (in *Ingester) reconsume(ctx context.Context, cs *consuming, gone bool) error {
	if in.o.JetStream == nil {
		if gone {
			return ErrConsumerGone
		}
		return cs.start(cs.consumer())
	}
	if gone {
		if err := in.awaitStreamDeleted(ctx); err != nil {
			return err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, created, err := provision(pctx, in.o.JetStream, in.o.Stream, in.ackFloor+1)
	if err != nil {
		return err
	}
	from := in.ackFloor + 1
	if slices.Contains(created, "stream") {
		from = 1
	}
	for _, what := range created {
		in.o.Logger.Warn(what+" was missing: recreated", "stream", in.o.Stream.Stream, "consumer", in.o.Stream.Consumer,
			"from_stream_seq", from)
		in.o.Metrics.recovered(what + "_recreated")
	}
	if err := cs.start(cons); err != nil {
		return err
	}
	in.o.Metrics.recovered("consume_restarted")
	if len(created) == 0 {
		in.o.Logger.Warn("consuming again", "consumer", in.o.Stream.Consumer)
	}
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
		_, err := in.o.JetStream.Stream(lctx, in.o.Stream.Stream)
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
