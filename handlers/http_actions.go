package handlers

import (
	"net/http"
	"strconv"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/handlers/reactions"
)

// Actions listing limits of GET /v1/actions.
const (
	DefaultActionsLimit = 1000
	MaxActionsLimit     = 100_000
)

// ActionsAnswer is the body of GET /v1/actions.
type ActionsAnswer struct {
	Actions []reactions.Row `json:"actions"`
	// Truncated says the listing stopped at its limit.
	Truncated bool `json:"truncated"`
}

// actions serves GET /v1/actions[?kind=&status=&as_of=&limit=]: the
// reactions' actions (thank-you, win-back, escalation) of the customers,
// pending and done, from the views (as of an instant: a population as-of
// read, bounded by the PopulationAsOf limiter).
func (h *httpHandler) actions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	asOf, err := parseAsOf(q.Get("as_of"))
	if err != nil {
		h.readError(w, err)
		return
	}
	limit := DefaultActionsLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxActionsLimit {
			h.readError(w, &journey.Error{Code: journey.CodeInvalidField, Field: "limit",
				Rule: "must be an integer from 1 to " + strconv.Itoa(MaxActionsLimit)})
			return
		}
		limit = n
	}
	if h.o.Views == nil {
		h.readError(w, errNotServed)
		return
	}
	f := reactions.Filter{Kind: q.Get("kind"), Status: q.Get("status"), AsOf: asOf, Limit: limit + 1}
	if err := f.Check(); err != nil {
		h.readError(w, err)
		return
	}
	if !asOf.IsZero() {
		release, err := h.queries().limiter().acquire()
		if err != nil {
			h.readError(w, err)
			return
		}
		defer release()
	}
	ans := ActionsAnswer{Actions: []reactions.Row{}}
	err = reactions.List(r.Context(), h.o.Views, f, func(row reactions.Row) error {
		ans.Actions = append(ans.Actions, row)
		return nil
	})
	if err != nil {
		h.readError(w, err)
		return
	}
	if len(ans.Actions) > limit {
		ans.Actions, ans.Truncated = ans.Actions[:limit], true
	}
	writeJSON(w, http.StatusOK, ans)
}
