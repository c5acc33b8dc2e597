package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/natstest"
)

// appendDays appends one visit of customer per day from 2025-05-01 on,
// n of them, and returns their times.
func appendDays(t *testing.T, st *eventstore.Store, customer string, n int) []time.Time {
	t.Helper()
	var raws [][]byte
	var times []time.Time
	for i := range n {
		at := time.Date(2025, 5, 1+i, 10, 0, 0, 0, time.UTC)
		raw, err := journey.NewEvent(fmt.Sprintf("%s-%d", customer, i), "web/1", journey.KindVisit, customer, at,
			map[string]any{"channel": "web"})
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
		times = append(times, at)
	}
	appendRaws(t, st, raws)
	return times
}

func eventsPage(t *testing.T, url string) handlers.EventsPage {
	t.Helper()
	code, _, body := httpGet(t, url)
	var p handlers.EventsPage
	if err := json.Unmarshal(body, &p); code != 200 || err != nil {
		t.Fatalf("%s: %d %.300s (%v)", url, code, body, err)
	}
	return p
}

// TestEventsPageChunkBoundary: a page whose limit ends on a read chunk
// (16 records) still says where to go on when more events follow.
func TestEventsPageChunkBoundary(t *testing.T) {
	st := openStore(t)
	appendDays(t, st, "cust-c", 17)
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st}))
	defer srv.Close()
	for _, limit := range []int{16, 15, 1} {
		p := eventsPage(t, fmt.Sprintf("%s/v1/customers/cust-c/events?limit=%d", srv.URL, limit))
		if len(p.Events) != limit || p.NextAfter != uint64(limit) {
			t.Errorf("limit %d of 17: %d events, next_after %d, want %d and %d", limit, len(p.Events), p.NextAfter, limit, limit)
		}
	}
	if p := eventsPage(t, srv.URL+"/v1/customers/cust-c/events?limit=17"); len(p.Events) != 17 || p.NextAfter != 0 {
		t.Errorf("limit 17 of 17: %d events, next_after %d", len(p.Events), p.NextAfter)
	}
}

// wantJSONError checks an answer is the JSON error body with code.
func wantJSONError(t *testing.T, what string, code int, hdr http.Header, body []byte, wantStatus int, wantCode string) handlers.ErrorBody {
	t.Helper()
	var e handlers.ErrorReply
	if err := json.Unmarshal(body, &e); err != nil || code != wantStatus || string(e.Error.Code) != wantCode || e.Error.Message == "" {
		t.Fatalf("%s: %d %q %s (%v), want %d with the JSON error %s", what, code, hdr.Get("Content-Type"), body, err, wantStatus, wantCode)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	for _, bad := range []string{"projections: ", "eventstore: ", "handlers: ", "json: ", "/tmp/", "handlers."} {
		if strings.Contains(e.Error.Message, bad) {
			t.Errorf("%s: message %q shows %q", what, e.Error.Message, bad)
		}
	}
	return e.Error
}

func do(t *testing.T, method, url string, hdr http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestHTTPErrorsAreJSON: an unknown path (404), a method a path does not
// take (405, with Allow) and the other refusals answer with the JSON error
// body, and no message names a Go package or an absolute path.
func TestHTTPErrorsAreJSON(t *testing.T) {
	st := openStore(t)
	appendDays(t, st, "cust-e", 2)
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st}))
	defer srv.Close()

	code, hdr, body := do(t, "GET", srv.URL+"/v1/nope", nil)
	wantJSONError(t, "GET /v1/nope", code, hdr, body, 404, "not_found")
	code, hdr, body = do(t, "GET", srv.URL+"/", nil)
	wantJSONError(t, "GET /", code, hdr, body, 404, "not_found")

	code, hdr, body = do(t, "DELETE", srv.URL+"/v1/events", nil)
	e := wantJSONError(t, "DELETE /v1/events", code, hdr, body, 405, "method_not_allowed")
	if hdr.Get("Allow") != "POST" || !strings.Contains(e.Message, "POST") {
		t.Errorf("DELETE /v1/events: Allow %q, message %q", hdr.Get("Allow"), e.Message)
	}
	code, hdr, body = do(t, "POST", srv.URL+"/v1/customers/cust-e", nil)
	wantJSONError(t, "POST /v1/customers/cust-e", code, hdr, body, 405, "method_not_allowed")
	if !strings.Contains(hdr.Get("Allow"), "GET") {
		t.Errorf("POST /v1/customers/cust-e: Allow %q", hdr.Get("Allow"))
	}
	code, hdr, body = do(t, "GET", srv.URL+"/v1/admin/rebuild", nil)
	wantJSONError(t, "GET /v1/admin/rebuild", code, hdr, body, 405, "method_not_allowed")

	// The endpoints still route (path values included).
	if p := eventsPage(t, srv.URL+"/v1/customers/cust-e/events"); len(p.Events) != 2 {
		t.Fatalf("events: %d", len(p.Events))
	}
	// Other refusals: the same body.
	code, hdr, body = do(t, "GET", srv.URL+"/v1/customers/nobody/events", nil)
	wantJSONError(t, "unknown customer's events", code, hdr, body, 404, "not_found")
	code, hdr, body = do(t, "GET", srv.URL+"/v1/customers/cust-e/events?as_of=yesterday", nil)
	if e := wantJSONError(t, "bad as_of", code, hdr, body, 400, "invalid_field"); e.Field != "as_of" {
		t.Errorf("bad as_of: field %q", e.Field)
	}
	code, hdr, body = do(t, "GET", srv.URL+"/v1/customers/cust-e", nil) // no views here
	wantJSONError(t, "customer without views", code, hdr, body, 503, "internal")
	code, hdr, body = do(t, "POST", srv.URL+"/v1/admin/rebuild", nil)
	wantJSONError(t, "rebuild without views", code, hdr, body, 503, "internal")
}

