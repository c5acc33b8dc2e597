package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/handlers"
)

type reply struct {
	Seq       uint64              `json:"seq"`
	Version   uint64              `json:"version"`
	Duplicate bool                `json:"duplicate"`
	Error     *handlers.ErrorBody `json:"error"`
}

func request(t *testing.T, nc *nats.Conn, data []byte, expected string) reply {
	t.Helper()
	m := nats.NewMsg(handlers.DefaultAppendSubject)
	m.Data = data
	if expected != "" {
		m.Header.Set(handlers.ExpectedVersionHeader, expected)
	}
	resp, err := nc.RequestMsg(m, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		t.Fatalf("reply %s: %v", resp.Data, err)
	}
	return r
}

func visit(t *testing.T, id, customer string) []byte {
	t.Helper()
	b, err := journey.NewEvent(id, "web/1", journey.KindVisit, customer, time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC),
		map[string]any{"channel": "web"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSyncAppend exercises journey.append: success, duplicate, a wrong
// expected version (error, nothing written), a bad header, an invalid
// event (quarantined and announced).
func TestSyncAppend(t *testing.T) {
	r := newRig(t)
	notices := make(chan *nats.Msg, 4)
	sub, err := r.nc.ChanSubscribe(handlers.DefaultRejectSubject, notices)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	app := handlers.NewAppender(r.store, handlers.AppendOptions{Conn: r.nc, Metrics: r.metrics})
	svc, err := app.Serve(r.nc, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(); err != nil {
			t.Error(err)
		}
	})
	client := natsConnect(t, r)

	if got := request(t, client, visit(t, "s-1", "cust-s"), "0"); got.Error != nil || got.Seq != 1 || got.Version != 1 || got.Duplicate {
		t.Fatalf("first append: %+v", got)
	}
	if got := request(t, client, visit(t, "s-1", "cust-s"), ""); got.Error != nil || got.Seq != 1 || !got.Duplicate {
		t.Fatalf("duplicate append: %+v", got)
	}
	got := request(t, client, visit(t, "s-2", "cust-s"), "5")
	if got.Error == nil || got.Error.Code != journey.CodeVersionConflict {
		t.Fatalf("wrong expected version: %+v, want version_conflict", got)
	}
	if v, _ := r.store.CustomerVersion("cust-s"); v != 1 || r.store.DurableSeq() != 1 {
		t.Fatalf("after a version conflict: version %d, durable %d; want 1, 1", v, r.store.DurableSeq())
	}
	got = request(t, client, visit(t, "s-2", "cust-s"), "one")
	if got.Error == nil || got.Error.Code != journey.CodeInvalidField || !strings.Contains(got.Error.Field, handlers.ExpectedVersionHeader) {
		t.Fatalf("bad header: %+v", got)
	}
	if got := request(t, client, visit(t, "s-2", "cust-s"), "1"); got.Error != nil || got.Seq != 2 || got.Version != 2 {
		t.Fatalf("right expected version: %+v", got)
	}
	bad := []byte(`{"specversion":"1.0","id":"s-3","source":"web/1","type":"visit","subject":"cust-s","time":"2025-06-01T10:00:00Z","data":{"channel":7}}`)
	got = request(t, client, bad, "")
	if got.Error == nil || got.Error.Code != journey.CodeInvalidField || got.Error.Field != "data.channel" {
		t.Fatalf("invalid event: %+v", got)
	}
	select {
	case m := <-notices:
		var rej handlers.Rejection
		if err := json.Unmarshal(m.Data, &rej); err != nil || rej.ID != "s-3" || rej.Customer != "cust-s" {
			t.Fatalf("notice %s (%v)", m.Data, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rejection notice")
	}
	if n := r.store.QuarantineCount(); n != 1 {
		t.Fatalf("quarantine %d, want 1", n)
	}
}

func natsConnect(t *testing.T, r *rig) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestHTTP exercises the operator surface: health, readiness, POST
// /v1/events with If-Match, the customer's events, metrics.
func TestHTTP(t *testing.T) {
	r := newRig(t)
	app := handlers.NewAppender(r.store, handlers.AppendOptions{Conn: r.nc, Metrics: r.metrics})
	ready := false
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{
		Store: r.store, Appender: app, Metrics: r.metrics,
		Ready: func() error {
			if !ready {
				return io.ErrUnexpectedEOF
			}
			return nil
		},
	}))
	defer srv.Close()
	do := func(method, path, ifMatch string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), method, srv.URL+path, bytes.NewReader(body))
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := do("GET", "/readyz", "", nil); code != 503 {
		t.Fatalf("readyz before ready %d, want 503", code)
	}
	ready = true
	if code, _ := do("GET", "/readyz", "", nil); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	if code, body := do("POST", "/v1/events", `"0"`, visit(t, "h-1", "cust-h")); code != 201 || !strings.Contains(body, `"version":1`) {
		t.Fatalf("post: %d %s", code, body)
	}
	if code, body := do("POST", "/v1/events", "", visit(t, "h-1", "cust-h")); code != 200 || !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("post duplicate: %d %s", code, body)
	}
	if code, body := do("POST", "/v1/events", "3", visit(t, "h-2", "cust-h")); code != 412 || !strings.Contains(body, "version_conflict") {
		t.Fatalf("post wrong If-Match: %d %s", code, body)
	}
	if code, body := do("POST", "/v1/events", "", []byte(`{"nope"`)); code != 400 || !strings.Contains(body, "invalid_json") {
		t.Fatalf("post invalid: %d %s", code, body)
	}
	code, body := do("GET", "/v1/customers/cust-h/events", "", nil)
	if code != 200 || !strings.Contains(body, `"id":"h-1"`) || strings.Contains(body, "h-2") {
		t.Fatalf("events: %d %s", code, body)
	}
	if code, _ := do("GET", "/v1/customers/nobody/events", "", nil); code != 404 {
		t.Fatalf("events of nobody: %d", code)
	}
	if code, _ := do("GET", "/v1/customers/cust-h", "", nil); code != 503 {
		t.Fatalf("customer without views: %d, want 503", code)
	}
	code, body = do("GET", "/metrics", "", nil)
	for _, want := range []string{"journey_events_appended_total 1", "journey_events_duplicate_total 1",
		`journey_events_rejected_total{code="invalid_json"} 1`, `journey_events_rejected_total{code="version_conflict"} 1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("metrics lack %q:\n%s", want, body)
		}
	}
}

// TestQueryService reads a customer's events over the NATS micro service.
func TestQueryService(t *testing.T) {
	r := newRig(t)
	app := handlers.NewAppender(r.store, handlers.AppendOptions{})
	if _, err := app.Append(context.Background(), visit(t, "q-1", "cust-q"), -1, "test"); err != nil {
		t.Fatal(err)
	}
	svc, err := handlers.ServeQueries(r.nc, handlers.Queries{Store: r.store}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	client := natsConnect(t, r)
	m, err := client.Request("journey.query.events", []byte(`{"id":"cust-q"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var page handlers.EventsPage
	if err := json.Unmarshal(m.Data, &page); err != nil || len(page.Events) != 1 || page.Events[0].Seq != 1 {
		t.Fatalf("events answer %s (%v)", m.Data, err)
	}
	m, err = client.Request("journey.query.events", []byte(`{"id":"nobody"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Nats-Service-Error-Code"); got != "404" {
		t.Fatalf("unknown customer: error code %q, body %s", got, m.Data)
	}
	m, err = client.Request("journey.query.customer", []byte(`{"id":"cust-q"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Nats-Service-Error-Code"); got != "503" {
		t.Fatalf("customer without views: error code %q, body %s", got, m.Data)
	}
}
