package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
)

// ExpectedVersionHeader is the NATS header of a synchronous append that
// asks for optimistic concurrency: the customer's current version the
// publisher expects (0: no events yet).
const ExpectedVersionHeader = "Journey-Expected-Version"

// AppendOptions configure an Appender. Zero fields take defaults.
type AppendOptions struct {
	Clock         func() time.Time // the engine's clock for validation; nil: time.Now
	Logger        *slog.Logger     // nil: discard
	Metrics       *Metrics         // nil: none
	RejectSubject string           // where rejection notices go; "": DefaultRejectSubject
	// Conn publishes rejection notices; nil: no notices.
	Conn *nats.Conn
	// MaxInFlight bounds the requests served concurrently (their appends
	// share group commits); 0: DefaultMaxInFlight.
	MaxInFlight int
	// Auth, when set, makes Serve answer only requests with a header
	// Authorization: Bearer <token> of a writer (or admin) token, the
	// refusal being an ErrorReply (code unauthorized or forbidden) with
	// the micro error headers (Nats-Service-Error-Code 401, 403).
	// Nil: no access control.
	Auth *auth.Authorizer
}

// DefaultMaxInFlight is AppendOptions.MaxInFlight when it is 0.
const DefaultMaxInFlight = 256

// withDefaults is o with every zero field given its default.
func (o AppendOptions) withDefaults() AppendOptions {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.Logger = cmp.Or(o.Logger, discardLogger)
	o.RejectSubject = cmp.Or(o.RejectSubject, DefaultRejectSubject)
	o.MaxInFlight = positiveOr(o.MaxInFlight, DefaultMaxInFlight)
	return o
}

// Appender is the synchronous append: one event in, an answer out only
// after the event is durable (fsynced) in the log. Invalid events are
// quarantined with their reason and announced, like the stream's. It is
// used by the NATS request/reply service and by HTTP POST /v1/events.
type Appender struct {
	store *eventstore.Store
	o     AppendOptions
}

// NewAppender returns an Appender over store.
func NewAppender(store *eventstore.Store, o AppendOptions) *Appender {
	return &Appender{store: store, o: o.withDefaults()}
}

// AppendReply is the answer to a successful synchronous append.
type AppendReply struct {
	Seq       uint64 `json:"seq"`
	Version   uint64 `json:"version"`
	Duplicate bool   `json:"duplicate"`
}

// ErrorReply is the answer to a refused synchronous append.
type ErrorReply struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody describes a refusal with the stable code of journey.Error.
type ErrorBody struct {
	Code    journey.Code `json:"code"`
	Field   string       `json:"field,omitempty"`
	Message string       `json:"message"`
}

// Rejection is the notice published on journey.rejected for every event
// the engine refuses as invalid. Customer is "" for an event of an erased
// customer (code erased): the notice names no one forgotten.
type Rejection struct {
	ID       string       `json:"id"`
	Customer string       `json:"customer"`
	Code     journey.Code `json:"code"`
	Field    string       `json:"field,omitempty"`
	Message  string       `json:"message"`
}

// errorBody turns any error into the reply body: a *journey.Error keeps its
// code, anything else is internal.
// What a journey.Error echoes is bounded (journey.Error.Bounded).
func errorBody(err error) ErrorBody {
	var je *journey.Error
	if errors.As(err, &je) {
		je = je.Bounded()
		return ErrorBody{Code: je.Code, Field: je.Field, Message: je.Rule}
	}
	return ErrorBody{Code: journey.CodeInternal, Message: publicMessage(err.Error())}
}

// ParseExpectedVersion parses a Journey-Expected-Version header or an
// If-Match value ("3" or the ETag form "\"3\""); "" means AnyVersion.
func ParseExpectedVersion(field, v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return eventstore.AnyVersion, nil
	}
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &journey.Error{Code: journey.CodeInvalidField, Field: field,
			Rule: journey.Quote(v) + " is not a customer version (an integer >= 0)"}
	}
	return n, nil
}

