package handlers

import (
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
	Logger        *slog.Logger     // nil: slog.Default()
	Metrics       *Metrics         // nil: none
	// NakDelay is the first redelivery delay after a store failure; it
	// doubles with each failure in a row up to MaxNakDelay. 0: 500ms / 10s.
	NakDelay, MaxNakDelay time.Duration
	// LagEvery is how often the consumer's info is polled for the lag
	// gauges and readiness; 0: 5s.
	LagEvery time.Duration
}

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

	consumerOK atomic.Bool
	failures   int // store failures in a row; the acker's
}

// NewIngester returns an Ingester reading cons (see Provision) and
// appending to store; nc publishes the rejection notices.
func NewIngester(store *eventstore.Store, nc *nats.Conn, cons jetstream.Consumer, o IngestOptions) *Ingester {
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = DefaultSubjectPrefix
	}
	if o.RejectSubject == "" {
		o.RejectSubject = DefaultRejectSubject
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NakDelay <= 0 {
		o.NakDelay = 500 * time.Millisecond
	}
	if o.MaxNakDelay <= 0 {
		o.MaxNakDelay = 10 * time.Second
	}
	if o.LagEvery <= 0 {
		o.LagEvery = 5 * time.Second
	}
	in := &Ingester{store: store, nc: nc, cons: cons, o: o}
	in.consumerOK.Store(true)
	return in
}

// ConsumerOK reports whether the last poll of the consumer's info
// succeeded (readiness: the consumer exists and the server answers).
func (in *Ingester) ConsumerOK() bool { return in.consumerOK.Load() }

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
// flight (fsync and acks), naks what it holds undecided so that it is
// redelivered at once to the next run, and returns nil. It returns an
// error when the store is closed or failed (see storeGone) or the
// consumer cannot be consumed.
func (in *Ingester) Run(ctx context.Context) error {
	bs := in.o.BatchSize
	msgs := make(chan jetstream.Msg, 2*bs)
	stopping := make(chan struct{})
	cc, err := in.cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-stopping:
			_ = m.Nak()
		}
	},
		jetstream.PullMaxMessages(2*bs),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			in.o.Logger.Warn("consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("handlers: consume: %w", err)
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
			cc.Stop()
			rcancel()
		}
	}
	var wg, ackWG sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); in.pollLag(rctx) }()
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
	close(stopping)
	cc.Stop()
	wg.Wait()
	// The consume callback may have queued more after the batcher left.
	for {
		select {
		case m := <-msgs:
			_ = m.Nak()
			continue
		default:
		}
		break
	}
	if e := fatal.Load(); e != nil {
		return *e
	}
	return nil
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
			for {
				select {
				case m := <-msgs:
					_ = m.Nak()
					continue
				default:
				}
				return
			}
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
		err := quarantine(ctx, in.store, in.nc, in.o.RejectSubject, in.o.Metrics, in.o.Clock,
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

func nakAll(items []item) {
	for i := range items {
		_ = items[i].msg.Nak()
	}
}

// pollLag polls the consumer's info for the lag gauges and readiness.
func (in *Ingester) pollLag(ctx context.Context) {
	t := time.NewTicker(in.o.LagEvery)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := in.cons.Info(ictx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if in.consumerOK.Swap(false) {
				in.o.Logger.Warn("consumer info", "err", err)
			}
		} else {
			in.consumerOK.Store(true)
			if m := in.o.Metrics; m != nil {
				m.Pending.Set(float64(info.NumPending))
				m.AckPending.Set(float64(info.NumAckPending))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
