package handlers

import (
	"errors"
	"net/http"
	"strconv"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/projections"
)

// customerList serves GET /v1/customers?prefix=&trait=&stage=&segment=&r=&fm=&new=&lost=&limit=&after=&as_of=:
// a page of customers in id order (projections.ListPage). Readers and
// analysts may search by id prefix or a profile trait (finding a
// customer); the population filters (stage, segment, r, fm, new, lost)
// need analyst.
func (h *httpHandler) customerList(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, err := ParseListQuery(v.Get)
	if err != nil {
		h.readError(w, err)
		return
	}
	if p, ok := auth.FromContext(r.Context()); ok && !p.Role.Allows(auth.Analyst) && IsPopulationList(q) {
		writeError(w, http.StatusForbidden, ErrorBody{Code: codeForbidden,
			Message: "token " + journey.Quote(p.Name) + " has role " + string(p.Role) +
				"; listing every customer (no prefix or trait) or by stage, segment, RFM cell or new/lost month needs analyst (or admin)"})
		return
	}
	if h.o.Views == nil {
		h.readError(w, errNotServed)
		return
	}
	if !q.AsOf.IsZero() {
		release, err := h.queries().limiter().acquire()
		if err != nil {
			h.readError(w, err)
			return
		}
		defer release()
	}
	page, err := h.o.Views.CustomerList(r.Context(), q)
	if err != nil {
		h.readError(w, listError(err))
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// IsPopulationList reports whether q lists the population — every
// customer (no prefix or trait), or by stage, segment, an RFM cell, new or
// lost in a month: an analyst's list, not a reader's search (a reader
// looks customers up by id prefix or trait, as on the web page).
func IsPopulationList(q projections.ListQuery) bool {
	return q.Prefix == "" && q.Trait == "" ||
		q.Stage != "" || q.Segment != "" || q.R > 0 || q.FM > 0 || q.NewIn != "" || q.LostIn != ""
}

// ParseListQuery reads a customer list's parameters (prefix, trait, after,
// limit, stage, segment, r, fm, new, lost, as_of) from get; a bad one is an
// invalid_field error naming it.
func ParseListQuery(get func(string) string) (projections.ListQuery, error) {
	q := projections.ListQuery{Prefix: get("prefix"), After: get("after"), Stage: get("stage"), Segment: get("segment"), Trait: get("trait"),
		NewIn: get("new"), LostIn: get("lost")}
	var err error
	if q.AsOf, err = parseAsOf(get("as_of")); err != nil {
		return q, err
	}
	num := func(field string, lo, hi int) (int, error) {
		s := get(field)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return 0, &journey.Error{Code: journey.CodeInvalidField, Field: field,
				Rule: journey.Quote(s) + " is not an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)}
		}
		return n, nil
	}
	if q.Limit, err = num("limit", 1, projections.MaxListLimit); err != nil {
		return q, err
	}
	if q.R, err = num("r", 1, 5); err != nil {
		return q, err
	}
	if q.FM, err = num("fm", 1, 5); err != nil {
		return q, err
	}
	return q, nil
}

// listError is a projections.ListError as an invalid_field error.
func listError(err error) error {
	var le *projections.ListError
	if errors.As(err, &le) {
		return &journey.Error{Code: journey.CodeInvalidField, Field: le.Field, Rule: le.Rule}
	}
	return err
}
