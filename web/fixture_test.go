package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/web"
)

// The hostile text the touchpoints carry: were it not escaped, it would
// set the page's title (and CSP would log a violation).
const (
	xssComment = `<script>document.title="pwned"</script><b>bold</b>`
	xssTrait   = `<img src=x onerror="document.title='pwned'">`
	xssOrder   = `"><svg onload="document.title='pwned'">`
)

// site is a real engine surface for the pages: a log and views on disk
// with a few customers, the JSON API and the web page mounted as serve
// mounts them, and a token per role.
type site struct {
	srv    *httptest.Server
	tokens map[auth.Role]string
	store  *eventstore.Store
	views  *projections.Views
	reads  []string // access log: OnCustomerRead calls
	reg    *prometheus.Registry
}

var t0 = time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)

func newSite(t testing.TB, withAuth bool) *site {
	t.Helper()
	dir := t.TempDir()
	st, err := eventstore.Open(filepath.Join(dir, "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s := &site{store: st, tokens: map[auth.Role]string{}}
	n := 0
	add := func(kind journey.Kind, cust string, at time.Time, data map[string]any) {
		n++
		raw, err := journey.NewEvent(fmt.Sprintf("ev-%d", n), "pos/store-042/till-1", kind, cust, at, data)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := journey.Decode(raw, at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(context.Background(), []eventstore.Request{{Event: ev, ExpectedVersion: eventstore.AnyVersion}}); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	add(journey.KindProfile, "cust-alice", t0, map[string]any{"kind": "individual", "country": "DE",
		"traits": map[string]any{"email": "alice@example.com", "nickname": xssTrait}})
	add(journey.KindVisit, "cust-alice", t0.Add(time.Hour), map[string]any{"channel": "store", "store_id": "store-042"})
	add(journey.KindPurchase, "cust-alice", t0.Add(2*time.Hour), map[string]any{"order_id": "o-1", "amount": "12.50", "currency": "EUR", "items": 2})
	add(journey.KindPurchase, "cust-alice", t0.Add(30*day), map[string]any{"order_id": xssOrder, "amount": "1500", "currency": "JPY", "items": 1})
	add(journey.KindComplaint, "cust-alice", t0.Add(31*day), map[string]any{"case_id": "case-7", "severity": "high", "category": "delivery"})
	add(journey.KindFeedback, "cust-alice", t0.Add(32*day), map[string]any{"nps": 3, "comment": xssComment})
	for i := range 12 {
		c := fmt.Sprintf("cust-%02d", i)
		add(journey.KindVisit, c, t0.Add(time.Duration(i)*day), map[string]any{"channel": "web"})
		for k := range i % 4 {
			add(journey.KindPurchase, c, t0.Add(time.Duration(i*3+k*7)*day), map[string]any{"order_id": fmt.Sprintf("o-%d-%d", i, k),
				"amount": fmt.Sprintf("%d.00", 10+i*5), "currency": "EUR"})
		}
	}
	add(journey.KindReferral, "cust-00", t0.Add(40*day), map[string]any{"referred": "cust-alice"})
	if _, err := st.Quarantine(context.Background(), eventstore.QuarantineEntry{Code: journey.CodeInvalidJSON, Field: "data.amount",
		Reason: "not a number: " + xssComment, Origin: "http", Raw: []byte(`{"bad":"` + xssComment + `"}`)}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(45 * day)
	v, err := projections.Open(filepath.Join(dir, "views"), st, &projections.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	if _, err := v.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.views = v
	var authz *auth.Authorizer
	if withAuth {
		tk, err := auth.OpenTokens(filepath.Join(dir, "tokens.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range auth.Roles {
			if s.tokens[r], _, err = tk.Create("t-"+string(r), r, 0, ""); err != nil {
				t.Fatal(err)
			}
		}
		s.reg = prometheus.NewRegistry()
		if authz, err = auth.NewAuthorizer(tk, s.reg); err != nil {
			t.Fatal(err)
		}
		authz.OnCustomerRead = func(p auth.Principal, customer, route string) {
			s.reads = append(s.reads, p.Name+" "+customer+" "+route)
		}
	}
	api := handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st, Views: v, Auth: authz})
	ui := web.New(web.Options{Store: st, Views: v, Auth: authz, Clock: func() time.Time { return now }})
	s.srv = httptest.NewServer(web.Mount(api, ui))
	t.Cleanup(s.srv.Close)
	return s
}

// client is an HTTP client with a cookie jar that does not follow
// redirects (the tests look at them).
func (s *site) client(t testing.TB) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login posts the role's token to the login form with c.
func (s *site) login(t testing.TB, c *http.Client, role auth.Role) *http.Response {
	t.Helper()
	resp, err := c.PostForm(s.srv.URL+"/ui/login", url.Values{"token": {s.tokens[role]}, "next": {"/ui/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func get(t testing.TB, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func contains(t testing.TB, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not show %q", what, w)
		}
	}
}

// appendVisits appends n store visits of cust (store_id "visit number i"),
// an hour apart, and lets the views catch up.
func appendVisits(t testing.TB, s *site, cust string, n int) {
	t.Helper()
	var reqs []eventstore.Request
	for i := range n {
		reqs = append(reqs, request(t, fmt.Sprintf("busy-%d", i), "web/1", journey.KindVisit, cust, t0.Add(time.Duration(i)*time.Hour),
			map[string]any{"channel": "store", "store_id": fmt.Sprintf("visit number %d", i)}))
	}
	if _, err := s.store.Append(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.views.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// request is the append request of a new event (journey.NewEvent from
// source at time at), decoded as the engine decodes it.
func request(t testing.TB, id, source string, kind journey.Kind, cust string, at time.Time, data map[string]any) eventstore.Request {
	t.Helper()
	raw, err := journey.NewEvent(id, source, kind, cust, at, data)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := journey.Decode(raw, at)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion}
}
