package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/internal/natstest"
)

// authRig is a real HTTP surface with access control: a store and views
// on disk, the appender, the metrics and a token file with one token per
// role, a writer limited to source "pos/", an expired and a revoked one.
type authRig struct {
	srv     *httptest.Server
	tokens  map[string]string // by name: role names, "till" (writer, pos/), "expired", "revoked"
	authz   *auth.Authorizer
	logs    *bytes.Buffer
	appends atomic.Int64
	reads   []string // OnCustomerRead calls: "name customer route"
	mu      sync.Mutex
	tk      *auth.Tokens
	app     *Appender
	q       Queries
}

func newAuthRig(t *testing.T) *authRig {
	t.Helper()
	st, v := openViews(t)
	r := &authRig{tokens: map[string]string{}, logs: &bytes.Buffer{}}
	tk, err := auth.OpenTokens(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	r.tk = tk
	now := time.Now()
	tk.SetClock(func() time.Time { return now })
	for _, role := range auth.Roles {
		if r.tokens[string(role)], _, err = tk.Create("t-"+string(role), role, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if r.tokens["till"], _, err = tk.Create("till-1", auth.Writer, 0, "pos/"); err != nil {
		t.Fatal(err)
	}
	if r.tokens["expired"], _, err = tk.Create("old", auth.Admin, time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if r.tokens["revoked"], _, err = tk.Create("gone", auth.Admin, 0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Revoke("gone"); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Hour)
	tk.SetClock(func() time.Time { return later })

	m := NewMetrics()
	if r.authz, err = auth.NewAuthorizer(tk, m.Registry); err != nil {
		t.Fatal(err)
	}
	r.authz.OnCustomerRead = func(p auth.Principal, customer, route string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.reads = append(r.reads, p.Name+" "+customer+" "+route)
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.app = NewAppender(st, AppendOptions{Metrics: m, Logger: log, Auth: r.authz})
	r.q = Queries{Store: st, Views: v, Logger: log, Auth: r.authz}
	r.srv = httptest.NewServer(NewHTTPHandler(HTTPOptions{Store: st, Views: v, Appender: r.app, Metrics: m,
		Logger: log, Auth: r.authz}))
	t.Cleanup(r.srv.Close)
	return r
}

// do sends method path (with an event body for POSTs to /v1/events) with
// the token named who ("" none) and returns the status and body.
func (r *authRig) do(t *testing.T, method, path, who string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+r.tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (r *authRig) event(t *testing.T, source string) []byte {
	t.Helper()
	n := r.appends.Add(1)
	raw, err := journey.NewEvent(fmt.Sprintf("auth-%d", n), source, journey.KindVisit, "cust-0",
		time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC), map[string]any{"channel": "web"})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// errorOf decodes the JSON error body.
func errorOf(t *testing.T, b []byte) ErrorBody {
	t.Helper()
	var e ErrorReply
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not the JSON error body: %s (%v)", b, err)
	}
	return e.Error
}

// TestAuthEveryRouteEveryRole: each route of the HTTP surface answers
// each role as the route table says — allowed with its usual status,
// refused with 403 forbidden (a role without the right) or 401
// unauthorized (no token), both as the JSON error body; admin may do
// everything; /healthz and /readyz need nothing.
func TestAuthEveryRouteEveryRole(t *testing.T) {
	r := newAuthRig(t)
	all := []string{"writer", "reader", "analyst", "auditor", "admin"}
	routes := []struct {
		method, path string
		allowed      []string // roles; nil: open to everyone, tokens or not
		ok           int
	}{
		{"GET", "/healthz", nil, 200},
		{"GET", "/readyz", nil, 200},
		{"GET", "/metrics", []string{"analyst", "auditor", "admin"}, 200},
		{"POST", "/v1/events", []string{"writer", "admin"}, 201},
		{"GET", "/v1/customers/cust-0", []string{"reader", "auditor", "admin"}, 200},
		{"GET", "/v1/customers/cust-0/events", []string{"reader", "auditor", "admin"}, 200},
		{"GET", "/v1/segments", []string{"analyst", "admin"}, 200},
		{"GET", "/v1/nps", []string{"analyst", "admin"}, 200},
		{"GET", "/v1/export/customers", []string{"analyst", "admin"}, 200},
		{"GET", "/v1/verify", []string{"auditor", "admin"}, 200},
		{"GET", "/v1/export/events", []string{"auditor", "admin"}, 200},
		{"GET", "/v1/quarantine", []string{"auditor", "admin"}, 200},
		{"POST", "/v1/admin/rebuild", []string{"admin"}, 200},
	}
	for _, rt := range routes {
		for _, who := range append([]string{""}, all...) {
			var body []byte
			if rt.path == "/v1/events" {
				body = r.event(t, "web/1")
			}
			code, hdr, b := r.do(t, rt.method, rt.path, who, body)
			name := fmt.Sprintf("%s %s as %q", rt.method, rt.path, who)
			switch {
			case rt.allowed == nil || slices.Contains(rt.allowed, who):
				if code != rt.ok {
					t.Errorf("%s: %d %s, want %d", name, code, b, rt.ok)
				}
			case who == "":
				e := errorOf(t, b)
				if code != 401 || e.Code != auth.CodeUnauthorized || e.Field != "header:Authorization" ||
					!strings.Contains(e.Message, "needs a bearer token") || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: %d %s %q, want 401 unauthorized with WWW-Authenticate", name, code, b, hdr.Get("WWW-Authenticate"))
				}
			default:
				e := errorOf(t, b)
				if code != 403 || e.Code != auth.CodeForbidden || !strings.Contains(e.Message, "has role "+who) {
					t.Errorf("%s: %d %s, want 403 forbidden naming the role", name, code, b)
				}
			}
		}
	}
	// An unknown path stays 404 for everyone (the mux's own answer).
	if code, _, _ := r.do(t, "GET", "/v1/nothing", "", nil); code != 404 {
		t.Errorf("unknown path: %d, want 404", code)
	}
}

// TestAuthBadTokensRefusedCountedNeverShown: an unknown, an expired and a
// revoked token, and an Authorization that is not Bearer, are 401 with
// the reason's message; every refusal is counted by route pattern and
// reason; no token's text is in any answer, the metrics or the log.
func TestAuthBadTokensRefusedCountedNeverShown(t *testing.T) {
	r := newAuthRig(t)
	r.tokens["unknown"] = "jy_" + strings.Repeat("A", 43)
	for who, want := range map[string]string{"unknown": "not one this server knows", "expired": `token "old" has expired`,
		"revoked": `token "gone" was revoked`} {
		code, _, b := r.do(t, "GET", "/v1/customers/cust-0", who, nil)
		if e := errorOf(t, b); code != 401 || e.Code != auth.CodeUnauthorized || !strings.Contains(e.Message, want) {
			t.Errorf("%s token: %d %s, want 401 %q", who, code, b, want)
		}
		if strings.Contains(string(b), r.tokens[who]) {
			t.Errorf("%s: the answer shows the token: %s", who, b)
		}
	}
	req, _ := http.NewRequest("GET", r.srv.URL+"/v1/segments", nil)
	req.Header.Set("Authorization", "Basic "+r.tokens["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if e := errorOf(t, b); resp.StatusCode != 401 || e.Field != "header:Authorization" || strings.Contains(string(b), r.tokens["admin"]) {
		t.Errorf("Basic: %d %s", resp.StatusCode, b)
	}
	r.do(t, "GET", "/v1/verify", "reader", nil)
	r.do(t, "POST", "/v1/events", "", r.event(t, "web/1"))

	_, _, metrics := r.do(t, "GET", "/metrics", "admin", nil)
	for _, want := range []string{
		`journey_http_refusals_total{reason="expired",route="GET /v1/customers/{id}"} 1`,
		`journey_http_refusals_total{reason="revoked",route="GET /v1/customers/{id}"} 1`,
		`journey_http_refusals_total{reason="invalid",route="GET /v1/customers/{id}"} 1`,
		`journey_http_refusals_total{reason="invalid",route="GET /v1/segments"} 1`,
		`journey_http_refusals_total{reason="forbidden",route="GET /v1/verify"} 1`,
		`journey_http_refusals_total{reason="missing",route="POST /v1/events"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for who, tok := range r.tokens {
		if strings.Contains(string(metrics), tok) {
			t.Errorf("/metrics shows the %s token", who)
		}
		if strings.Contains(r.logs.String(), tok) {
			t.Errorf("the log shows the %s token", who)
		}
	}
}

// TestAuthWriterSourcePrefix: a writer token limited to "pos/" appends
// events of pos/… sources and is refused 403 for another source, naming
// the field and the rule; nothing of the refused event is stored or
// quarantined. Over journey.append the same.
func TestAuthWriterSourcePrefix(t *testing.T) {
	r := newAuthRig(t)
	if code, _, b := r.do(t, "POST", "/v1/events", "till", r.event(t, "pos/store-1")); code != 201 {
		t.Fatalf("pos/ event: %d %s", code, b)
	}
	before := r.app.store.QuarantineCount()
	head, _ := r.app.store.Head()
	code, _, b := r.do(t, "POST", "/v1/events", "till", r.event(t, "web/1"))
	e := errorOf(t, b)
	if code != 403 || e.Code != auth.CodeForbidden || e.Field != "source" ||
		!strings.Contains(e.Message, `"web/1"`) || !strings.Contains(e.Message, `source starts with "pos/"`) {
		t.Errorf("web/1 event by the till: %d %s, want 403 naming source and the prefix", code, b)
	}
	if h, _ := r.app.store.Head(); h != head || r.app.store.QuarantineCount() != before {
		t.Errorf("the refused event was kept: head %d→%d, quarantine %d→%d", head, h, before, r.app.store.QuarantineCount())
	}
	// An unlimited writer may append any source.
	if code, _, b := r.do(t, "POST", "/v1/events", "writer", r.event(t, "web/1")); code != 201 {
		t.Errorf("writer: %d %s", code, b)
	}
}

// TestAuthCustomerReadHook: OnCustomerRead is called after each 2xx read
// of one customer, with the token's name, the customer and the route
// pattern — not for a refusal, not for an error answer, not for other routes.
func TestAuthCustomerReadHook(t *testing.T) {
	r := newAuthRig(t)
	r.do(t, "GET", "/v1/customers/cust-1", "reader", nil)
	r.do(t, "GET", "/v1/customers/cust-2/events", "auditor", nil)
	r.do(t, "GET", "/v1/customers/cust-1", "analyst", nil)        // 403
	r.do(t, "GET", "/v1/customers/nobody", "reader", nil)         // 404
	r.do(t, "GET", "/v1/customers/cust-1?as_of=x", "reader", nil) // 400
	r.do(t, "GET", "/v1/segments", "admin", nil)
	want := []string{"t-reader cust-1 GET /v1/customers/{id}", "t-auditor cust-2 GET /v1/customers/{id}/events"}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(r.reads, want) {
		t.Errorf("OnCustomerRead calls %q, want %q", r.reads, want)
	}
}

// TestAuthNATS: with Auth, the NATS query endpoints and journey.append
// answer only requests whose Authorization header holds a token of the
// right role: no token is error code 401, a role without the right 403,
// with the JSON error body; the right role is served.
func TestAuthNATS(t *testing.T) {
	r := newAuthRig(t)
	ns := natstest.RunServer(t)
	nc := natstest.Connect(t, ns)
	svc, err := ServeQueries(nc, r.q, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	asvc, err := r.app.Serve(nc, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = asvc.Stop() })
	client := natstest.Connect(t, ns)
	ask := func(subject, who string, data []byte) (string, []byte) {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = data
		if who != "" {
			m.Header.Set("Authorization", "Bearer "+r.tokens[who])
		}
		reply, err := client.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatalf("%s as %q: %v", subject, who, err)
		}
		return reply.Header.Get("Nats-Service-Error-Code"), reply.Data
	}
	cases := []struct {
		subject string
		data    func() []byte
		allowed []string
	}{
		{"journey.query.customer", func() []byte { return []byte(`{"id":"cust-0"}`) }, []string{"reader", "auditor", "admin"}},
		{"journey.query.events", func() []byte { return []byte(`{"id":"cust-0"}`) }, []string{"reader", "auditor", "admin"}},
		{"journey.query.segments", func() []byte { return []byte(`{}`) }, []string{"analyst", "admin"}},
		{"journey.append", func() []byte { return r.event(t, "pos/1") }, []string{"writer", "till", "admin"}},
	}
	for _, c := range cases {
		for _, who := range []string{"", "writer", "till", "reader", "analyst", "auditor", "admin", "expired", "revoked"} {
			code, b := ask(c.subject, who, c.data())
			name := fmt.Sprintf("%s as %q", c.subject, who)
			switch {
			case slices.Contains(c.allowed, who):
				if code != "" || bytes.Contains(b, []byte(`"error"`)) {
					t.Errorf("%s: code %q %s, want served", name, code, b)
				}
			case who == "" || who == "expired" || who == "revoked":
				if e := errorOf(t, b); code != "401" || e.Code != auth.CodeUnauthorized {
					t.Errorf("%s: code %q %s, want 401", name, code, b)
				}
			default:
				if e := errorOf(t, b); code != "403" || e.Code != auth.CodeForbidden {
					t.Errorf("%s: code %q %s, want 403", name, code, b)
				}
			}
			if tok := r.tokens[who]; tok != "" && bytes.Contains(b, []byte(tok)) {
				t.Errorf("%s: the reply shows the token", name)
			}
		}
	}
	// The till's prefix holds on journey.append too.
	code, b := ask("journey.append", "till", r.event(t, "web/1"))
	if e := errorOf(t, b); e.Code != auth.CodeForbidden || e.Field != "source" {
		t.Errorf("till, web/1 over journey.append: code %q %s, want forbidden on source", code, b)
	}
	for who, tok := range r.tokens {
		if strings.Contains(r.logs.String(), tok) {
			t.Errorf("the log shows the %s token", who)
		}
	}
}
