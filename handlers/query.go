package handlers

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// Bounds of a page of a customer's events, the same over HTTP and NATS.
const (
	// DefaultEventsLimit is the page's events when limit is absent or 0.
	DefaultEventsLimit = 1000
	// MaxEventsLimit is the largest limit.
	MaxEventsLimit = 10000
	// MaxPageBytes bounds a page in bytes as well: a page stops before
	// the event that would take its entries past it (it always holds one
	// event at least), and next_after says where to go on. A NATS reply is
	// also bounded by the server's max_payload.
	MaxPageBytes = 4 << 20
)

// readChunk is how many records a page reads from the store at a time:
// at most 16 × journey.MaxEventBytes (1 MiB) of events in memory per
// page being answered.
const readChunk = 16

// EventsPage is the answer of GET /v1/customers/{id}/events: the customer's
// stored events in log order (version 1, 2, …), each with the engine's
// record and the event exactly as received.
type EventsPage struct {
	Customer string                   `json:"customer"`
	Events   []eventstore.StoredEvent `json:"events"`
	// NextAfter is the after= of the next page; 0 when this is the last.
	NextAfter uint64 `json:"next_after,omitempty"`
}

// SegmentsAnswer is the answer of GET /v1/segments?by=: one segmentation's
// counts (without by: every segmentation, projections.SegmentCounts).
type SegmentsAnswer struct {
	By     string         `json:"by"`
	AsOf   time.Time      `json:"as_of,omitzero"`
	Counts map[string]int `json:"counts"`
}

// errNotServed: the engine runs without projections (or without the store).
var errNotServed = errors.New("handlers: projections are not served here")

// codeNotFound (not_found) is the error code of something that does not
// exist: a customer, an endpoint.

// notFoundError is a read of something that does not exist.
type notFoundError struct{ what string }

func (e *notFoundError) Error() string { return e.what + " has no events (at that instant)" }

// customerNotFound is the not-found error of customer id, worded as the
// CLI says it of a data dir.
func customerNotFound(id string) error {
	return &notFoundError{what: "customer " + journey.Quote(id)}
}

// Queries are the reads the engine serves over HTTP and NATS: the
// customer's answer, their stored events and the segment counts. Views nil
// answers the projection reads with an error (the log reads still work).
type Queries struct {
	Store *eventstore.Store
	Views *projections.Views
	// PopulationAsOf bounds the population as-of reads (segments with an
	// as_of) running at once; beyond it they are refused as busy (HTTP
	// 429). Nil: a limiter of DefaultMaxPopulationAsOf shared by every
	// Queries and HTTP handler of the same Views.
	PopulationAsOf *Limiter
	// Logger receives the NATS service's errors; nil: discard.
	Logger *slog.Logger
	// Auth, when set, makes the NATS query service answer only requests
	// with a header Authorization: Bearer <token> whose role allows the
	// endpoint (micro.go); nil: no access control.
	Auth *auth.Authorizer
}

// discardLogger is the logger of options that name none: library code
// logs only where it was told to.
var discardLogger = slog.New(slog.DiscardHandler)

// Customer is the customer's answer at asOf (zero: now).
func (q Queries) Customer(ctx context.Context, id string, asOf time.Time) (*customer.Answer, error) {
	if q.Views == nil {
		return nil, errNotServed
	}
	return q.Views.Customer(ctx, id, asOf)
}

// Events is a page of the customer's stored events after version after
// (limit 0: DefaultEventsLimit; at most MaxEventsLimit), bounded by
// MaxPageBytes as the HTTP and NATS pages are; with a non-zero asOf, only
// the events with time ≤ asOf.
func (q Queries) Events(ctx context.Context, id string, after uint64, limit int, asOf time.Time) (EventsPage, error) {
	if err := checkPage(after, limit); err != nil {
		return EventsPage{}, err
	}
	if limit == 0 {
		limit = DefaultEventsLimit
	}
	page := EventsPage{Customer: id, Events: []eventstore.StoredEvent{}}
	next, err := q.eachPageEvent(ctx, id, after, limit, MaxPageBytes, asOf, func(rec *eventstore.Record, _ []byte) error {
		page.Events = append(page.Events, rec.Stored())
		return nil
	})
	if err != nil {
		return EventsPage{}, err
	}
	page.NextAfter = next
	return page, nil
}

// entryTooLargeError: one event's entry does not fit a page's byte budget
// (a NATS server with a max_payload smaller than the event).
type entryTooLargeError struct {
	version     uint64
	size, limit int
}

func (e *entryTooLargeError) Error() string {
	return fmt.Sprintf("the event at version %d takes %d bytes in a reply, more than the %d a reply may hold here "+
		"(the NATS server's max_payload); read it over HTTP", e.version, e.size, e.limit)
}