// TestEventsAsOf: as_of on the events page (HTTP and NATS) keeps only the
// events with time ≤ as_of, by event time, not log order (a late event
// appended last is in), pages them with next_after, and a customer with
// no event by then is not found.
func TestEventsAsOf(t *testing.T) {
	st := openStore(t)
	appendDays(t, st, "cust-a", 10) // 2025-05-01 … 05-10, versions 1–10
	late, err := journey.NewEvent("cust-a-late", "web/1", journey.KindVisit, "cust-a",
		time.Date(2025, 5, 2, 12, 0, 0, 0, time.UTC), map[string]any{"channel": "web"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := journey.Decode(late, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(context.Background(), []eventstore.Request{{Event: ev, ExpectedVersion: eventstore.AnyVersion}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st}))
	defer srv.Close()
	versions := func(p handlers.EventsPage) []uint64 {
		var vs []uint64
		for _, e := range p.Events {
			vs = append(vs, e.Version)
		}
		return vs
	}
	// 2025-05-05: the end of that day, UTC.
	p := eventsPage(t, srv.URL+"/v1/customers/cust-a/events?as_of=2025-05-05")
	if got := versions(p); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 11}) || p.NextAfter != 0 {
		t.Fatalf("as_of 2025-05-05: versions %v next_after %d", got, p.NextAfter)
	}
	p = eventsPage(t, srv.URL+"/v1/customers/cust-a/events?as_of=2025-05-03T10:00:00Z&limit=2")
	if got := versions(p); !slices.Equal(got, []uint64{1, 2}) || p.NextAfter != 2 {
		t.Fatalf("as_of 05-03T10 limit 2: versions %v next_after %d", got, p.NextAfter)
	}
	p = eventsPage(t, srv.URL+"/v1/customers/cust-a/events?as_of=2025-05-03T10:00:00Z&limit=2&after=2")
	if got := versions(p); !slices.Equal(got, []uint64{3, 11}) || p.NextAfter != 0 {
		t.Fatalf("as_of 05-03T10 after 2: versions %v next_after %d", got, p.NextAfter)
	}
	code, hdr, body := do(t, "GET", srv.URL+"/v1/customers/cust-a/events?as_of=2025-04-30", nil)
	wantJSONError(t, "as_of before the first event", code, hdr, body, 404, "not_found")

	// NATS: the same.
	ns := natstest.RunServer(t)
	svc, err := handlers.ServeQueries(natstest.Connect(t, ns), handlers.Queries{Store: st}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	client := natstest.Connect(t, ns)
	m, err := client.Request("journey.query.events", []byte(`{"id":"cust-a","as_of":"2025-05-05"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var np handlers.EventsPage
	if err := json.Unmarshal(m.Data, &np); err != nil || !slices.Equal(versions(np), []uint64{1, 2, 3, 4, 5, 11}) {
		t.Fatalf("NATS as_of: %s (%v)", m.Data, err)
	}
	m, err = client.Request("journey.query.events", []byte(`{"id":"cust-a","as_of":"soon"}`), 5*time.Second)
	if err != nil || m.Header.Get("Nats-Service-Error-Code") != "400" {
		t.Fatalf("NATS bad as_of: %v %v %s", err, m.Header, m.Data)
	}
	// A query member of the wrong type names the member, not a Go type.
	m, err = client.Request("journey.query.events", []byte(`{"id":5}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var er handlers.ErrorReply
	if err := json.Unmarshal(m.Data, &er); err != nil || er.Error.Field != "id" || strings.Contains(er.Error.Message, "json: ") ||
		strings.Contains(er.Error.Message, "wireQuery") || m.Header.Get("Nats-Service-Error-Code") != "400" {
		t.Fatalf("NATS {\"id\":5}: %v %s", m.Header, m.Data)
	}
}
