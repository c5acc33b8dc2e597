package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
)

// maxBodyBytes is the largest POST /v1/events body read (and quarantined
// when invalid); a bigger one is refused with 413 without being kept.
const maxBodyBytes = 1 << 20

// HTTPOptions are what the HTTP surface serves.
type HTTPOptions struct {
	Store    *eventstore.Store
	Appender *Appender          // POST /v1/events; nil: 503
	Views    *projections.Views // query reads; nil: 503
	Metrics  *Metrics           // GET /metrics; nil: 404
	// Ready reports why the engine is not ready (nil: ready). Nil Ready
	// means always ready.
	Ready  func() error
	Logger *slog.Logger // nil: slog.Default()
}

// NewHTTPHandler returns the engine's HTTP surface:
//
//	GET  /healthz                      the process is up
//	GET  /readyz                       store open, NATS connected, consumer there, views caught up
//	GET  /metrics                      Prometheus metrics
//	POST /v1/events                    synchronous append (If-Match: <version>)
//	GET  /v1/customers/{id}[?as_of=]   the customer's answer
//	GET  /v1/customers/{id}/events     the customer's events (?after=<version>&limit=N)
//	GET  /v1/segments[?by=&as_of=]     segment counts
//	POST /v1/admin/rebuild             rebuild the views from the log
//
// Errors are JSON {"error":{"code","field","message"}}.
func NewHTTPHandler(o HTTPOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &httpHandler{o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{Registry: o.Metrics.Registry}))
	}
	mux.HandleFunc("POST /v1/events", h.postEvent)
	mux.HandleFunc("GET /v1/customers/{id}", h.customer)
	mux.HandleFunc("GET /v1/customers/{id}/events", h.customerEvents)
	mux.HandleFunc("GET /v1/segments", h.segments)
	mux.HandleFunc("POST /v1/admin/rebuild", h.rebuild)
	return mux
}

type httpHandler struct{ o HTTPOptions }

func (h *httpHandler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.o.Ready != nil {
		if err := h.o.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *httpHandler) postEvent(w http.ResponseWriter, r *http.Request) {
	if h.o.Appender == nil {
		writeError(w, http.StatusServiceUnavailable, ErrorBody{Code: journey.CodeInternal, Message: "appends are not served here"})
		return
	}
	expected, err := ParseExpectedVersion("header:If-Match", r.Header.Get("If-Match"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errorBody(err))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidJSON, Message: "reading the body: " + err.Error()})
		return
	}
	if len(raw) > maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, ErrorBody{Code: journey.CodeTooLarge,
			Message: fmt.Sprintf("body is more than %d bytes (an event is at most %d)", maxBodyBytes, journey.MaxEventBytes)})
		return
	}
	res, err := h.o.Appender.Append(r.Context(), raw, expected, "http")
	if err != nil {
		body := errorBody(err)
		if body.Code == journey.CodeInternal {
			h.o.Logger.Error("http append failed", "err", err)
		}
		writeError(w, statusOf(body.Code), body)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf("%q", fmt.Sprint(res.Version)))
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, AppendReply{Seq: res.Seq, Version: res.Version, Duplicate: res.Duplicate})
}

// statusOf maps an error code to its HTTP status.
func statusOf(c journey.Code) int {
	switch c {
	case journey.CodeVersionConflict:
		return http.StatusPreconditionFailed
	case journey.CodeIDConflict:
		return http.StatusConflict
	case journey.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case journey.CodeInternal:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, b ErrorBody) {
	writeJSON(w, status, ErrorReply{Error: b})
}

// parseAsOf parses an as_of parameter: RFC 3339, or a date
// (YYYY-MM-DD, meaning the end of that day in UTC). Empty: zero (now).
func parseAsOf(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		return d.Add(24*time.Hour - time.Nanosecond), nil
	}
	return time.Time{}, &journey.Error{Code: journey.CodeInvalidField, Field: "as_of",
		Rule: fmt.Sprintf("%q is neither RFC 3339 nor YYYY-MM-DD", v)}
}

func isNotFound(err error) bool { return errors.Is(err, projections.ErrNotFound) }