// eachPageEvent reads the page of id's events after after, at most limit
// of them and at most budget bytes of encoded entries (at least one
// entry), from the store readChunk records at a time, and calls fn with
// each record and its entry (the JSON of eventstore.StoredEvent; only valid during
// the call) in version order. With a non-zero asOf only the events with
// time ≤ asOf are in the page (the others are passed over). It returns
// the next page's after (0: this is the last page). A customer without
// events (≤ asOf) is a not-found error.
func (q Queries) eachPageEvent(ctx context.Context, id string, after uint64, limit, budget int, asOf time.Time,
	fn func(rec *eventstore.Record, entry []byte) error) (next uint64, err error) {
	if q.Store == nil {
		return 0, errNotServed
	}
	if !journey.ValidCustomerID(id) {
		return 0, customerNotFound(id)
	}
	var (
		entry []byte
		n     int
		total int
	)
	last := after // the version of the last event in the page
	pos := after  // the version read up to
	for {
		want := min(readChunk, limit-n+1) // one more than needed: is there a next page?
		recs, err := q.Store.CustomerEvents(ctx, id, pos, want)
		if err != nil {
			return 0, err
		}
		for i := range recs {
			rec := &recs[i]
			pos = rec.Version
			if !asOf.IsZero() && rec.EventTime.After(asOf) {
				continue
			}
			if n == limit {
				return last, nil
			}
			entry = appendEntry(entry[:0], rec)
			if total+len(entry)+1 > budget {
				if n == 0 {
					return 0, &entryTooLargeError{version: rec.Version, size: len(entry), limit: budget}
				}
				return last, nil
			}
			if err := fn(rec, entry); err != nil {
				return 0, err
			}
			total += len(entry) + 1
			n++
			last = rec.Version
		}
		if len(recs) < want {
			break
		}
	}
	if n == 0 && after == 0 {
		return 0, customerNotFound(id)
	}
	return 0, nil
}

// appendEntry appends the JSON of rec as an eventstore.StoredEvent, with the event's
// bytes exactly as stored.
func appendEntry(b []byte, rec *eventstore.Record) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, rec.Seq, 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, rec.Version, 10)
	b = append(b, `,"recorded_at":`...)
	if ts, err := rec.RecordedAt.MarshalJSON(); err == nil {
		b = append(b, ts...)
	} else {
		b = append(b, `null`...)
	}
	b = append(b, `,"hash":"`...)
	b = hex.AppendEncode(b, rec.Hash[:])
	b = append(b, `","event":`...)
	if rec.Erased && len(rec.Raw) == 0 {
		// A forgotten customer's record: in the chain, unreadable.
		b = append(b, rec.Stored().Event...)
	} else {
		b = append(b, rec.Raw...)
	}
	return append(b, '}')
}

// writeEventsPage writes the page of id's events as EventsPage JSON to the
// writer start returns, which it calls once, after the first read
// succeeded: an unknown customer or a failed first read is returned
// without anything written. An error after start is a broken page (the
// caller aborts the reply).
func (q Queries) writeEventsPage(ctx context.Context, id string, after uint64, limit, budget int, asOf time.Time,
	start func() io.Writer) (started bool, err error) {
	var w io.Writer
	begin := func() error {
		w = start()
		started = true
		cust, _ := json.Marshal(id)
		_, err := fmt.Fprintf(w, `{"customer":%s,"events":[`, cust)
		return err
	}
	first := true
	next, err := q.eachPageEvent(ctx, id, after, limit, budget, asOf, func(_ *eventstore.Record, entry []byte) error {
		if first {
			first = false
			if err := begin(); err != nil {
				return err
			}
		} else if _, err := w.Write([]byte{','}); err != nil {
			return err
		}
		_, err := w.Write(entry)
		return err
	})
	if err != nil {
		return started, err
	}
	if !started {
		if err := begin(); err != nil {
			return started, err
		}
	}
	tail := "]}\n"
	if next > 0 {
		tail = `],"next_after":` + strconv.FormatUint(next, 10) + "}\n"
	}
	_, err = io.WriteString(w, tail)
	return started, err
}

// Segments counts customers by one segmentation at asOf (zero: now); with
// by empty, every segmentation (projections.SegmentCounts). With an asOf
// it is a population as-of read: at most PopulationAsOf run at once,
// beyond it the answer is a busy error.
func (q Queries) Segments(ctx context.Context, by string, asOf time.Time) (any, error) {
	if q.Views == nil {
		return nil, errNotServed
	}
	if !asOf.IsZero() {
		release, err := q.limiter().acquire()
		if err != nil {
			return nil, err
		}
		defer release()
	}
	if by == "" {
		return q.Views.Segmentation(ctx, asOf)
	}
	counts, err := q.Views.Segments(ctx, by, asOf)
	if err != nil {
		return nil, err
	}
	return SegmentsAnswer{By: by, AsOf: asOf, Counts: counts}, nil
}

