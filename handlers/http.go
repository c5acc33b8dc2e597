package handlers

import (
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/accesslog"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/checkpoint"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/errtext"
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
	Logger *slog.Logger // nil: discard
	// PopulationAsOf bounds the population as-of reads (GET /v1/segments
	// with as_of) running at once: beyond it they answer 429 with
	// Retry-After. Nil: the limiter of DefaultMaxPopulationAsOf shared by
	// every surface of the same Views (Queries.PopulationAsOf).
	PopulationAsOf *Limiter
	// Auth, when set, refuses every request but /healthz and /readyz
	// without a bearer token whose role the route allows (401, 403; see
	// the route table of NewHTTPHandler). Nil: no access control.
	Auth *auth.Authorizer
	// AccessLog is exported by GET /v1/export/access (auditor; http_access.go). Nil: 503.
	AccessLog *accesslog.Log
	// Checkpoints signs GET /v1/checkpoint (auditor; http_checkpoint.go). Nil: 503.
	Checkpoints *checkpoint.Keeper
	// Privacy forgets a customer (DELETE /v1/customers/{id}, admin) and
	// exports one (GET /v1/customers/{id}/export, auditor): http_privacy.go. Nil: 503.
	Privacy *Privacy
}

// withDefaults is o with every zero field given its default (the nil
// PopulationAsOf stays nil: Queries picks the Views' shared limiter).
func (o HTTPOptions) withDefaults() HTTPOptions {
	o.Logger = cmp.Or(o.Logger, discardLogger)
	return o
}

// NewHTTPHandler returns the engine's HTTP surface:
//
//	GET  /healthz                      the process is up
//	GET  /readyz                       store open, NATS connected, consumer there, views caught up
//	GET  /metrics                      Prometheus metrics
//	POST /v1/events                    synchronous append (If-Match: <version>)
//	GET  /v1/customers[?prefix=&stage=&segment=&r=&fm=&limit=&after=&as_of=]  a page of customers (reader: by prefix; analyst: any filter)
//	GET  /v1/customers/{id}[?as_of=]   the customer's answer (ETag; If-None-Match → 304)
//	GET  /v1/customers/{id}/events     the customer's events (?after=<version>&limit=N&as_of=), paged by events and bytes
//	GET  /v1/segments[?by=&as_of=]     segment counts
//	POST /v1/admin/rebuild             rebuild the views from the log
//
// With HTTPOptions.Auth each route needs a role (admin may do everything):
//
//	/healthz, /readyz                            open
//	/metrics                                     analyst, auditor
//	POST /v1/events                              writer
//	GET /v1/openapi.json                         open (the API description)
//	GET /v1/customers                            reader, analyst (filters but prefix: analyst)
//	GET /v1/customers/{id}, …/events             reader, auditor
//	GET /v1/segments, /v1/nps, /v1/export/customers  analyst
//	GET /v1/verify, /v1/export/events, /v1/quarantine, /v1/checkpoint  auditor
//	GET /v1/export/access                        auditor
//	POST /v1/admin/rebuild                       admin
//	DELETE /v1/customers/{id}                    admin (forget); GET …/export auditor
//
// Errors, an unknown path (404: a path the mux would clean and redirect,
// "/v1//customers", included) and a method a path does not take (405,
// with Allow) included, are JSON {"error":{"code","field","message"}};
// messages name no Go package and no absolute path.
func NewHTTPHandler(o HTTPOptions) http.Handler {
	o = o.withDefaults()
	h := &httpHandler{o: o}
	mux := http.NewServeMux()
	h.open(mux, "GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.open(mux, "GET /readyz", h.readyz)
	h.open(mux, "GET /v1/openapi.json", h.openAPI) // the API description: openapi.go
	if o.Metrics != nil {
		h.handle(mux, "GET /metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{Registry: o.Metrics.Registry}).ServeHTTP,
			auth.Analyst, auth.Auditor)
	}
	h.handle(mux, "POST /v1/events", h.postEvent, auth.Writer)
	h.handle(mux, "GET /v1/customers", h.customerList, auth.Reader, auth.Analyst) // list and search: http_customers_list.go
	h.handleCustomer(mux, "GET /v1/customers/{id}", h.customer)
	h.handleCustomer(mux, "GET /v1/customers/{id}/events", h.customerEvents)
	h.handle(mux, "GET /v1/segments", h.segments, auth.Analyst)
	h.handle(mux, "GET /v1/actions", h.actions, auth.Analyst) // the reactions' actions: http_actions.go
	h.handle(mux, "GET /v1/cohorts", h.cohorts, auth.Analyst) // http_cohorts.go
	h.handle(mux, "POST /v1/admin/rebuild", h.rebuild, auth.Admin)
	h.registerAdmin(mux)      // GET /v1/verify, /v1/nps, /v1/export/…, /v1/quarantine: http_admin.go
	h.registerAccess(mux)     // GET /v1/export/access (auditor): http_access.go
	h.registerCheckpoint(mux) // GET /v1/checkpoint, …/key, …/verify (auditor): http_checkpoint.go
	h.registerPrivacy(mux)    // DELETE /v1/customers/{id} (admin), GET …/export (auditor): http_privacy.go
	return jsonErrors{mux: mux, h: h}
}

// handle registers fn at pattern for the tokens whose role allows one of
// needs (auth.Admin always may); without HTTPOptions.Auth, for everyone.
func (h *httpHandler) handle(mux *http.ServeMux, pattern string, fn http.HandlerFunc, needs ...auth.Role) {
	h.routes = append(h.routes, pattern)
	if h.o.Auth == nil {
		mux.HandleFunc(pattern, fn)
		return
	}
	mux.Handle(pattern, h.o.Auth.Route(pattern, fn, needs...))
}

// handleCustomer registers fn, a read of the data of the customer {id},
// at pattern for readers and auditors; each 2xx answer is reported to
// the Authorizer's OnCustomerRead (the access log).
func (h *httpHandler) handleCustomer(mux *http.ServeMux, pattern string, fn http.HandlerFunc) {
	h.routes = append(h.routes, pattern)
	if h.o.Auth == nil {
		mux.HandleFunc(pattern, fn)
		return
	}
	mux.Handle(pattern, h.o.Auth.CustomerRoute(pattern, fn, auth.Reader))
}

// jsonErrors answers what the mux itself refuses (no pattern matches the
// path: 404; a pattern matches the path but not the method: 405 with
// Allow) with the JSON error body, and serves the rest with the mux. A
// path the mux would redirect (307 with an HTML body: to the path cleaned
// of "//", "." and ".." segments) is a 404 too, naming the clean path.
type jsonErrors struct {
	mux *http.ServeMux
	h   *httpHandler
}

// Error codes of the requests no endpoint takes.
const (
	codeNotFound         journey.Code = "not_found"
	codeMethodNotAllowed journey.Code = "method_not_allowed"
	// codeForbidden: a writer token limited to a source prefix appended
	// an event of another source (403).
	codeForbidden journey.Code = auth.CodeForbidden
)

func (j jsonErrors) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := j.mux.Handler(r)
	if reflect.TypeOf(h) == muxRedirect {
		// A path the mux would clean ("//", "." or ".." segments) and
		// redirect to, with an HTML body: no endpoint is at it as written.
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		msg := "no endpoint at " + journey.Quote(r.URL.Path) + " (a path is taken as written, not cleaned"
		if u, err := url.Parse(rec.header.Get("Location")); err == nil && u.Path != "" {
			msg += ": did you mean " + journey.Quote(u.Path) + "?"
		}
		writeError(w, http.StatusNotFound, ErrorBody{Code: codeNotFound, Message: msg + ")"})
		return
	}
	if pattern != "" {
		j.mux.ServeHTTP(w, r)
		return
	}
	// The mux's own refusal: learn its status and Allow, answer in JSON.
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	where := journey.Quote(r.URL.Path)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, ErrorBody{Code: codeMethodNotAllowed,
			Message: fmt.Sprintf("%s does not take %s; it takes %s", where, journey.Quote(r.Method), allow)})
	case http.StatusNotFound, 0:
		writeError(w, http.StatusNotFound, ErrorBody{Code: codeNotFound, Message: "no endpoint at " + where})
	default:
		// Anything else the mux answers itself (none today): as it does.
		j.mux.ServeHTTP(w, r)
	}
}

