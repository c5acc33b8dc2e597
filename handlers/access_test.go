package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/accesslog"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/journey-cdp/journey/internal/natstest"
	"github.com/journey-cdp/journey/projections"
)

// accessRig is a store and views holding bench.Events(events, customers),
// the token file with a reader and an auditor token, and an access log.
type accessRig struct {
	store           *eventstore.Store
	views           *projections.Views
	tokens          *auth.Tokens
	reader, auditor string // the tokens' texts
	log             *accesslog.Log
	dir             string
}

func newAccessRig(tb testing.TB, events, customers int) *accessRig {
	tb.Helper()
	dir := tb.TempDir()
	st, err := eventstore.Open(filepath.Join(dir, "log"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	raws, err := bench.Events(events, customers, 1)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < len(raws); i += 1000 {
		var reqs []eventstore.Request
		for _, raw := range raws[i:min(i+1000, len(raws))] {
			ev, err := journey.Decode(raw, now)
			if err != nil {
				tb.Fatal(err)
			}
			reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
		}
		if _, err := st.Append(context.Background(), reqs); err != nil {
			tb.Fatal(err)
		}
	}
	v, err := projections.Open(dir, st, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = v.Close() })
	if _, err := v.CatchUp(context.Background()); err != nil {
		tb.Fatal(err)
	}
	r := &accessRig{store: st, views: v, dir: dir}
	if r.tokens, err = auth.OpenTokens(filepath.Join(dir, "auth", "tokens.json")); err != nil {
		tb.Fatal(err)
	}
	if r.reader, _, err = r.tokens.Create("tablet-store-042", auth.Reader, 0, ""); err != nil {
		tb.Fatal(err)
	}
	if r.auditor, _, err = r.tokens.Create("audit-firm", auth.Auditor, 0, ""); err != nil {
		tb.Fatal(err)
	}
	if r.log, err = accesslog.Open(accesslog.Dir(dir), accesslog.Options{}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.log.Close() })
	return r
}

// handler is the HTTP surface of r: with auth and the access log, or
// with neither.
func (r *accessRig) handler(tb testing.TB, on bool) http.Handler {
	tb.Helper()
	o := handlers.HTTPOptions{Store: r.store, Views: r.views}
	if on {
		az, err := auth.NewAuthorizer(r.tokens, nil)
		if err != nil {
			tb.Fatal(err)
		}
		az.OnCustomerRead = handlers.RecordAccess(r.log, nil)
		o.Auth, o.AccessLog = az, r.log
	}
	return handlers.NewHTTPHandler(o)
}

func accessGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAccessLogHTTP: each 2xx read of one customer over HTTP (answer,
// history) leaves an entry with the token's name and role, the customer
// and the route; a refused or failed read leaves none; GET
// /v1/export/access is the auditor's, filters by customer and time, and
// neither it nor the log's files hold a token's text or an event's
// contents.
func TestAccessLogHTTP(t *testing.T) {
	r := newAccessRig(t, 400, 20)
	srv := httptest.NewServer(r.handler(t, true))
	defer srv.Close()
	before := time.Now().UTC()
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/v1/customers/cust-000003", r.reader, 200},
		{"/v1/customers/cust-000003/events?limit=5", r.reader, 200},
		{"/v1/customers/cust-000007", r.auditor, 200},
		{"/v1/customers/nobody", r.reader, 404},    // not found: no read of data
		{"/v1/customers/cust-000003", "", 401},     // no token
		{"/v1/customers/cust-000003", "jy_x", 401}, // bad token
	} {
		if code, body := accessGet(t, srv.URL+c.path, c.token); code != c.want {
			t.Fatalf("GET %s: %d %s, want %d", c.path, code, body, c.want)
		}
	}
	if code, body := accessGet(t, srv.URL+"/v1/export/access", r.reader); code != http.StatusForbidden || !strings.Contains(body, `"forbidden"`) {
		t.Fatalf("export by a reader: %d %s, want 403", code, body)
	}
	if code, body := accessGet(t, srv.URL+"/v1/export/access", ""); code != http.StatusUnauthorized {
		t.Fatalf("export without a token: %d %s, want 401", code, body)
	}
	code, body := accessGet(t, srv.URL+"/v1/export/access", r.auditor)
	if code != 200 {
		t.Fatalf("export by the auditor: %d %s", code, body)
	}
	var got []accesslog.Entry
	for line := range strings.Lines(body) {
		var e accesslog.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if e.Time.Before(before.Add(-time.Second)) || e.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("entry time %s not the time of the read", e.Time)
		}
		e.Time = time.Time{}
		got = append(got, e)
	}
	want := []accesslog.Entry{
		{Token: "tablet-store-042", Role: "reader", Customer: "cust-000003", Route: "GET /v1/customers/{id}"},
		{Token: "tablet-store-042", Role: "reader", Customer: "cust-000003", Route: "GET /v1/customers/{id}/events"},
		{Token: "audit-firm", Role: "auditor", Customer: "cust-000007", Route: "GET /v1/customers/{id}"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("access log:\n got %v\nwant %v", got, want)
	}
	if strings.Contains(body, r.reader) || strings.Contains(body, r.auditor) {
		t.Error("the export holds a token's text")
	}

	if _, body := accessGet(t, srv.URL+"/v1/export/access?customer=cust-000007", r.auditor); strings.Count(body, "\n") != 1 || !strings.Contains(body, "audit-firm") {
		t.Errorf("?customer=cust-000007: %s", body)
	}
	if _, body := accessGet(t, srv.URL+"/v1/export/access?since=2999-01-01", r.auditor); body != "" {
		t.Errorf("?since=2999-01-01: %q, want nothing", body)
	}
	code, body = accessGet(t, srv.URL+"/v1/export/access?until=soon", r.auditor)
	if code != http.StatusBadRequest || !strings.Contains(body, `"field":"until"`) {
		t.Errorf("?until=soon: %d %s, want 400 naming until", code, body)
	}

	// On disk: neither token's text nor anything of the events read.
	if err := r.log.Close(); err != nil {
		t.Fatal(err)
	}
	raws, _ := bench.Events(400, 20, 1)
	var ev journey.Event
	_ = json.Unmarshal(raws[3], &ev)
	files, _ := filepath.Glob(filepath.Join(accesslog.Dir(r.dir), "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, secret := range []string{r.reader, r.auditor, ev.ID} {
			if secret != "" && strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q", filepath.Base(f), secret)
			}
		}
	}
}

// TestAccessExportNotServed: without an access log the route answers 503
// with the JSON error body.
func TestAccessExportNotServed(t *testing.T) {
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{}))
	defer srv.Close()
	code, body := accessGet(t, srv.URL+"/v1/export/access", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "the access log is not served here") {
		t.Errorf("%d %s, want 503", code, body)
	}
}

// BenchmarkCustomerRead measures GET /v1/customers/{id} (real Pebble log
// and views of 20,000 bench.Events over 500 customers, each call a whole
// request through the handler) with auth and the access log on, and with
// both off, in one run, the two interleaved three times (so that a
// change of the machine's load between them shows as spread, not as a
// difference):
//
//	go test ./handlers -run '^$' -bench BenchmarkCustomerRead -benchtime 2s
func BenchmarkCustomerRead(b *testing.B) {
	r := newAccessRig(b, 20000, 500)
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = fmt.Sprintf("/v1/customers/cust-%06d", i)
	}
	off, on := r.handler(b, false), r.handler(b, true)
	for range 3 {
		benchCustomerRead(b, "off", off, ids, r.reader)
		benchCustomerRead(b, "auth+accesslog", on, ids, r.reader)
	}
}

