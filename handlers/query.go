package handlers

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
)

// EventsPage is the answer of GET /v1/customers/{id}/events: the customer's
// stored events in log order (version 1, 2, …), each with the engine's
// record and the event exactly as received.
type EventsPage struct {
	Customer string        `json:"customer"`
	Events   []StoredEvent `json:"events"`
	// NextAfter is the after= of the next page; 0 when this is the last.
	NextAfter uint64 `json:"next_after,omitempty"`
}

// StoredEvent is one record of the log.
type StoredEvent struct {
	Seq        uint64          `json:"seq"`
	Version    uint64          `json:"version"`
	RecordedAt time.Time       `json:"recorded_at"`
	Hash       string          `json:"hash"`
	Event      json.RawMessage `json:"event"`
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

// notFoundError is a read of something that does not exist.
type notFoundError struct{ what string }

func (e *notFoundError) Error() string { return e.what + " not found" }

// Queries are the reads the engine serves over HTTP and NATS: the
// customer's answer, their stored events and the segment counts. Views nil
// answers the projection reads with an error (the log reads still work).
type Queries struct {
	Store *eventstore.Store
	Views *projections.Views
}

// Customer is the customer's answer at asOf (zero: now).
func (q Queries) Customer(ctx context.Context, id string, asOf time.Time) (*projections.Customer, error) {
	if q.Views == nil {
		return nil, errNotServed
	}
	return q.Views.Customer(ctx, id, asOf)
}

// Events is a page of the customer's stored events after version after
// (limit 0: 1000; at most 10000).
func (q Queries) Events(ctx context.Context, id string, after uint64, limit int) (EventsPage, error) {
	if limit <= 0 {
		limit = 1000
	}
	if limit > 10000 {
		return EventsPage{}, &journey.Error{Code: journey.CodeInvalidField, Field: "limit", Rule: "must be 1 to 10000"}
	}
	recs, err := q.Store.CustomerEvents(ctx, id, after, limit+1)
	if err != nil {
		return EventsPage{}, err
	}
	page := EventsPage{Customer: id, Events: make([]StoredEvent, 0, min(len(recs), limit))}
	for i, rec := range recs {
		if i == limit {
			page.NextAfter = recs[i-1].Version
			break
		}
		page.Events = append(page.Events, StoredEvent{Seq: rec.Seq, Version: rec.Version, RecordedAt: rec.RecordedAt,
			Hash: hex.EncodeToString(rec.Hash[:]), Event: json.RawMessage(rec.Raw)})
	}
	if len(page.Events) == 0 && after == 0 {
		return EventsPage{}, &notFoundError{what: "customer " + strconv.Quote(id)}
	}
	return page, nil
}

// Segments counts customers by one segmentation at asOf (zero: now); with
// by empty, every segmentation (projections.SegmentCounts).
func (q Queries) Segments(ctx context.Context, by string, asOf time.Time) (any, error) {
	if q.Views == nil {
		return nil, errNotServed
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

// readStatus maps a read error to its HTTP status and body.
func readStatus(err error) (int, ErrorBody) {
	var je *journey.Error
	var nf *notFoundError
	switch {
	case errors.As(err, &je):
		return statusOf(je.Code), errorBody(je)
	case errors.As(err, &nf), isNotFound(err):
		return http.StatusNotFound, ErrorBody{Code: "not_found", Message: err.Error()}
	case errors.Is(err, projections.ErrUnknownSegmentation):
		return http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidField, Field: "by", Message: err.Error()}
	case errors.Is(err, errNotServed):
		return http.StatusServiceUnavailable, ErrorBody{Code: journey.CodeInternal, Message: err.Error()}
	default:
		return http.StatusInternalServerError, ErrorBody{Code: journey.CodeInternal, Message: err.Error()}
	}
}

func (h *httpHandler) readError(w http.ResponseWriter, err error) {
	status, body := readStatus(err)
	if status == http.StatusInternalServerError {
		h.o.Logger.Error("http read failed", "err", err)
	}
	writeError(w, status, body)
}

func (h *httpHandler) queries() Queries { return Queries{Store: h.o.Store, Views: h.o.Views} }

func (h *httpHandler) customer(w http.ResponseWriter, r *http.Request) {
	asOf, err := parseAsOf(r.URL.Query().Get("as_of"))
	if err != nil {
		h.readError(w, err)
		return
	}
	c, err := h.queries().Customer(r.Context(), r.PathValue("id"), asOf)
	if err != nil {
		h.readError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *httpHandler) customerEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := uintParam(q.Get("after"), "after")
	if err != nil {
		h.readError(w, err)
		return
	}
	limit, err := uintParam(q.Get("limit"), "limit")
	if err != nil {
		h.readError(w, err)
		return
	}
	page, err := h.queries().Events(r.Context(), r.PathValue("id"), after, int(min(limit, 1<<20)))
	if err != nil {
		h.readError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
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
	writeJSON(w, http.StatusOK, st)
}

func uintParam(s, name string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, &journey.Error{Code: journey.CodeInvalidField, Field: name, Rule: strconv.Quote(s) + " is not an unsigned integer"}
	}
	return n, nil
}