// muxRedirect is the type of the handler ServeMux.Handler returns for a
// path it redirects (to the cleaned path, or to the path with a slash
// for a subtree pattern).
var muxRedirect = reflect.TypeOf(http.RedirectHandler("/", http.StatusTemporaryRedirect))

// statusRecorder keeps a handler's status and header, dropping its body.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *statusRecorder) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}

type httpHandler struct {
	o      HTTPOptions
	routes []string // the patterns registered, in order (openapi_test.go)
}

func (h *httpHandler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.o.Ready != nil {
		if err := h.o.Ready(); err != nil {
			reason := publicMessage(err.Error())
			writeJSON(w, http.StatusServiceUnavailable, struct {
				Status string    `json:"status"`
				Reason string    `json:"reason"`
				Error  ErrorBody `json:"error"`
			}{"not ready", reason, ErrorBody{Code: codeNotReady, Message: reason}})
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
	if ct := r.Header.Values("Content-Type"); len(ct) == 1 && isBatch(ct[0]) {
		h.postBatch(w, r) // batch_http.go
		return
	}
	if err := checkContentType(r.Header.Values("Content-Type")); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, errorBody(err))
		return
	}
	gzipped, err := contentEncoding(r.Header.Values("Content-Encoding"))
	if err != nil {
		writeError(w, http.StatusUnsupportedMediaType, errorBody(err))
		return
	}
	expected, err := ParseExpectedVersion("header:If-Match", r.Header.Get("If-Match"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errorBody(err))
		return
	}
	raw, status, err := readBody(r.Body, gzipped)
	if err != nil {
		writeError(w, status, errorBody(err))
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
	status = http.StatusCreated
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
	case codeForbidden:
		return http.StatusForbidden
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

// parseTimeParam parses the parameter field: an RFC 3339 instant, or a date
// YYYY-MM-DD (UTC) that date turns into an instant. Empty: zero.
func parseTimeParam(field, v string, date func(day time.Time) time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		d, derr := time.Parse(time.DateOnly, v)
		if derr != nil {
			return time.Time{}, &journey.Error{Code: journey.CodeInvalidField, Field: field,
				Rule: journey.Quote(v) + " is neither RFC 3339 nor YYYY-MM-DD"}
		}
		t = date(d)
	}
	return t, nil
}

// parseAsOf parses an as_of parameter: RFC 3339, or a date
// (YYYY-MM-DD, meaning the end of that day in UTC), in the years 0001 to
// 9999 (UTC) as an event's time. Empty: zero (now).
func parseAsOf(v string) (time.Time, error) {
	t, err := parseTimeParam("as_of", v, func(day time.Time) time.Time { return day.Add(24*time.Hour - time.Nanosecond) })
	if err != nil || v == "" {
		return t, err
	}
	if rule := journey.TimeRangeRule(t); rule != "" {
		return time.Time{}, &journey.Error{Code: journey.CodeInvalidField, Field: "as_of", Rule: journey.Quote(v) + " " + rule}
	}
	return t, nil
}

// The media types POST /v1/events accepts for one event, in structured
// CloudEvents mode or as plain JSON (and BatchContentType, see postBatch).
var eventMediaTypes = []string{"application/cloudevents+json", "application/json"}

// checkContentType accepts no Content-Type (the body is taken as JSON) or
// one of eventMediaTypes, with a charset parameter only of utf-8; anything
// else is an invalid_field error for a 415.
func checkContentType(values []string) error {
	if len(values) == 0 {
		return nil
	}
	bad := func(rule string) error {
		return &journey.Error{Code: journey.CodeInvalidField, Field: "header:Content-Type", Rule: rule}
	}
	if len(values) > 1 {
		return bad("is given more than once")
	}
	mt, params, err := mime.ParseMediaType(values[0])
	if err != nil {
		return bad(journey.Quote(values[0]) + " is not a media type; want " + strings.Join(eventMediaTypes, " or "))
	}
	if !slices.Contains(eventMediaTypes, mt) {
		return bad(journey.Quote(mt) + " is not accepted; want " + strings.Join(eventMediaTypes, " or ") + " (one event per request)")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return bad("charset " + journey.Quote(cs) + " is not accepted; an event is UTF-8")
	}
	return nil
}

// contentEncoding reads Content-Encoding: none or identity (false), gzip
// (true); anything else is an invalid_field error for a 415.
func contentEncoding(values []string) (gzipped bool, err error) {
	var codings []string
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	switch {
	case len(codings) == 0:
		return false, nil
	case len(codings) == 1 && (codings[0] == "gzip" || codings[0] == "x-gzip"):
		return true, nil
	}
	return false, &journey.Error{Code: journey.CodeInvalidField, Field: "header:Content-Encoding",
		Rule: journey.Quote(strings.Join(codings, ", ")) + " is not accepted; want gzip or none"}
}

// readBody reads at most maxBodyBytes of the body (after gunzipping it
// when gzipped, so that a small body that inflates without bound is
// refused with 413 after maxBodyBytes of work), or the error and its HTTP
// status.
func readBody(body io.Reader, gzipped bool) ([]byte, int, error) {
	what := "body"
	if gzipped {
		zr, err := gzip.NewReader(io.LimitReader(body, maxBodyBytes+1<<16))
		if err != nil {
			return nil, http.StatusBadRequest, gzipError(err)
		}
		defer zr.Close()
		body, what = zr, "decompressed body"
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxBodyBytes+1))
	if len(raw) > maxBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, &journey.Error{Code: journey.CodeTooLarge,
			Rule: fmt.Sprintf("%s is more than %d bytes (an event is at most %d)", what, maxBodyBytes, journey.MaxEventBytes)}
	}
	if err != nil {
		if gzipped {
			return nil, http.StatusBadRequest, gzipError(err)
		}
		return nil, http.StatusBadRequest, &journey.Error{Code: journey.CodeInvalidJSON, Rule: "reading the body: " + err.Error()}
	}
	return raw, 0, nil
}

func gzipError(err error) error {
	return &journey.Error{Code: journey.CodeInvalidField, Field: "header:Content-Encoding",
		Rule: "says gzip, but the body is not gzip data: " + err.Error()}
}

// codeNotReady is the error code of GET /readyz when not ready.
const codeNotReady journey.Code = "not_ready"

// absolutePath matches an absolute file path (two segments or more).
var absolutePath = regexp.MustCompile(`(^|[\s"'(=])/(?:[^\s"'(),;:/]+/)+([^\s"'(),;:/]*)`)

// publicMessage is an internal error's text as an HTTP or NATS answer
// shows it: without Go package prefixes, and with absolute paths cut to
// their last element ("…/000123.sst"); the log keeps the whole error.
func publicMessage(msg string) string {
	return absolutePath.ReplaceAllString(errtext.WithoutPackages(msg), "$1…/$2")
}

func isNotFound(err error) bool { return errors.Is(err, projections.ErrNotFound) }
