package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/web"
)

// TestPagesRefuseWithoutRole: every page answers each role as the role
// table says (200, or 403 naming the role needed); without a cookie it
// sends the user to the login page, keeping where they were going.
func TestPagesRefuseWithoutRole(t *testing.T) {
	s := newSite(t, true)
	pages := []struct {
		path    string
		allowed []auth.Role
	}{
		{"/ui/", []auth.Role{auth.Reader, auth.Analyst, auth.Auditor, auth.Admin}},
		{"/ui/customers?q=cust-a", []auth.Role{auth.Reader, auth.Analyst, auth.Auditor, auth.Admin}},
		{"/ui/customers?stage=prospect", []auth.Role{auth.Analyst, auth.Admin}},
		{"/ui/customers/cust-alice", []auth.Role{auth.Reader, auth.Auditor, auth.Admin}},
		{"/ui/dashboard", []auth.Role{auth.Analyst, auth.Admin}},
		{"/ui/audit", []auth.Role{auth.Auditor, auth.Admin}},
	}
	for _, p := range pages {
		c := s.client(t)
		code, hdr, _ := get(t, c, s.srv.URL+p.path)
		if code != http.StatusSeeOther || hdr.Get("Location") != "/ui/login?next="+url.QueryEscape(p.path) {
			t.Errorf("%s without a cookie: %d %q, want 303 to the login page", p.path, code, hdr.Get("Location"))
		}
		for _, role := range auth.Roles {
			c := s.client(t)
			s.login(t, c, role)
			code, _, body := get(t, c, s.srv.URL+p.path)
			want := http.StatusForbidden
			if slices.Contains(p.allowed, role) {
				want = http.StatusOK
			}
			if code != want {
				t.Errorf("%s as %s: %d, want %d", p.path, role, code, want)
			}
			if want == http.StatusForbidden && !strings.Contains(body, "needs") {
				t.Errorf("%s as %s: the refusal does not say what is needed", p.path, role)
			}
		}
	}
	// Each refusal is counted by route and reason, as the API's are.
	for _, lv := range [][2]string{{"GET /ui/dashboard", "forbidden"}, {"GET /ui/audit", "forbidden"}} {
		if refused(t, s, lv[0], lv[1]) == 0 {
			t.Errorf("journey_http_refusals_total{route=%q,reason=%q} is 0", lv[0], lv[1])
		}
	}
	// The quarantine retry: admin only, and only with the page's CSRF token.
	for _, role := range []auth.Role{auth.Auditor, auth.Admin} {
		c := s.client(t)
		s.login(t, c, role)
		resp, err := c.PostForm(s.srv.URL+"/ui/audit/retry", url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("retry as %s without CSRF: %d, want 403", role, resp.StatusCode)
		}
	}
}

