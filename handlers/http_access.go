package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/accesslog"
	"github.com/journey-cdp/journey/auth"
)

// registerAccess registers the access log's export (auditor):
//
//	GET /v1/export/access[?customer=&since=&until=]  JSONL of accesslog.Entry in time order
//
// since and until are RFC 3339 or a date YYYY-MM-DD (since: the start of
// that day, until: its end, UTC); since is inclusive, until exclusive.
// Without HTTPOptions.AccessLog it answers 503.
func (h *httpHandler) registerAccess(mux *http.ServeMux) {
	h.handle(mux, "GET /v1/export/access", h.exportAccess, auth.Auditor)
}

// RecordAccess is the auth.Authorizer's OnCustomerRead that records each
// read into l: the token's name and role, the customer, the route pattern
// (never the token's text, never what was read). A read Record could not
// keep is logged on log (ErrFull is counted and logged by l itself).
func RecordAccess(l *accesslog.Log, log *slog.Logger) func(p auth.Principal, customer, route string) {
	if log == nil {
		log = discardLogger
	}
	return func(p auth.Principal, customer, route string) {
		err := l.Record(accesslog.Entry{Token: p.Name, Role: string(p.Role), Customer: customer, Route: route})
		if err != nil && !errors.Is(err, accesslog.ErrFull) {
			log.Warn("access log: read not recorded", "route", route, "err", err)
		}
	}
}

// errNoAccessLog is an access export asked of an engine without one.
var errNoAccessLog = &journey.Error{Code: journey.CodeInternal, Rule: "the access log is not served here"}

func (h *httpHandler) exportAccess(w http.ResponseWriter, r *http.Request) {
	if h.o.AccessLog == nil {
		writeError(w, http.StatusServiceUnavailable, errorBody(errNoAccessLog))
		return
	}
	q := r.URL.Query()
	f, err := AccessFilter(q.Get("customer"), q.Get("since"), q.Get("until"), "")
	if err != nil {
		h.readError(w, err)
		return
	}
	h.streamLines(w, r, func(emit func(any) error) error {
		return h.o.AccessLog.Export(r.Context(), f, func(e accesslog.Entry) error { return emit(e) })
	})
}

// AccessFilter is the filter of an access-log export: customer (empty:
// every customer), since and until (empty: no bound; RFC 3339, or a date
// YYYY-MM-DD: since from the start of that day, until to its end, UTC).
// fieldPrefix prefixes the field named in an error ("" over HTTP, "--"
// on the command line).
func AccessFilter(customer, since, until, fieldPrefix string) (accesslog.Filter, error) {
	f := accesslog.Filter{Customer: customer}
	var err error
	if f.Since, err = parseInstant(fieldPrefix+"since", since, false); err != nil {
		return f, err
	}
	if f.Until, err = parseInstant(fieldPrefix+"until", until, true); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, &journey.Error{Code: journey.CodeInvalidField, Field: fieldPrefix + "until",
			Rule: journey.Quote(until) + " is not after since " + journey.Quote(since)}
	}
	return f, nil
}

// parseInstant parses an RFC 3339 instant or a date (its start, or with
// dayEnd the start of the next day); empty: zero.
func parseInstant(field, v string, dayEnd bool) (time.Time, error) {
	return parseTimeParam(field, v, func(day time.Time) time.Time {
		if dayEnd {
			return day.AddDate(0, 0, 1)
		}
		return day
	})
}