// DefaultMaxPopulationAsOf is how many population as-of reads run at once
// when Queries.PopulationAsOf (HTTPOptions.PopulationAsOf) is nil.
const DefaultMaxPopulationAsOf = 2

// Limiter bounds how many population as-of reads run at once: a read
// beyond it is refused at once as busy (HTTP 429 with Retry-After, NATS
// error code 429), not queued. Share one between the HTTP and NATS
// surfaces.
type Limiter struct {
	sem chan struct{}
}

// NewLimiter returns a Limiter of n reads at once (n ≤ 0:
// DefaultMaxPopulationAsOf).
func NewLimiter(n int) *Limiter {
	if n <= 0 {
		n = DefaultMaxPopulationAsOf
	}
	return &Limiter{sem: make(chan struct{}, n)}
}

// busyError is a read refused because the limiter is full.
type busyError struct{ limit int }

func (e *busyError) Error() string {
	return fmt.Sprintf("%d population as-of answers are running, the most at once; retry in %ds", e.limit, retryAfterSeconds)
}

// retryAfterSeconds is the Retry-After of a busy answer.
const retryAfterSeconds = 1

// codeBusy is the error code of a read refused as busy.
const codeBusy journey.Code = "busy"

func (l *Limiter) acquire() (release func(), err error) {
	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem }, nil
	default:
		return nil, &busyError{limit: cap(l.sem)}
	}
}

// defaultLimiters are the limiters of the Views served without one
// (weakly keyed: a closed Views is not kept).
var defaultLimiters sync.Map // weak.Pointer[projections.Views] → *Limiter

func (q Queries) limiter() *Limiter {
	if q.PopulationAsOf != nil {
		return q.PopulationAsOf
	}
	l, _ := defaultLimiters.LoadOrStore(weak.Make(q.Views), NewLimiter(0))
	return l.(*Limiter)
}

// readStatus maps a read error to its HTTP status and body. A message
// from below (the store, the views) names no Go package and no absolute
// path (publicMessage); an input error keeps its rule as it is.
func readStatus(err error) (int, ErrorBody) {
	var (
		je   *journey.Error
		nf   *notFoundError
		busy *busyError
		big  *entryTooLargeError
	)
	msg := func() string { return publicMessage(err.Error()) }
	switch {
	case errors.As(err, &je):
		return statusOf(je.Code), errorBody(je)
	case errors.As(err, &nf):
		return http.StatusNotFound, ErrorBody{Code: codeNotFound, Message: nf.Error()}
	case isNotFound(err):
		return http.StatusNotFound, ErrorBody{Code: codeNotFound, Message: "customer not found"}
	case errors.As(err, &busy):
		return http.StatusTooManyRequests, ErrorBody{Code: codeBusy, Message: busy.Error()}
	case errors.As(err, &big):
		return http.StatusRequestEntityTooLarge, ErrorBody{Code: journey.CodeTooLarge, Message: big.Error()}
	case errors.Is(err, projections.ErrUnknownSegmentation):
		return http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidField, Field: "by", Message: msg()}
	case errors.Is(err, errNotServed):
		return http.StatusServiceUnavailable, ErrorBody{Code: journey.CodeInternal, Message: "projections are not served here"}
	default:
		return http.StatusInternalServerError, ErrorBody{Code: journey.CodeInternal, Message: msg()}
	}
}

