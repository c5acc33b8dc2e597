package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/natstest"
	"github.com/journey-cdp/journey/projections"
)

func appendRaw(t *testing.T, st *eventstore.Store, v *projections.Views, raw []byte) {
	t.Helper()
	ev, err := journey.Decode(raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Append(context.Background(), []eventstore.Request{{Event: ev, ExpectedVersion: eventstore.AnyVersion}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if _, err := v.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func getWith(t *testing.T, url string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestCustomerETag: GET /v1/customers/{id} carries an ETag; If-None-Match
// with it (also weak, also in a list, also *) answers 304 without a body;
// a new event by as_of changes the answer and its ETag, so the old tag
// gets the new answer.
func TestCustomerETag(t *testing.T) {
	st, v := openViews(t)
	srv := httptest.NewServer(NewHTTPHandler(HTTPOptions{Store: st, Views: v}))
	defer srv.Close()
	url := srv.URL + "/v1/customers/cust-0?as_of=2025-06-01"

	code, hdr, body := getWith(t, url, nil)
	etag := hdr.Get("ETag")
	if code != 200 || len(etag) < 10 || etag[0] != '"' {
		t.Fatalf("first read: %d ETag %q %s", code, etag, body)
	}
	if _, hdr2, body2 := getWith(t, url, nil); hdr2.Get("ETag") != etag || string(body2) != string(body) {
		t.Fatalf("same answer, ETag %q then %q", etag, hdr2.Get("ETag"))
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		code, hdr, b := getWith(t, url, map[string]string{"If-None-Match": inm})
		if code != http.StatusNotModified || len(b) != 0 || hdr.Get("ETag") != etag {
			t.Fatalf("If-None-Match %s: %d ETag %q body %q", inm, code, hdr.Get("ETag"), b)
		}
	}
	if code, _, _ := getWith(t, url, map[string]string{"If-None-Match": `"other"`}); code != 200 {
		t.Fatalf("If-None-Match another tag: %d", code)
	}
	// Another as_of is another answer.
	if _, h, _ := getWith(t, srv.URL+"/v1/customers/cust-0?as_of=2025-05-20", nil); h.Get("ETag") == etag {
		t.Fatal("another as_of, same ETag")
	}

	// A purchase by as_of: a new answer, a new ETag, money as it came in.
	raw, err := journey.NewEvent("etag-buy", "pos/1", journey.KindPurchase, "cust-0", time.Date(2025, 5, 20, 9, 0, 0, 0, time.UTC),
		map[string]any{"order_id": "o-1", "amount": "1370.56", "currency": "EUR", "items": 1})
	if err != nil {
		t.Fatal(err)
	}
	appendRaw(t, st, v, raw)
	code, hdr, body = getWith(t, url, map[string]string{"If-None-Match": etag})
	if code != 200 || hdr.Get("ETag") == etag {
		t.Fatalf("after a new event: %d ETag %q (old %q)", code, hdr.Get("ETag"), etag)
	}
	var ans struct {
		State struct {
			Revenue map[string]any `json:"revenue"`
		} `json:"state"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.State.Revenue["EUR"] != "1370.56" {
		t.Fatalf("HTTP revenue %v (%v): %s", ans.State.Revenue, err, body)
	}
	// An unknown customer: no ETag, the JSON error.
	if code, hdr, b := getWith(t, srv.URL+"/v1/customers/nobody", nil); code != 404 || hdr.Get("ETag") != "" ||
		!strings.Contains(string(b), `"code":"not_found"`) || strings.Contains(string(b), "projections") {
		t.Fatalf("unknown customer: %d ETag %q %s", code, hdr.Get("ETag"), b)
	}

	// NATS answers the same money.
	ns := natstest.RunServer(t)
	svc, err := ServeQueries(natstest.Connect(t, ns), Queries{Store: st, Views: v}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	m, err := natstest.Connect(t, ns).Request("journey.query.customer", []byte(`{"id":"cust-0","as_of":"2025-06-01"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(m.Data, &ans); err != nil || ans.State.Revenue["EUR"] != "1370.56" {
		t.Fatalf("NATS revenue %v (%v): %s", ans.State.Revenue, err, m.Data)
	}
	m, err = natstest.Connect(t, ns).Request("journey.query.customer", []byte(`{"id":"nobody"}`), 5*time.Second)
	if err != nil || m.Header.Get("Nats-Service-Error-Code") != "404" || strings.Contains(string(m.Data), "projections") ||
		strings.Contains(m.Header.Get("Nats-Service-Error"), "projections") {
		t.Fatalf("NATS unknown customer: %v %v %s", err, m.Header, m.Data)
	}
}

// TestPublicMessage: internal errors lose their Go package prefixes and
// the directories of absolute paths, nothing else.
func TestPublicMessage(t *testing.T) {
	for in, want := range map[string]string{
		"projections: customer not found":                                 "customer not found",
		"projections: history of \"c\": eventstore: read: pebble: closed": "history of \"c\": read: closed",
		"projections: open views /var/lib/journey/views/v-0003: no space": "open views …/v-0003: no space",
		"eventstore: open /tmp/x/log/000012.sst: permission denied":       "open …/000012.sst: permission denied",
		"rebuild: 3 customers (journey: x)":                               "rebuild: 3 customers (x)",
		"line 2 is not a checkpoint: invalid JSON":                        "line 2 is not a checkpoint: invalid JSON",
		"limit must be 1 to 10000":                                        "limit must be 1 to 10000",
		`"pos/store-1" is not a source`:                                   `"pos/store-1" is not a source`,
		"read from (/data/log) failed":                                    "read from (…/log) failed",
		"handlers/sub: x":                                                 "x",
	} {
		if got := publicMessage(in); got != want {
			t.Errorf("publicMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRebuildAnswer: POST /v1/admin/rebuild answers the rebuild's
// statistics, the new views directory by its name, not its absolute path.
func TestRebuildAnswer(t *testing.T) {
	st, v := openViews(t)
	srv := httptest.NewServer(NewHTTPHandler(HTTPOptions{Store: st, Views: v}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/admin/rebuild", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs projections.RebuildStats
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil || resp.StatusCode != 200 {
		t.Fatalf("rebuild: %d %v", resp.StatusCode, err)
	}
	if rs.Events != 6 || rs.Customers != 3 || rs.Dir == "" || strings.Contains(rs.Dir, "/") {
		t.Fatalf("rebuild answer: %+v", rs)
	}
}
