package handlers

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	journey "github.com/journey-cdp/journey"
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

func (h *httpHandler) views(w http.ResponseWriter) *projections.Views {
	if h.o.Views == nil {
		writeError(w, http.StatusServiceUnavailable, ErrorBody{Code: journey.CodeInternal, Message: "projections are not served here"})
	}
	return h.o.Views
}

func (h *httpHandler) readError(w http.ResponseWriter, err error) {
	var je *journey.Error
	switch {
	case errors.As(err, &je):
		writeError(w, statusOf(je.Code), errorBody(je))
	case isNotFound(err):
		writeError(w, http.StatusNotFound, ErrorBody{Code: "not_found", Message: err.Error()})
	case errors.Is(err, projections.ErrUnknownSegmentation):
		writeError(w, http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidField, Field: "by", Message: err.Error()})
	default:
		h.o.Logger.Error("http read failed", "err", err)
		writeError(w, http.StatusInternalServerError, ErrorBody{Code: journey.CodeInternal, Message: err.Error()})
	}
}

func (h *httpHandler) customer(w http.ResponseWriter, r *http.Request) {
	v := h.views(w)
	if v == nil {
		return
	}
	asOf, err := parseAsOf(r)
	if err != nil {
		h.readError(w, err)
		return
	}
	c, err := v.Customer(r.Context(), r.PathValue("id"), asOf)
	if err != nil {
		h.readError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *httpHandler) customerEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	after, err := uintParam(q.Get("after"), "after")
	if err != nil {
		h.readError(w, err)
		return
	}
	limit := 1000
	if s := q.Get("limit"); s != "" {
		n, err := uintParam(s, "limit")
		if err != nil || n == 0 || n > 10000 {
			h.readError(w, &journey.Error{Code: journey.CodeInvalidField, Field: "limit", Rule: "must be 1 to 10000"})
			return
		}
		limit = int(n)
	}
	recs, err := h.o.Store.CustomerEvents(r.Context(), id, after, limit+1)
	if err != nil {
		h.readError(w, err)
		return
	}
	page := EventsPage{Customer: id, Events: make([]StoredEvent, 0, min(len(recs), limit))}
	for i, rec := range recs {
		if i == limit {
			page.NextAfter = recs[i-1].Version
			break
		}
		page.Events = append(page.Events, StoredEvent{Seq: rec.Seq, Version: rec.Version, RecordedAt: rec.RecordedAt,
			Hash: hexString(rec.Hash[:]), Event: json.RawMessage(rec.Raw)})
	}
	if len(page.Events) == 0 && after == 0 {
		writeError(w, http.StatusNotFound, ErrorBody{Code: "not_found", Message: "customer " + strconv.Quote(id) + " has no events"})
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *httpHandler) segments(w http.ResponseWriter, r *http.Request) {
	v := h.views(w)
	if v == nil {
		return
	}
	asOf, err := parseAsOf(r)
	if err != nil {
		h.readError(w, err)
		return
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		sc, err := v.Segmentation(r.Context(), asOf)
		if err != nil {
			h.readError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, sc)
		return
	}
	counts, err := v.Segments(r.Context(), by, asOf)
	if err != nil {
		h.readError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SegmentsAnswer{By: by, AsOf: asOf, Counts: counts})
}

func (h *httpHandler) rebuild(w http.ResponseWriter, r *http.Request) {
	v := h.views(w)
	if v == nil {
		return
	}
	st, err := v.Rebuild(r.Context())
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

func hexString(b []byte) string { return hex.EncodeToString(b) }