func (h *httpHandler) readError(w http.ResponseWriter, err error) {
	status, body := readStatus(err)
	switch status {
	case http.StatusInternalServerError:
		h.o.Logger.Error("http read failed", "err", err)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	writeError(w, status, body)
}

func (h *httpHandler) queries() Queries {
	return Queries{Store: h.o.Store, Views: h.o.Views, PopulationAsOf: h.o.PopulationAsOf}
}

func (h *httpHandler) customer(w http.ResponseWriter, r *http.Request) {
	asOf, err := parseAsOf(r.URL.Query().Get("as_of"))
	if err != nil {
		h.readError(w, err)
		return
	}
	c, err := h.queries().Customer(r.Context(), r.PathValue("id"), asOf)
	if err != nil {
		if errors.Is(err, projections.ErrNotFound) {
			if h.erasedAnswer(w, r, r.PathValue("id")) {
				return
			}
			err = customerNotFound(r.PathValue("id"))
		}
		h.readError(w, err)
		return
	}
	body, err := json.Marshal(c)
	if err != nil {
		h.readError(w, err)
		return
	}
	body = append(body, '\n')
	etag := answerETag(body)
	w.Header().Set("ETag", etag)
	if etagMatches(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// answerETag is the strong ETag of an answer: a digest of its bytes, so
// it changes exactly when the answer does (a new event folded in, a
// population that moved the RFM scores, another as_of). An answer "now"
// is derived at the read's instant (its as_of and recency move with the
// clock), so its ETag differs from one second to the next; ask with an
// as_of for an answer that stays the same until an event at or before it
// arrives.
func answerETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// etagMatches is the weak comparison of If-None-Match (RFC 9110 13.1.2):
// "*", or one of the listed tags equal to etag, W/ ignored.
func etagMatches(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == etag {
				return true
			}
		}
	}
	return false
}

// customerEvents streams the page: at most readChunk records and one
// buffer of the reply are in memory, whatever the page's size.
func (h *httpHandler) customerEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, limit, err := parsePage(q.Get("after"), q.Get("limit"))
	if err != nil {
		h.readError(w, err)
		return
	}
	asOf, err := parseAsOf(q.Get("as_of"))
	if err != nil {
		h.readError(w, err)
		return
	}
	var bw *bufio.Writer
	started, err := h.queries().writeEventsPage(r.Context(), r.PathValue("id"), after, limit, MaxPageBytes, asOf, func() io.Writer {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		bw = bufio.NewWriterSize(w, 64<<10)
		return bw
	})
	if err == nil {
		err = bw.Flush()
	}
	switch {
	case err == nil:
	case !started:
		h.readError(w, err)
	default:
		// The status is sent: break the reply rather than end it as if
		// the page were whole.
		if r.Context().Err() == nil {
			h.o.Logger.Warn("http events page broken off", "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

func (h *httpHandler) segments(w http.ResponseWriter, r *http.Request) {
	asOf, err := parseAsOf(r.URL.Query().Get("as_of"))
	if err != nil {
		h.readError(w, err)
		return
	}
	ans, err := h.queries().Segments(r.Context(), r.URL.Query().Get("by"), asOf)
	if err != nil {
		h.readError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *httpHandler) rebuild(w http.ResponseWriter, r *http.Request) {
	if h.o.Views == nil {
		h.readError(w, errNotServed)
		return
	}
	st, err := h.o.Views.Rebuild(r.Context())
	if err != nil {
		h.readError(w, err)
		return
	}
	st.Dir = filepath.Base(st.Dir) // the views directory's name, not where the data dir is
	writeJSON(w, http.StatusOK, st)
}

// parsePage parses the after and limit parameters of a page of events as
// every surface spells them (decimal digits; "" is absent): after is a
// customer version, 0 to 2^63-1 (absent: 0, from the first event); limit
// is 1 to MaxEventsLimit (absent or 0: DefaultEventsLimit). Anything else,
// a sign, an overflow, is an invalid_field error naming the parameter.
func parsePage(after, limit string) (uint64, int, error) {
	a, err := pageParam("after", after, math.MaxInt64, "must be a customer version, an integer from 0 to 9223372036854775807")
	if err != nil {
		return 0, 0, err
	}
	l, err := pageParam("limit", limit, MaxEventsLimit,
		fmt.Sprintf("must be an integer from 1 to %d (0 or absent: %d)", MaxEventsLimit, DefaultEventsLimit))
	if err != nil {
		return 0, 0, err
	}
	if l == 0 {
		l = DefaultEventsLimit
	}
	return a, int(l), nil
}

func pageParam(name, s string, maxV uint64, rule string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	bad := len(s) > 20 // more digits than any uint64
	for i := 0; i < len(s) && !bad; i++ {
		bad = s[i] < '0' || s[i] > '9'
	}
	var n uint64
	if !bad {
		var err error
		n, err = strconv.ParseUint(s, 10, 64)
		bad = err != nil || n > maxV
	}
	if bad {
		return 0, &journey.Error{Code: journey.CodeInvalidField, Field: name, Rule: rule + ", got " + journey.Quote(s)}
	}
	return n, nil
}

// checkPage checks after and limit given as numbers (Queries.Events) by
// the rules of parsePage.
func checkPage(after uint64, limit int) error {
	if limit < 0 {
		_, _, err := parsePage("", strconv.Itoa(limit))
		return err
	}
	_, _, err := parsePage(strconv.FormatUint(after, 10), strconv.Itoa(limit))
	return err
}

// rawParam turns a JSON value of a NATS query (number, string or null)
// into the text parsePage reads; anything else is shown as it is, for the
// error.
func rawParam(v json.RawMessage) string {
	s := strings.TrimSpace(string(v))
	if s == "" || s == "null" {
		return ""
	}
	if s[0] == '"' {
		var u string
		if json.Unmarshal([]byte(s), &u) == nil {
			return u
		}
	}
	return s
}
