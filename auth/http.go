package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// The error codes of a refusal (the "code" of the JSON error body).
const (
	CodeUnauthorized = "unauthorized" // 401: no token, or one that is not (or no longer) good
	CodeForbidden    = "forbidden"    // 403: the token's role (or source prefix) does not allow it
)

// AuthorizationField names the header in a refusal's "field".
const AuthorizationField = "header:Authorization"

// Refusal is why a request is refused: its HTTP status (401 or 403), the
// error code, the field at fault and the message, and the reason label
// it is counted under. Neither the message nor anything else of it holds
// the token's text.
type Refusal struct {
	Status  int
	Code    string
	Field   string
	Message string
	Reason  string // missing, invalid, expired, revoked, forbidden
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// Authenticator checks a bearer token's text; *Tokens is one.
type Authenticator interface {
	Authenticate(token string) (Principal, error)
}

// Authorizer checks the bearer token and the role of every request of a
// surface, and counts its refusals by route and reason.
type Authorizer struct {
	tokens Authenticator
	http   *prometheus.CounterVec
	nats   *prometheus.CounterVec
	// OnCustomerRead, when set (before serving), is called after each 2xx
	// answer of a route that reads one customer's data (the answer, its
	// events), with the principal, the customer id and the route pattern
	// (the access log).
	OnCustomerRead func(p Principal, customer, route string)
}

// NewAuthorizer returns the Authorizer of tokens. Its refusal counters,
// journey_http_refusals_total{route,reason} and
// journey_nats_refusals_total{subject,reason}, are registered on reg (nil:
// not registered).
func NewAuthorizer(tokens Authenticator, reg prometheus.Registerer) (*Authorizer, error) {
	a := &Authorizer{
		tokens: tokens,
		http: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "journey_http_refusals_total",
			Help: "HTTP requests refused by access control, by route pattern and reason (missing, invalid, expired, revoked, forbidden)."},
			[]string{"route", "reason"}),
		nats: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "journey_nats_refusals_total",
			Help: "NATS requests (queries, synchronous appends) refused by access control, by subject and reason."},
			[]string{"subject", "reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{a.http, a.nats} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("auth: refusal counter: %w", err)
			}
		}
	}
	return a, nil
}

// bearer is the token of an Authorization header's values: ErrNoToken
// when there is none, a Refusal when it is not one "Bearer <token>".
func bearer(values []string) (string, error) {
	if len(values) == 0 {
		return "", ErrNoToken
	}
	if len(values) > 1 {
		return "", &Refusal{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Field: AuthorizationField,
			Message: "is given more than once; send one Authorization: Bearer <token>", Reason: "invalid"}
	}
	v := strings.TrimSpace(values[0])
	scheme, tok, ok := strings.Cut(v, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		if v == "" {
			return "", ErrNoToken
		}
		return "", &Refusal{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Field: AuthorizationField,
			Message: "is not of the form \"Bearer <token>\"", Reason: "invalid"}
	}
	return tok, nil
}

// Check authenticates the Authorization header values of a request to
// route (a route pattern or subject, named in a refusal) and checks that
// the token's role allows one of needs. A refusal is a *Refusal.
func (a *Authorizer) Check(route string, authorization []string, needs ...Role) (Principal, *Refusal) {
	var p Principal
	tok, err := bearer(authorization)
	if err == nil {
		p, err = a.tokens.Authenticate(tok)
		if err == nil {
			if p.Role.AllowsAny(needs...) {
				return p, nil
			}
			return p, &Refusal{Status: http.StatusForbidden, Code: CodeForbidden, Reason: "forbidden",
				Message: fmt.Sprintf("token %q has role %s; %s needs %s", p.Name, p.Role, route, NeedsText(needs))}
		}
	}
	var ref *Refusal
	if errors.As(err, &ref) {
		return Principal{}, ref
	}
	msg := err.Error()
	switch {
	case errors.Is(err, ErrNoToken):
		msg = route + " needs a bearer token: send Authorization: Bearer <token> (journey token create makes one)"
	case errors.Is(err, ErrBadToken):
		msg = "the bearer token is not one this server knows"
	case errors.Is(err, ErrExpired) && p.Name != "":
		msg = fmt.Sprintf("token %q has expired; create a new one", p.Name)
	case errors.Is(err, ErrRevoked) && p.Name != "":
		msg = fmt.Sprintf("token %q was revoked", p.Name)
	}
	return Principal{}, &Refusal{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Field: AuthorizationField,
		Message: msg, Reason: Reason(err)}
}

// NeedsText names the roles that may: "analyst (or admin)"; a role that
// allows one of needs without being one of them is named too ("reader or
// auditor (or admin)": an auditor has the reader's reads).
func NeedsText(needs []Role) string {
	var names []string
	for _, r := range Roles {
		if r != Admin && r.AllowsAny(needs...) {
			names = append(names, string(r))
		}
	}
	if len(names) == 0 {
		return "admin"
	}
	return strings.Join(names, " or ") + " (or admin)"
}

// CountNATS counts a refusal of a NATS request on subject.
func (a *Authorizer) CountNATS(subject string, r *Refusal) {
	a.nats.WithLabelValues(subject, r.Reason).Inc()
}

// Route wraps h, the handler of the route pattern route, so that it serves
// only requests whose token has one of needs (Admin always may); it runs h
// with the Principal in the request's context. A refusal is answered with
// the JSON error body {"error":{"code","field","message"}}, 401 with
// WWW-Authenticate: Bearer.
func (a *Authorizer) Route(route string, h http.Handler, needs ...Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ref := a.Check(route, r.Header.Values("Authorization"), needs...)
		if ref != nil {
			a.http.WithLabelValues(route, ref.Reason).Inc()
			WriteRefusal(w, ref)
			return
		}
		h.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// CustomerRoute is Route for a route that reads the data of the customer
// named by its {id} path value: after a 2xx answer it calls
// OnCustomerRead.
func (a *Authorizer) CustomerRoute(route string, h http.Handler, needs ...Role) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.OnCustomerRead == nil {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 || sw.status/100 == 2 {
			p, _ := FromContext(r.Context())
			a.OnCustomerRead(p, r.PathValue("id"), route)
		}
	})
	return a.Route(route, inner, needs...)
}

// statusWriter keeps the status a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// errorReply is the JSON error body of the engine's HTTP surface.
type errorReply struct {
	Error struct {
		Code    string `json:"code"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

// Body is the refusal as the JSON error body.
func (r *Refusal) Body() []byte {
	var e errorReply
	e.Error.Code, e.Error.Field, e.Error.Message = r.Code, r.Field, r.Message
	b, _ := json.Marshal(e)
	return b
}

// WriteRefusal answers r as the JSON error body with its status.
func WriteRefusal(w http.ResponseWriter, r *Refusal) {
	if r.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="journey"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.Status)
	_, _ = w.Write(append(r.Body(), '\n'))
}
