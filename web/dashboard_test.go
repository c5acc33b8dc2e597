package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/web"
)

var customersRe = regexp.MustCompile(`(\d+) customers as of`)

func dashboardCustomers(t *testing.T, c *http.Client, srv string) (int, string) {
	t.Helper()
	code, _, body := get(t, c, srv+"/ui/dashboard")
	if code != http.StatusOK {
		t.Fatalf("dashboard: %d %s", code, body)
	}
	m := customersRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the dashboard does not count its customers:\n%s", body)
	}
	n, _ := strconv.Atoi(m[1])
	return n, body
}

// TestDashboardFromKeptOverview: the dashboard of now is the overview the
// keeper holds: many requests make no pass over the customers (the pass
// counter stays), the page says when it was counted, and a new customer's
// event shows on it within the documented staleness (MinInterval, 2 s by
// default, plus a poll and the pass) without a request asking for it.
func TestDashboardFromKeptOverview(t *testing.T) {
	s := newSite(t, false)
	ui := web.New(web.Options{Store: s.store, Views: s.views})
	defer ui.Close()
	srv := httptest.NewServer(ui)
	defer srv.Close()
	c := s.client(t)
	n0, body := dashboardCustomers(t, c, srv.URL)
	contains(t, "the dashboard", body, "Counted at", "recounted in the background", "Events per day", "New and lost customers")
	time.Sleep(2500 * time.Millisecond) // past MinInterval: nothing changed, no pass
	p0 := ui.OverviewPasses()
	for range 50 {
		if n, _ := dashboardCustomers(t, c, srv.URL); n != n0 {
			t.Fatalf("the dashboard counts %d customers, then %d, with no event between", n0, n)
		}
	}
	if p := ui.OverviewPasses(); p != p0 || p != 1 {
		t.Fatalf("51 dashboard requests: %d passes (%d before the last 50), want the keeper's one", p, p0)
	}

	kept := request(t, "kept-1", "web/1", journey.KindVisit, "cust-kept", t0.Add(44*24*time.Hour), map[string]any{"channel": "web"})
	if _, err := s.store.Append(context.Background(), []eventstore.Request{kept}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.views.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		n, body := dashboardCustomers(t, c, srv.URL)
		if n == n0+1 {
			if !strings.Contains(body, "log sequence "+strconv.FormatUint(s.views.Checkpoint(), 10)) {
				t.Errorf("the dashboard does not name the views' checkpoint %d", s.views.Checkpoint())
			}
			break
		}
		if time.Since(start) > 2*time.Second+3*time.Second {
			t.Fatalf("the new customer is not on the dashboard %v after its event (documented: within 2 s and a pass)", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the new customer showed on the dashboard after %v", time.Since(start).Round(time.Millisecond))
	if p := ui.OverviewPasses(); p != 2 {
		t.Errorf("%d passes, want 2 (the first and the one after the event)", p)
	}
	// As of a past date the page says it was counted on request.
	code, _, body := get(t, c, srv.URL+"/ui/dashboard?as_of=2025-01-10")
	if code != http.StatusOK || !strings.Contains(body, "Counted for this date on request") {
		t.Errorf("as of 2025-01-10: %d", code)
	}
}

// TestAuditShowsIngest: the audit page shows the ingest's position and
// lag from Options.Ingest, the views' distance from the log's head, and
// the append and fold rates from the sampler.
func TestAuditShowsIngest(t *testing.T) {
	s := newSite(t, false)
	ui := web.New(web.Options{Store: s.store, Views: s.views, Ingest: func() web.IngestStatus {
		return web.IngestStatus{StreamPosition: 4242, Pending: 17, AckPending: 3, Problem: "consumer not found"}
	}})
	defer ui.Close()
	srv := httptest.NewServer(ui)
	defer srv.Close()
	c := s.client(t)
	_, _, body := get(t, c, srv.URL+"/ui/audit")
	contains(t, "the audit page", body, "4242", `<dd id="pending">17</dd>`, "consumer not found", "0 behind the log", "reload shortly")
	time.Sleep(1100 * time.Millisecond)
	appendVisits(t, s, "cust-rates", 50)
	_, _, body = get(t, c, srv.URL+"/ui/audit")
	m := regexp.MustCompile(`<td>last minute \([^)]*\)</td><td>([0-9.]+)</td><td>([0-9.]+)</td>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no rates on the audit page:\n%s", body)
	}
	if app, _ := strconv.ParseFloat(m[1], 64); app <= 0 || app > 50 {
		t.Errorf("append rate %s events/s after 50 events in about a second", m[1])
	}
	if fold, _ := strconv.ParseFloat(m[2], 64); fold <= 0 {
		t.Errorf("fold rate %s events/s after 50 events folded", m[2])
	}
	// Without Options.Ingest the page says the lag is not reported.
	ui2 := web.New(web.Options{Store: s.store, Views: s.views})
	defer ui2.Close()
	w := httptest.NewRecorder()
	ui2.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ui/audit", nil))
	contains(t, "the audit page without ingest", w.Body.String(), "lag is not reported here")
}