// Append decodes, validates and appends one event, returning after the
// fsync. A refusal is a *journey.Error: invalid events, id conflicts and
// events of an erased customer (journey.CodeErased, kept without their
// bytes) are quarantined (origin names where it came from: "http",
// "request") and announced; a version conflict writes nothing at all. Any other error is
// the store's failure: nothing is acknowledged, the caller may retry.
func (a *Appender) Append(ctx context.Context, raw []byte, expected int64, origin string) (eventstore.Result, error) {
	ev, err := journey.Decode(raw, a.o.Clock())
	if err != nil {
		var je *journey.Error
		if !errors.As(err, &je) {
			return eventstore.Result{}, err
		}
		if qerr := a.reject(ctx, raw, je, origin); qerr != nil {
			return eventstore.Result{}, qerr
		}
		return eventstore.Result{}, je
	}
	if p, ok := auth.FromContext(ctx); ok {
		if rule := p.SourceRule(ev.Source); rule != "" {
			// Refused, not invalid: nothing is written, not even to the quarantine.
			return eventstore.Result{}, &journey.Error{Code: codeForbidden, Field: "source",
				Rule: journey.Quote(ev.Source) + ": " + rule}
		}
	}
	t0 := time.Now()
	res, err := a.store.Append(ctx, []eventstore.Request{{Event: ev, ExpectedVersion: expected}})
	a.o.Metrics.observeAppend(time.Since(t0).Seconds())
	if err != nil {
		return eventstore.Result{}, err
	}
	r := res[0]
	if r.Err != nil {
		var je *journey.Error
		if errors.As(r.Err, &je) {
			switch je.Code {
			case journey.CodeIDConflict, journey.CodeErased:
				// Kept in quarantine; an erased customer's without its
				// bytes (quarantine).
				if qerr := a.reject(ctx, raw, je, origin); qerr != nil {
					return eventstore.Result{}, qerr
				}
			default:
				a.o.Metrics.rejected(je.Code)
			}
			return r, je
		}
		return r, r.Err
	}
	if r.Duplicate {
		a.o.Metrics.duplicates(1)
	} else {
		a.o.Metrics.appended(1)
	}
	return r, nil
}

// reject quarantines raw with its reason and publishes the notice.
func (a *Appender) reject(ctx context.Context, raw []byte, je *journey.Error, origin string) error {
	return quarantine(ctx, a.store, a.o.Conn, a.o.RejectSubject, a.o.Metrics, a.o.Logger, a.o.Clock, raw, je, origin)
}

// quarantine keeps raw with its reason durably, then announces it on
// rejectSubject (when nc is not nil). The error is the store's. An event
// of an erased customer (journey.CodeErased) is kept without its bytes:
// its entry holds the code, field, reason and origin, none of which names
// the customer (nor may the caller's origin: see Ingester.quarantine).
func quarantine(ctx context.Context, store *eventstore.Store, nc *nats.Conn, rejectSubject string, m *Metrics, log *slog.Logger,
	clock func() time.Time, raw []byte, je *journey.Error, origin string) error {
	je = je.Bounded()
	kept := raw
	if je.Code == journey.CodeErased {
		kept = nil // the store drops them too (eventstore.Store.Quarantine)
	}
	if _, err := store.Quarantine(ctx, eventstore.QuarantineEntry{
		ReceivedAt: clock(),
		Code:       je.Code,
		Field:      je.Field,
		Reason:     je.Error(),
		Origin:     origin,
		Raw:        kept,
	}); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	m.rejected(je.Code)
	if nc != nil {
		id, customer, _ := journey.Route(raw)
		if je.Code == journey.CodeErased {
			customer = "" // the notice names no one forgotten
		}
		b, _ := json.Marshal(Rejection{ID: id, Customer: customer, Code: je.Code, Field: je.Field, Message: je.Rule})
		if err := nc.Publish(rejectSubject, b); err != nil {
			// The quarantine holds it; a lost notice is not a lost event.
			log.Warn("rejection notice not published", "id", id, "err", err)
		}
	}
	return nil
}

// Service is the NATS request/reply face of an Appender.
type Service struct {
	sub *nats.Subscription
	wg  sync.WaitGroup
}

