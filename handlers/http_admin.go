package handlers

import (
	"bufio"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
)

// The read endpoints behind the CLI's --server (journey verify, nps,
// export, quarantine list): each answers what the command prints from a
// data dir, so that an auditor can verify the log, and an analyst export
// it, while the engine runs.
//
//	GET /v1/verify                    walk the hash chain of the live log: VerifyReply
//	GET /v1/nps[?as_of=]              customer.NPSResult
//	GET /v1/export/events             the log, JSONL of eventstore.StoredEvent in sequence order
//	GET /v1/export/customers[?as_of=] every customer's answer, JSONL of customer.Answer
//	GET /v1/quarantine                the quarantine, JSONL of eventstore.QuarantineLine
//
// The JSON is that of the CLI (json v2, deterministic). A JSONL answer
// broken off by an error after its first line ends without its last
// chunk: the client sees an unexpected EOF, never a short export as whole.
func (h *httpHandler) registerAdmin(mux *http.ServeMux) {
	h.handle(mux, "GET /v1/verify", h.verify, auth.Auditor)
	h.handle(mux, "GET /v1/nps", h.nps, auth.Analyst)
	h.handle(mux, "GET /v1/export/events", h.exportEvents, auth.Auditor)
	h.handle(mux, "GET /v1/export/customers", h.exportCustomers, auth.Analyst)
	h.handle(mux, "GET /v1/quarantine", h.quarantine, auth.Auditor)
}

// VerifyReply is the answer of GET /v1/verify and journey verify --json.
type VerifyReply struct {
	OK          bool    `json:"ok"`
	Events      uint64  `json:"events"`
	Head        string  `json:"head"`
	FirstBadSeq *uint64 `json:"first_bad_seq"`
	Reason      string  `json:"reason,omitempty"`
	Encrypted   bool    `json:"encrypted"` // events sealed per customer (verified without keys)
}

// NewVerifyReply is the reply of a walk: rep and err as Store.Verify
// returned them (an error other than ErrDamaged also fails the walk).
func NewVerifyReply(rep eventstore.VerifyReport, err error) VerifyReply {
	if err != nil && !errors.Is(err, eventstore.ErrDamaged) {
		rep.OK = false
		if rep.Reason == "" {
			rep.Reason = err.Error()
		}
	}
	r := VerifyReply{OK: rep.OK, Events: rep.Events, Head: hex.EncodeToString(rep.Head[:]), Reason: rep.Reason, Encrypted: rep.Encrypted}
	if !rep.OK && rep.FirstBadSeq != 0 {
		s := rep.FirstBadSeq
		r.FirstBadSeq = &s
	}
	return r
}

// marshalLine is v as the CLI prints it: json v2, deterministic, one line.
func marshalLine(v any) ([]byte, error) {
	b, err := json.Marshal(v, json.Deterministic(true))
	return append(b, '\n'), err
}

func (h *httpHandler) verify(w http.ResponseWriter, r *http.Request) {
	if h.o.Store == nil {
		h.readError(w, errNotServed)
		return
	}
	rep, err := h.o.Store.Verify(r.Context(), nil)
	if err != nil && r.Context().Err() != nil {
		return // the client went away
	}
	h.writeLine(w, NewVerifyReply(rep, err))
}

func (h *httpHandler) nps(w http.ResponseWriter, r *http.Request) {
	q, asOf, release, ok := h.populationRead(w, r)
	if !ok {
		return
	}
	defer release()
	res, err := q.Views.NPSResult(r.Context(), asOf)
	if err != nil {
		h.readError(w, err)
		return
	}
	h.writeLine(w, res)
}

// writeLine answers 200 with v as the CLI prints it (marshalLine).
func (h *httpHandler) writeLine(w http.ResponseWriter, v any) {
	b, err := marshalLine(v)
	if err != nil {
		h.readError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// streamLines answers 200 with the JSONL that each calls emit for, or the
// error body when each fails before the first line.
func (h *httpHandler) streamLines(w http.ResponseWriter, r *http.Request, each func(emit func(v any) error) error) {
	var bw *bufio.Writer
	emit := func(v any) error {
		b, err := marshalLine(v)
		if err != nil {
			return err
		}
		if bw == nil {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			bw = bufio.NewWriterSize(w, 64<<10)
		}
		_, err = bw.Write(b)
		return err
	}
	err := each(emit)
	switch {
	case err == nil && bw == nil:
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	case err == nil:
		if ferr := bw.Flush(); ferr != nil && r.Context().Err() == nil {
			h.o.Logger.Warn("http export broken off", "path", r.URL.Path, "err", ferr)
		}
	case bw == nil:
		h.readError(w, err)
	default:
		if r.Context().Err() == nil {
			h.o.Logger.Warn("http export broken off", "path", r.URL.Path, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// streamStore is streamLines over a read of the served log (without one:
// the errNotServed answer).
func (h *httpHandler) streamStore(w http.ResponseWriter, r *http.Request, each func(st *eventstore.Store, emit func(v any) error) error) {
	if h.o.Store == nil {
		h.readError(w, errNotServed)
		return
	}
	h.streamLines(w, r, func(emit func(any) error) error { return each(h.o.Store, emit) })
}

func (h *httpHandler) exportEvents(w http.ResponseWriter, r *http.Request) {
	h.streamStore(w, r, func(st *eventstore.Store, emit func(any) error) error {
		return st.Scan(r.Context(), 1, 0, func(rec *eventstore.Record) error { return emit(rec.Stored()) })
	})
}

func (h *httpHandler) exportCustomers(w http.ResponseWriter, r *http.Request) {
	q, asOf, release, ok := h.populationRead(w, r)
	if !ok {
		return
	}
	defer release()
	h.streamLines(w, r, func(emit func(any) error) error {
		return q.Views.Customers(r.Context(), asOf, true, func(c *customer.Answer) error { return emit(c) })
	})
}

func (h *httpHandler) quarantine(w http.ResponseWriter, r *http.Request) {
	h.streamStore(w, r, func(st *eventstore.Store, emit func(any) error) error {
		return st.QuarantineScan(r.Context(), func(e *eventstore.QuarantineEntry) error { return emit(e.Line()) })
	})
}

// populationRead starts a read of the population: it parses as_of, needs
// the views, and holds the population as-of limiter for an as-of read
// (release it when done). ok false: the error answer is written.
func (h *httpHandler) populationRead(w http.ResponseWriter, r *http.Request) (q Queries, asOf time.Time, release func(), ok bool) {
	asOf, err := parseAsOf(r.URL.Query().Get("as_of"))
	if err != nil {
		h.readError(w, err)
		return q, asOf, nil, false
	}
	q = h.queries()
	if q.Views == nil {
		h.readError(w, errNotServed)
		return q, asOf, nil, false
	}
	release = func() {}
	if !asOf.IsZero() {
		if release, err = q.limiter().acquire(); err != nil {
			h.readError(w, err)
			return q, asOf, nil, false
		}
	}
	return q, asOf, release, true
}
