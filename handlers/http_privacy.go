package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/privacy"
)

// Privacy is what HTTPOptions.Privacy serves.
type Privacy = privacy.Engine

// The data subject's rights (package privacy):
//
//	DELETE /v1/customers/{id}?reason=…    forget the customer (admin): privacy.Report
//	GET    /v1/customers/{id}/export      everything held about them (auditor): privacy.Export
//
// Nil HTTPOptions.Privacy: 503.
func (h *httpHandler) registerPrivacy(mux *http.ServeMux) {
	h.handle(mux, "DELETE /v1/customers/{id}", h.forget, auth.Admin)
	h.handleCustomerFor(mux, "GET /v1/customers/{id}/export", h.subjectAccess, auth.Auditor)
}

// handleCustomerFor is handleCustomer for the roles needs: a read of the
// customer {id}'s data, reported to the access log.
func (h *httpHandler) handleCustomerFor(mux *http.ServeMux, pattern string, fn http.HandlerFunc, needs ...auth.Role) {
	h.routes = append(h.routes, pattern)
	if h.o.Auth == nil {
		mux.HandleFunc(pattern, fn)
		return
	}
	mux.Handle(pattern, h.o.Auth.CustomerRoute(pattern, fn, needs...))
}

// codeErased answers a read of a forgotten customer (410).
const codeErased = journey.CodeErased

func (h *httpHandler) forget(w http.ResponseWriter, r *http.Request) {
	if h.o.Privacy == nil {
		writeError(w, http.StatusServiceUnavailable, ErrorBody{Code: journey.CodeInternal, Message: "erasure is not available here"})
		return
	}
	id := r.PathValue("id")
	if !validToken(id) {
		writeError(w, http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidField, Field: "id",
			Message: "a customer id is 1–128 bytes of letters, digits and _ - : @"})
		return
	}
	reason := r.URL.Query().Get("reason")
	if reason == "" && r.Body != nil {
		var body struct {
			Reason string `json:"reason"`
		}
		if b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10)); len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				writeError(w, http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidJSON, Message: "the body is not {\"reason\":\"…\"}"})
				return
			}
			reason = body.Reason
		}
	}
	if reason == "" {
		writeError(w, http.StatusBadRequest, ErrorBody{Code: journey.CodeMissingField, Field: "reason",
			Message: "say why the customer is forgotten (?reason= or {\"reason\":…}): it is kept in the erasure record"})
		return
	}
	p := *h.o.Privacy
	p.Unknown = r.URL.Query().Get("unknown_ok") == "true"
	rep, err := p.Forget(r.Context(), id, reason)
	if err != nil {
		if errors.Is(err, privacy.ErrUnknownCustomer) {
			writeError(w, http.StatusNotFound, ErrorBody{Code: codeNotFound, Field: "id",
				Message: "customer " + journey.Quote(id) + ": " + err.Error() + " (check the id; unknown_ok=true records the erasure anyway, and every later event of that id is refused)"})
			return
		}
		if errors.Is(err, eventstore.ErrNotSealed) {
			writeError(w, http.StatusConflict, ErrorBody{Code: journey.CodeInternal, Message: err.Error()})
			return
		}
		h.readError(w, err)
		return
	}
	h.o.Logger.Info("customer forgotten", "seq", rep.Seq, "events", rep.Events)
	writeJSON(w, http.StatusOK, rep)
}

func (h *httpHandler) subjectAccess(w http.ResponseWriter, r *http.Request) {
	if h.o.Privacy == nil {
		writeError(w, http.StatusServiceUnavailable, ErrorBody{Code: journey.CodeInternal, Message: "subject-access export is not available here"})
		return
	}
	x, err := h.o.Privacy.SubjectAccess(r.Context(), r.PathValue("id"), time.Now())
	if err != nil {
		h.readError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, x)
}

// erasedAnswer answers a read of a forgotten customer with 410 and when
// and why; false when id was not forgotten.
func (h *httpHandler) erasedAnswer(w http.ResponseWriter, r *http.Request, id string) bool {
	if h.o.Store == nil {
		return false
	}
	n, err := h.o.Store.Erasure(r.Context(), id)
	if err != nil || n == nil {
		return false
	}
	writeError(w, http.StatusGone, ErrorBody{Code: codeErased, Field: "id",
		Message: fmt.Sprintf("customer %s was erased at %s: %s", journey.Quote(id), n.ErasedAt.Format(time.RFC3339), n.Reason)})
	return true
}