// refused is journey_http_refusals_total{route,reason} on the site's registry.
func refused(t *testing.T, s *site, route, reason string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "journey_http_refusals_total" {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if (l.GetName() == "route" && l.GetValue() != route) || (l.GetName() == "reason" && l.GetValue() != reason) {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// TestQuarantineRetryWithCSRF: the admin's retry button posts the page's
// CSRF token; the entry (still invalid) stays and the page says so.
func TestQuarantineRetryWithCSRF(t *testing.T) {
	s := newSite(t, true)
	c := s.client(t)
	s.login(t, c, auth.Admin)
	_, _, body := get(t, c, s.srv.URL+"/ui/audit")
	m := csrfField.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "Retry every entry") {
		t.Fatal("the admin's audit page has no retry form with a CSRF token")
	}
	resp, err := c.PostForm(s.srv.URL+"/ui/audit/retry", url.Values{"csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %d, want 303", resp.StatusCode)
	}
	_, _, body = get(t, c, s.srv.URL+resp.Header.Get("Location"))
	contains(t, "audit page after retry", body, "retried 1: appended 0, duplicates 0, still invalid 1", "Quarantine (1)")
	// An auditor sees the quarantine but no retry button.
	a := s.client(t)
	s.login(t, a, auth.Auditor)
	_, _, body = get(t, a, s.srv.URL+"/ui/audit")
	if strings.Contains(body, "Retry every entry") {
		t.Error("the auditor's audit page shows the admin's retry button")
	}
	contains(t, "auditor's audit page", body, "data.amount", "Head sequence", "Verify the whole chain now")
	// The verify button runs the walk.
	_, _, body = get(t, a, s.srv.URL+"/ui/audit?verify=1")
	contains(t, "audit page after verify", body, "The chain is intact")
}

// TestLoginCookie: the login form keeps the token in an HttpOnly,
// SameSite=Strict cookie for /ui/ (not Secure over plain HTTP); a bad
// token is refused on the form; log out clears it.
func TestLoginCookie(t *testing.T) {
	s := newSite(t, true)
	c := s.client(t)
	resp := s.login(t, c, auth.Reader)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == web.CookieName {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui/" || ck.Secure || ck.Value != s.tokens[auth.Reader] {
		t.Fatalf("cookie %+v, want HttpOnly SameSite=Strict Path=/ui/ holding the token", ck)
	}
	resp, err := c.PostForm(s.srv.URL+"/ui/login", url.Values{"token": {"not-a-token"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad token: %d, want 401", resp.StatusCode)
	}
	// An open redirect is not possible through next.
	resp, err = s.client(t).PostForm(s.srv.URL+"/ui/login", url.Values{"token": {s.tokens[auth.Reader]}, "next": {"//evil.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Location") != "/ui/" {
		t.Errorf("next //evil.example/: redirected to %q", resp.Header.Get("Location"))
	}
	resp, err = c.PostForm(s.srv.URL+"/ui/logout", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _, _ := get(t, c, s.srv.URL+"/ui/customers/cust-alice"); code != http.StatusSeeOther {
		t.Errorf("after logout: %d, want 303 to the login page", code)
	}
}

// TestPagesEscapeTouchpoints: text from touchpoints (a feedback comment,
// a profile trait, an order id, a quarantined input) is shown escaped,
// never as markup.
func TestPagesEscapeTouchpoints(t *testing.T) {
	s := newSite(t, false)
	c := s.client(t)
	code, _, body := get(t, c, s.srv.URL+"/ui/customers/cust-alice")
	if code != 200 {
		t.Fatalf("customer page: %d", code)
	}
	_, _, audit := get(t, c, s.srv.URL+"/ui/audit")
	for name, b := range map[string]string{"customer page": body, "audit page": audit} {
		for _, bad := range []string{"<script", "<img", "<b>bold", "<svg onload", "onerror=\""} {
			if strings.Contains(b, bad) {
				t.Errorf("%s holds %q unescaped", name, bad)
			}
		}
	}
	contains(t, "customer page", body, "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;", "&lt;img src=x onerror=")
	contains(t, "audit page", audit, "&lt;script&gt;")
}

// TestPagesOpenWithoutAuth: without access control (the loopback demo)
// the pages are open, as the API is; / goes to /ui/.
func TestPagesOpenWithoutAuth(t *testing.T) {
	s := newSite(t, false)
	c := s.client(t)
	if code, hdr, _ := get(t, c, s.srv.URL+"/"); code != http.StatusFound || hdr.Get("Location") != "/ui/" {
		t.Errorf("/: %d %q, want a redirect to /ui/", code, hdr.Get("Location"))
	}
	for _, p := range []string{"/ui/", "/ui/dashboard", "/ui/audit", "/ui/customers/cust-alice", "/ui/customers?stage=new"} {
		if code, hdr, _ := get(t, c, s.srv.URL+p); code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") ||
			!strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: %d %q, want 200 HTML with the CSP", p, code, hdr.Get("Content-Type"))
		}
	}
	if code, _, _ := get(t, c, s.srv.URL+"/ui/customers/nobody"); code != http.StatusNotFound {
		t.Errorf("unknown customer: %d, want 404", code)
	}
	if code, _, _ := get(t, c, s.srv.URL+"/ui/customers/cust-alice?as_of=soon"); code != http.StatusBadRequest {
		t.Errorf("bad as_of: %d, want 400", code)
	}
	// The API is still served beside the pages.
	if code, _, _ := get(t, c, s.srv.URL+"/v1/customers?prefix=cust-a"); code != 200 {
		t.Errorf("/v1/customers: %d", code)
	}
}

// TestCustomerPageReadIsLogged: a named token's read of a customer page
// is an access-log entry, as the API's reads are.
func TestCustomerPageReadIsLogged(t *testing.T) {
	s := newSite(t, true)
	c := s.client(t)
	s.login(t, c, auth.Reader)
	if code, _, _ := get(t, c, s.srv.URL+"/ui/customers/cust-alice"); code != 200 {
		t.Fatalf("customer page: %d", code)
	}
	if !slices.Contains(s.reads, "t-reader cust-alice GET /ui/customers/{id}") {
		t.Errorf("access log %q, want the reader's page read", s.reads)
	}
}

// TestCustomerPageContent: the page shows the derived facts, the churn
// reason in words, revenue per currency and a sentence per touchpoint;
// as of an earlier day it shows the page as it stood then.
func TestCustomerPageContent(t *testing.T) {
	s := newSite(t, false)
	c := s.client(t)
	_, _, body := get(t, c, s.srv.URL+"/ui/customers/cust-alice")
	contains(t, "customer page", body, "Customer <span class=\"id\">cust-alice</span>", "12.50 EUR", "1500 JPY",
		"Bought 2 items for 12.50 EUR (order <bdi>o-1</bdi>)", "Visited store <bdi>store-042</bdi>", "Complained about <bdi>delivery</bdi> (<bdi>high</bdi> severity); case <bdi>case-7</bdi>.",
		"Gave feedback: NPS 3", "since the last purchase; they usually buy every", "detractor", "Open complaint cases",
		`href="#case-case-7"`, "alice@example.com", "<summary>Event and record</summary>")
	_, _, then := get(t, c, s.srv.URL+"/ui/customers/cust-alice?as_of=2025-01-07")
	contains(t, "customer page as of 2025-01-07", then, "Bought 2 items for 12.50 EUR", `value="2025-01-07"`)
	if strings.Contains(then, "1500 JPY") || strings.Contains(then, "Complained") {
		t.Error("the page as of 2025-01-07 shows later events")
	}
	// Open (no auth) is every role: the tags link to their lists.
	contains(t, "customer page", body, `href="/ui/customers?segment=type%3Aangry"`, `href="/ui/customers?segment=flag%3Adetractor"`)
	// An email address finds its customer by the profile trait, any case.
	_, _, found := get(t, c, s.srv.URL+"/ui/customers?q=Alice%40Example.com")
	contains(t, "search by email", found, `href="/ui/customers/cust-alice"`, "with <bdi>email:Alice@Example.com</bdi>")
	if strings.Contains(found, "cust-00") {
		t.Error("search by email lists other customers")
	}
	_, _, referrer := get(t, c, s.srv.URL+"/ui/customers/cust-00")
	contains(t, "referrer's page", referrer, `Referred a new customer: <a href="/ui/customers/cust-alice"><bdi>cust-alice</bdi></a>`)
}

// TestTimelineKeepsTheNewest: a customer with more events than
// MaxTimeline shows the newest MaxTimeline, newest first, and says so.
func TestTimelineKeepsTheNewest(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 2,100 events")
	}
	s := newSite(t, false)
	appendVisits(t, s, "cust-busy", web.MaxTimeline+100)
	_, _, body := get(t, s.client(t), s.srv.URL+"/ui/customers/cust-busy")
	if n := strings.Count(body, `<li class="ev visit"`); n != web.MaxTimeline {
		t.Errorf("the timeline shows %d events, want %d", n, web.MaxTimeline)
	}
	contains(t, "busy customer's page", body, "The newest events are shown", "visit number 2099", "visit number 100")
	if strings.Contains(body, "visit number 99<") || strings.Contains(body, "visit number 99.") {
		t.Error("the timeline shows an event older than the newest MaxTimeline")
	}
	if i, j := strings.Index(body, "visit number 2099"), strings.Index(body, "visit number 100"); i > j {
		t.Error("the timeline is not newest first")
	}
}

// TestLoginCookieSecureOverTLS: over HTTPS the token cookie is Secure.
func TestLoginCookieSecureOverTLS(t *testing.T) {
	s := newSite(t, true)
	tlsSrv := httptest.NewTLSServer(s.srv.Config.Handler)
	defer tlsSrv.Close()
	c := tlsSrv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(tlsSrv.URL+"/ui/login", url.Values{"token": {s.tokens[auth.Reader]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("cookies over TLS %+v, want one Secure HttpOnly SameSite=Strict", cs)
	}
}

// A path with "//", "." or ".." segments outside /ui is the API's to
// answer as written (404 in JSON naming the clean path), as mounted for
// serve: never the ServeMux's 307 redirect to the cleaned path.
func TestMountUncleanPathsReachTheAPI(t *testing.T) {
	s := newSite(t, true)
	c := s.client(t)
	for _, p := range []string{"/v1//customers", "/v1/customers/cust-alice//events", "/v1/./segments", "/v1/customers/x/../cust-alice"} {
		for _, tok := range []string{"", s.tokens[auth.Admin]} {
			req, _ := http.NewRequest("GET", s.srv.URL+p, nil)
			req.URL.Opaque = p // send the path as written
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" ||
				!strings.Contains(string(b), `"code":"not_found"`) || !strings.Contains(string(b), "taken as written") {
				t.Errorf("GET %s (token %v): %d, Location %q, %s", p, tok != "", resp.StatusCode, resp.Header.Get("Location"), b)
			}
		}
	}
	// The page and the redirects to it still work.
	if code, hdr, _ := get(t, c, s.srv.URL+"/"); code != http.StatusFound || hdr.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d, Location %q", code, hdr.Get("Location"))
	}
	if code, hdr, _ := get(t, c, s.srv.URL+"/ui"); code != http.StatusFound || hdr.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d, Location %q", code, hdr.Get("Location"))
	}
	if code, _, _ := get(t, c, s.srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: %d", code)
	}
}
