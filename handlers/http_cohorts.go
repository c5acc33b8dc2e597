package handlers

import (
	"net/http"
	"time"

	"github.com/journey-cdp/journey/projections/cohorts"
)

// cohorts answers GET /v1/cohorts[?as_of=]: the cohort retention table
// (projections/cohorts.Table) of the purchases with time ≤ as_of (absent:
// every one). It is a pass over the whole log, so it runs under the
// population as-of limiter (busy: 429 with Retry-After) like the
// population as-of reads.
func (h *httpHandler) cohorts(w http.ResponseWriter, r *http.Request) {
	asOf, err := parseAsOf(r.URL.Query().Get("as_of"))
	if err != nil {
		h.readError(w, err)
		return
	}
	if h.o.Store == nil || h.o.Views == nil {
		h.readError(w, errNotServed)
		return
	}
	release, err := h.queries().limiter().acquire()
	if err != nil {
		h.readError(w, err)
		return
	}
	defer release()
	t, err := cohorts.Compute(r.Context(), h.o.Store, asOf, time.Now())
	if err != nil {
		h.readError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