// BenchmarkCustomerReadPaired is BenchmarkCustomerRead with the two
// handlers paired in every iteration (one read from each, of different
// customers, in alternating order), each read timed, so that a load that
// changes during the run weighs on both alike. It reports off_ns/read,
// on_ns/read and on/off, the throughput with auth and the access log on
// as a fraction of the throughput with both off (target ≥ 0.8):
//
//	go test ./handlers -run '^$' -bench BenchmarkCustomerReadPaired -benchtime 20000x
func BenchmarkCustomerReadPaired(b *testing.B) {
	r := newAccessRig(b, 20000, 500)
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = fmt.Sprintf("/v1/customers/cust-%06d", i)
	}
	hs := [2]http.Handler{r.handler(b, false), r.handler(b, true)}
	var spent [2]time.Duration
	i := 0
	for b.Loop() {
		for k := range 2 {
			which := (i + k) % 2 // alternate which goes first
			id := ids[(i+which*len(ids)/2)%len(ids)]
			req := httptest.NewRequest("GET", id, nil)
			req.Header.Set("Authorization", "Bearer "+r.reader)
			w := httptest.NewRecorder()
			start := time.Now()
			hs[which].ServeHTTP(w, req)
			spent[which] += time.Since(start)
			if w.Code != 200 {
				b.Fatalf("%s: %d %s", id, w.Code, w.Body)
			}
		}
		i++
	}
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(i), "off_ns/read")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(i), "on_ns/read")
	b.ReportMetric(float64(spent[0])/float64(spent[1]), "on/off")
}

// benchCustomerRead runs the sub-benchmark name: GET of ids in turn from h with token.
func benchCustomerRead(b *testing.B, name string, h http.Handler, ids []string, token string) {
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			req := httptest.NewRequest("GET", ids[i%len(ids)], nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%s: %d %s", ids[i%len(ids)], w.Code, w.Body)
			}
			i++
		}
	})
}

// TestAccessLogNATS: each answered read of one customer over the NATS
// query service (customer, events) leaves an entry naming the subject; a
// refused or failed read and a segments read leave none.
func TestAccessLogNATS(t *testing.T) {
	r := newAccessRig(t, 400, 20)
	az, err := auth.NewAuthorizer(r.tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	az.OnCustomerRead = handlers.RecordAccess(r.log, nil)
	ns := natstest.RunServer(t)
	svc, err := handlers.ServeQueries(natstest.Connect(t, ns), handlers.Queries{Store: r.store, Views: r.views, Auth: az}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	nc := natstest.Connect(t, ns)
	for _, c := range []struct {
		subject, body, token, wantErr string
	}{
		{"journey.query.customer", `{"id":"cust-000004"}`, r.reader, ""},
		{"journey.query.events", `{"id":"cust-000005","limit":3}`, r.auditor, ""},
		{"journey.query.customer", `{"id":"nobody"}`, r.reader, "404"},
		{"journey.query.customer", `{"id":"cust-000004"}`, "", "401"},
		{"journey.query.segments", `{}`, r.reader, "403"},
	} {
		msg := nats.NewMsg(c.subject)
		msg.Data = []byte(c.body)
		if c.token != "" {
			msg.Header.Set("Authorization", "Bearer "+c.token)
		}
		m, err := nc.RequestMsg(msg, 5*time.Second)
		if err != nil || m.Header.Get("Nats-Service-Error-Code") != c.wantErr {
			t.Fatalf("%s %s: %v, error code %q, want %q: %s", c.subject, c.body, err, m.Header.Get("Nats-Service-Error-Code"), c.wantErr, m.Data)
		}
	}
	var got []string
	if err := r.log.Export(context.Background(), accesslog.Filter{}, func(e accesslog.Entry) error {
		got = append(got, e.Token+" "+e.Role+" "+e.Customer+" "+e.Route)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"tablet-store-042 reader cust-000004 journey.query.customer", "audit-firm auditor cust-000005 journey.query.events"}
	if !slices.Equal(got, want) {
		t.Fatalf("access log:\n got %q\nwant %q", got, want)
	}
}