// Serve answers synchronous appends on subject (queue group queue, so that
// several engines can share it; "" for the defaults) until Stop. Each
// request's data is one event; the optional Journey-Expected-Version header
// enables the optimistic check. The reply is AppendReply or ErrorReply JSON,
// sent only after the fsync. Requests are served concurrently so that their
// appends share group commits.
func (a *Appender) Serve(nc *nats.Conn, subject, queue string) (*Service, error) {
	if subject == "" {
		subject = DefaultAppendSubject
	}
	if queue == "" {
		queue = DefaultAppendQueue
	}
	s := &Service{}
	sem := make(chan struct{}, a.o.MaxInFlight)
	sub, err := nc.QueueSubscribe(subject, queue, func(m *nats.Msg) {
		if m.Reply == "" {
			a.o.Logger.Warn("append request without a reply subject, ignored", "subject", m.Subject)
			return
		}
		sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-sem; s.wg.Done() }()
			a.serveOne(m)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("handlers: subscribe %s: %w", subject, err)
	}
	sub.SetPendingLimits(-1, 256<<20)
	s.sub = sub
	flushSubscriptions(nc, a.o.Logger, subject)
	return s, nil
}

func (a *Appender) serveOne(m *nats.Msg) {
	// The reply must follow a durable append even while the engine stops:
	// a request taken is finished.
	ctx := context.Background()
	if a.o.Auth != nil {
		p, ref := a.o.Auth.Check(m.Subject, authorizationOf(m.Header), auth.Writer)
		if ref != nil {
			a.o.Auth.CountNATS(m.Subject, ref)
			reply := nats.NewMsg(m.Reply)
			reply.Header.Set("Nats-Service-Error", headerText(ref.Message))
			reply.Header.Set("Nats-Service-Error-Code", strconv.Itoa(ref.Status))
			reply.Data = ref.Body()
			if err := m.RespondMsg(reply); err != nil {
				a.o.Logger.Warn("append reply not sent", "err", err)
			}
			return
		}
		ctx = auth.NewContext(ctx, p)
	}
	var body any
	expected, err := expectedVersionOf(m.Header)
	if err == nil {
		var r eventstore.Result
		r, err = a.Append(ctx, m.Data, expected, "request")
		if err == nil {
			body = AppendReply{Seq: r.Seq, Version: r.Version, Duplicate: r.Duplicate}
		}
	}
	if err != nil {
		if !isRefusal(err) {
			a.o.Logger.Error("synchronous append failed", "err", err)
		}
		body = ErrorReply{Error: errorBody(err)}
	}
	b, _ := json.Marshal(body)
	if err := m.Respond(b); err != nil {
		a.o.Logger.Warn("append reply not sent", "err", err)
	}
}

// expectedVersionOf reads the Journey-* headers of a synchronous append.
// NATS header names are case-sensitive map keys; here they are matched
// without regard to case (journey-expected-version is the same header),
// and a Journey-* header the engine does not know is an error, so that a
// misspelt header is never silently ignored.
func expectedVersionOf(h nats.Header) (int64, error) {
	field := "header:" + ExpectedVersionHeader
	var (
		value string
		found bool
	)
	for name, values := range h {
		if len(name) < len("Journey-") || !strings.EqualFold(name[:len("Journey-")], "Journey-") {
			continue
		}
		if !strings.EqualFold(name, ExpectedVersionHeader) {
			return 0, &journey.Error{Code: journey.CodeInvalidField, Field: "header:" + name,
				Rule: "is not a header of the synchronous append (the only Journey-* header is " + ExpectedVersionHeader + ")"}
		}
		for _, v := range values {
			if found && strings.TrimSpace(v) != strings.TrimSpace(value) {
				return 0, &journey.Error{Code: journey.CodeInvalidField, Field: field,
					Rule: "is given more than once with different values"}
			}
			value, found = v, true
		}
	}
	return ParseExpectedVersion(field, value)
}

// Stop stops taking requests and waits for those in flight to be answered.
func (s *Service) Stop() error {
	err := s.sub.Drain()
	for deadline := time.Now().Add(10 * time.Second); s.sub.IsValid() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	s.wg.Wait()
	return err
}

// isRefusal reports whether err is a journey.Error other than internal.
func isRefusal(err error) bool {
	var je *journey.Error
	return errors.As(err, &je) && je.Code != journey.CodeInternal
}

// flushSubscriptions waits until the server has the subscriptions just
// made on nc, so that a request sent once Serve returns finds them (a
// subscription travels to the server asynchronously: without this, a
// client on another connection can get "no responders"). While nc is
// reconnecting the subscriptions are sent on reconnection; that is only
// logged.
func flushSubscriptions(nc *nats.Conn, log *slog.Logger, what string) {
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		log.Warn("subscription not confirmed by the server yet", "subject", what, "err", err)
	}
}
