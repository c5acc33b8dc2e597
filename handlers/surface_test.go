package handlers_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/natstest"
)

// openStore opens a store on t.TempDir(), closed when the test ends.
func openStore(t *testing.T) *eventstore.Store {
	t.Helper()
	st, err := eventstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// bigEvent is a valid feedback event of about size bytes (its comment).
func bigEvent(t *testing.T, id, customer string, size int) []byte {
	t.Helper()
	b, err := journey.NewEvent(id, "web/1", journey.KindFeedback, customer, time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC),
		map[string]any{"csat": 4, "comment": strings.Repeat("c", size-300)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendEvents appends n events of about size bytes for customer, in one
// batch, and returns their bytes.
func appendEvents(t *testing.T, st *eventstore.Store, customer string, n, size int) [][]byte {
	t.Helper()
	var raws [][]byte
	for i := range n {
		raws = append(raws, bigEvent(t, fmt.Sprintf("%s-%d", customer, i), customer, size))
	}
	appendRaws(t, st, raws)
	return raws
}

// appendRaws decodes raws and appends them in one batch; any refusal fails t.
func appendRaws(t *testing.T, st *eventstore.Store, raws [][]byte) {
	t.Helper()
	var reqs []eventstore.Request
	for _, raw := range raws {
		ev, err := journey.Decode(raw, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
	}
	res, err := st.Append(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

func httpGet(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
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

// readAllPages follows next_after from after=0 and checks the pages hold
// want, in order, each page within maxBytes of event bytes.
func readAllPages(t *testing.T, want [][]byte, maxBytes int, page func(after uint64) handlers.EventsPage) {
	t.Helper()
	var got [][]byte
	after, pages := uint64(0), 0
	for {
		p := page(after)
		pages++
		size := 0
		for _, e := range p.Events {
			size += len(e.Event)
			got = append(got, e.Event)
			if e.Version != uint64(len(got)) {
				t.Fatalf("page after %d: version %d at position %d", after, e.Version, len(got))
			}
		}
		if size > maxBytes {
			t.Fatalf("page after %d holds %d events, %d bytes, more than %d", after, len(p.Events), size, maxBytes)
		}
		if p.NextAfter == 0 {
			break
		}
		if len(p.Events) == 0 || p.NextAfter != p.Events[len(p.Events)-1].Version {
			t.Fatalf("page after %d: next_after %d after %d events", after, p.NextAfter, len(p.Events))
		}
		after = p.NextAfter
	}
	if len(got) != len(want) {
		t.Fatalf("%d events in %d pages, want %d", len(got), pages, len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d differs from what was appended", i+1)
		}
	}
	if pages < 2 {
		t.Fatalf("%d pages, want the byte bound to page", pages)
	}
}

// TestEventsPageBytes: a page of 64 KiB events asked with limit=1500 stops
// at MaxPageBytes of events and says where to go on, over HTTP and NATS,
// and the pages together hold every event once, as appended; the HTTP page
// is streamed (the server allocates a few times the page, not the whole
// history).
func TestEventsPageBytes(t *testing.T) {
	st := openStore(t)
	const n, size = 120, 60 << 10 // 7.2 MB: two pages of 4 MiB
	want := appendEvents(t, st, "cust-big", n, size)
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st}))
	defer srv.Close()

	readAllPages(t, want, handlers.MaxPageBytes, func(after uint64) handlers.EventsPage {
		code, _, body := httpGet(t, fmt.Sprintf("%s/v1/customers/cust-big/events?limit=1500&after=%d", srv.URL, after))
		var p handlers.EventsPage
		if err := json.Unmarshal(body, &p); code != 200 || err != nil {
			t.Fatalf("page after %d: %d %.200s (%v)", after, code, body, err)
		}
		return p
	})

	// The limit still applies below the byte bound.
	code, _, body := httpGet(t, srv.URL+"/v1/customers/cust-big/events?limit=3&after=117")
	var p handlers.EventsPage
	if err := json.Unmarshal(body, &p); code != 200 || err != nil || len(p.Events) != 3 || p.NextAfter != 0 {
		t.Fatalf("last 3: %d events, next_after %d (%v)", len(p.Events), p.NextAfter, err)
	}
	code, _, body = httpGet(t, srv.URL+"/v1/customers/cust-big/events?limit=2&after=10")
	if err := json.Unmarshal(body, &p); code != 200 || err != nil || len(p.Events) != 2 || p.NextAfter != 12 {
		t.Fatalf("limit 2 after 10: %d events, next_after %d (%v)", len(p.Events), p.NextAfter, err)
	}

	// Allocation of one full page (4 MiB of events) over HTTP: streamed,
	// it is the chunks read from the store, not the history and a JSON copy.
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	resp, err := http.Get(srv.URL + "/v1/customers/cust-big/events?limit=1500")
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&m1)
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 3*uint64(nb) {
		t.Fatalf("one %d-byte page allocated %d bytes", nb, alloc)
	}

	// The same over NATS, where max_payload (1 MB here) bounds it too.
	ns := natstest.RunServer(t)
	nc := natstest.Connect(t, ns)
	svc, err := handlers.ServeQueries(nc, handlers.Queries{Store: st}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	client := natstest.Connect(t, ns)
	readAllPages(t, want, int(client.MaxPayload()), func(after uint64) handlers.EventsPage {
		m, err := client.Request("journey.query.events", fmt.Appendf(nil, `{"id":"cust-big","limit":1500,"after":%d}`, after), 10*time.Second)
		if err != nil {
			t.Fatalf("page after %d: %v", after, err)
		}
		var p handlers.EventsPage
		if err := json.Unmarshal(m.Data, &p); err != nil || m.Header.Get("Nats-Service-Error-Code") != "" {
			t.Fatalf("page after %d: %.200s (%v)", after, m.Data, err)
		}
		return p
	})
}

// runSmallServer starts a NATS server (no JetStream) whose max_payload is
// maxPayload.
func runSmallServer(t *testing.T, maxPayload int32) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, MaxPayload: maxPayload, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// TestQueryMaxPayload: with a server whose max_payload is 16 KiB, a page
// of 4 KiB events is cut to fit (and the pages hold every event), and an
// event that cannot fit is a too_large error reply, not a dropped reply.
func TestQueryMaxPayload(t *testing.T) {
	st := openStore(t)
	want := appendEvents(t, st, "cust-m", 12, 4<<10)
	appendEvents(t, st, "cust-huge", 1, 20<<10)
	ns := runSmallServer(t, 16<<10)
	nc := natstest.Connect(t, ns)
	svc, err := handlers.ServeQueries(nc, handlers.Queries{Store: st}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	client := natstest.Connect(t, ns)
	readAllPages(t, want, 16<<10, func(after uint64) handlers.EventsPage {
		m, err := client.Request("journey.query.events", fmt.Appendf(nil, `{"id":"cust-m","after":%d}`, after), 5*time.Second)
		if err != nil {
			t.Fatalf("page after %d: %v (the reply was dropped?)", after, err)
		}
		if len(m.Data) > 16<<10 {
			t.Fatalf("reply of %d bytes", len(m.Data))
		}
		var p handlers.EventsPage
		if err := json.Unmarshal(m.Data, &p); err != nil {
			t.Fatalf("page after %d: %.200s (%v)", after, m.Data, err)
		}
		return p
	})
	m, err := client.Request("journey.query.events", []byte(`{"id":"cust-huge"}`), 5*time.Second)
	if err != nil {
		t.Fatalf("an event larger than max_payload: %v, want an error reply", err)
	}
	var er handlers.ErrorReply
	if m.Header.Get("Nats-Service-Error-Code") != "413" || json.Unmarshal(m.Data, &er) != nil ||
		er.Error.Code != journey.CodeTooLarge || !strings.Contains(er.Error.Message, "max_payload") {
		t.Fatalf("an event larger than max_payload: %s %s", m.Header, m.Data)
	}
}

// TestPageParams: after and limit mean the same over HTTP and NATS, and an
// overflow or a value out of range is an error naming the parameter.
func TestPageParams(t *testing.T) {
	st := openStore(t)
	appendEvents(t, st, "cust-p", 3, 1<<10)
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st}))
	defer srv.Close()
	ns := natstest.RunServer(t)
	svc, err := handlers.ServeQueries(natstest.Connect(t, ns), handlers.Queries{Store: st}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	client := natstest.Connect(t, ns)

	bad := []struct{ param, http, nats, rule string }{
		{"after", "after=18446744073709551615", `"after":18446744073709551615`, "0 to 9223372036854775807"},
		{"after", "after=9223372036854775808", `"after":9223372036854775808`, "0 to 9223372036854775807"},
		{"after", "after=99999999999999999999999", `"after":99999999999999999999999`, "0 to 9223372036854775807"},
		{"after", "after=-1", `"after":-1`, "0 to 9223372036854775807"},
		{"after", "after=1.5", `"after":1.5`, "0 to 9223372036854775807"},
		{"limit", "limit=-1", `"limit":-1`, "1 to 10000"},
		{"limit", "limit=10001", `"limit":10001`, "1 to 10000"},
		{"limit", "limit=%2B5", `"limit":"+5"`, "1 to 10000"},
		{"limit", "limit=1e3", `"limit":1e3`, "1 to 10000"},
		{"limit", "limit=true", `"limit":true`, "1 to 10000"},
	}
	for _, c := range bad {
		code, _, body := httpGet(t, srv.URL+"/v1/customers/cust-p/events?"+c.http)
		var er handlers.ErrorReply
		if code != 400 || json.Unmarshal(body, &er) != nil || er.Error.Code != journey.CodeInvalidField ||
			er.Error.Field != c.param || !strings.Contains(er.Error.Message, c.rule) {
			t.Errorf("HTTP %s: %d %s", c.http, code, body)
		}
		m, err := client.Request("journey.query.events", []byte(`{"id":"cust-p",`+c.nats+`}`), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		er = handlers.ErrorReply{}
		if m.Header.Get("Nats-Service-Error-Code") != "400" || json.Unmarshal(m.Data, &er) != nil ||
			er.Error.Code != journey.CodeInvalidField || er.Error.Field != c.param || !strings.Contains(er.Error.Message, c.rule) {
			t.Errorf("NATS %s: %s %s", c.nats, m.Header, m.Data)
		}
	}
	// The same good parameters give the same page on both surfaces.
	good := []struct {
		http, nats string
		events     int
		next       uint64
	}{
		{"", ``, 3, 0},
		{"limit=0", `"limit":0`, 3, 0},
		{"limit=1&after=1", `"limit":1,"after":1`, 1, 2},
		{"limit=2", `"limit":"2"`, 2, 2},
		{"after=9223372036854775807", `"after":9223372036854775807`, 0, 0},
	}
	for _, c := range good {
		_, _, hb := httpGet(t, srv.URL+"/v1/customers/cust-p/events?"+c.http)
		m, err := client.Request("journey.query.events", []byte(`{"id":"cust-p"`+strings.Repeat(",", min(1, len(c.nats)))+c.nats+`}`), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var hp, np handlers.EventsPage
		if err := json.Unmarshal(hb, &hp); err != nil || len(hp.Events) != c.events || hp.NextAfter != c.next {
			t.Errorf("HTTP %s: %s", c.http, hb)
		}
		if err := json.Unmarshal(m.Data, &np); err != nil || !bytes.Equal(bytes.TrimSpace(m.Data), bytes.TrimSpace(hb)) {
			t.Errorf("NATS %s: %s, HTTP gave %s", c.nats, m.Data, hb)
		}
	}
	// as_of out of the accepted range.
	code, _, body := httpGet(t, srv.URL+"/v1/customers/cust-p?as_of=0000-06-01")
	if code != 400 || !strings.Contains(string(body), `"field":"as_of"`) || !strings.Contains(string(body), "years 0001 to 9999") {
		t.Errorf("as_of year 0: %d %s", code, body)
	}
}

// TestAppendHeaderNames: the synchronous append matches Journey-* headers
// without regard to case, and refuses one it does not know; HTTP's
// If-Match is case-insensitive too.
func TestAppendHeaderNames(t *testing.T) {
	st := openStore(t)
	ns := natstest.RunServer(t)
	nc := natstest.Connect(t, ns)
	app := handlers.NewAppender(st, handlers.AppendOptions{})
	svc, err := app.Serve(nc, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	client := natstest.Connect(t, ns)
	send := func(raw []byte, hdr nats.Header) reply {
		t.Helper()
		m := &nats.Msg{Subject: handlers.DefaultAppendSubject, Data: raw, Header: hdr}
		resp, err := client.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r reply
		if err := json.Unmarshal(resp.Data, &r); err != nil {
			t.Fatalf("reply %s: %v", resp.Data, err)
		}
		return r
	}
	if r := send(visit(t, "hc-1", "cust-hc"), nats.Header{"journey-expected-version": {"0"}}); r.Error != nil || r.Version != 1 {
		t.Fatalf("lower-case header, right version: %+v", r)
	}
	r := send(visit(t, "hc-2", "cust-hc"), nats.Header{"journey-expected-version": {"5"}})
	if r.Error == nil || r.Error.Code != journey.CodeVersionConflict {
		t.Fatalf("lower-case header, wrong version: %+v, want version_conflict (was the header ignored?)", r)
	}
	r = send(visit(t, "hc-2", "cust-hc"), nats.Header{"JOURNEY-EXPECTED-VERSION": {"1"}})
	if r.Error != nil || r.Version != 2 {
		t.Fatalf("upper-case header: %+v", r)
	}
	r = send(visit(t, "hc-3", "cust-hc"), nats.Header{"Journey-Expected-Versoin": {"2"}})
	if r.Error == nil || r.Error.Code != journey.CodeInvalidField || r.Error.Field != "header:Journey-Expected-Versoin" {
		t.Fatalf("misspelt header: %+v, want invalid_field", r)
	}
	r = send(visit(t, "hc-3", "cust-hc"), nats.Header{"Journey-Expected-Version": {"2"}, "journey-expected-version": {"7"}})
	if r.Error == nil || r.Error.Code != journey.CodeInvalidField {
		t.Fatalf("two spellings, two values: %+v, want invalid_field", r)
	}
	if v, _ := st.CustomerVersion("cust-hc"); v != 2 {
		t.Fatalf("version %d, want 2", v)
	}
	r = send(visit(t, "hc-3", "cust-hc"), nats.Header{"Other": {"x"}, "journey-expected-version": {"2"}})
	if r.Error != nil || r.Version != 3 {
		t.Fatalf("with another header: %+v", r)
	}

	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st, Appender: app}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/events", bytes.NewReader(visit(t, "hc-4", "cust-hc")))
	req.Header["if-match"] = []string{`"1"`} // sent as written, lower case
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("lower-case if-match over HTTP: %d, want 412", resp.StatusCode)
	}
}

func post(t *testing.T, url string, hdr http.Header, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/events", bytes.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestErrorEchoBoundedSurfaces: a 500 KB If-Match or expected-version
// header and a 10,000-deep document give small replies and a small
// quarantine reason.
func TestErrorEchoBoundedSurfaces(t *testing.T) {
	st := openStore(t)
	ns := natstest.RunServer(t)
	nc := natstest.Connect(t, ns)
	app := handlers.NewAppender(st, handlers.AppendOptions{})
	svc, err := app.Serve(nc, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st, Appender: app}))
	defer srv.Close()
	huge := strings.Repeat("9x", 250_000)

	code, body := post(t, srv.URL, http.Header{"If-Match": {huge}}, visit(t, "e-1", "cust-e"))
	if code != 400 || len(body) > 300 || !strings.Contains(string(body), "header:If-Match") {
		t.Fatalf("500 KB If-Match: %d, %d-byte reply: %.300s", code, len(body), body)
	}
	client := natstest.Connect(t, ns)
	resp, err := client.RequestMsg(&nats.Msg{Subject: handlers.DefaultAppendSubject, Data: visit(t, "e-1", "cust-e"),
		Header: nats.Header{handlers.ExpectedVersionHeader: {huge}}}, 10*time.Second)
	if err != nil || len(resp.Data) > 1024 || !strings.Contains(string(resp.Data), "invalid_field") {
		t.Fatalf("500 KB expected-version header: %v, reply %.300s", err, resp.Data)
	}

	deep := []byte(`{"specversion":"1.0","id":"e-2","source":"web/1","type":"visit","subject":"cust-e","time":"2025-06-01T10:00:00Z","data":` +
		strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000) + `}`)
	code, body = post(t, srv.URL, nil, deep)
	if code != 400 || len(body) > 2048 {
		t.Fatalf("10,000-deep document: %d, %d-byte reply: %.300s", code, len(body), body)
	}
	var n int
	err = st.QuarantineScan(context.Background(), func(e *eventstore.QuarantineEntry) error {
		n++
		if len(e.Field) > journey.MaxFieldBytes+3 || len(e.Reason) > 2048 {
			t.Errorf("quarantine entry: %d-byte field, %d-byte reason", len(e.Field), len(e.Reason))
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("quarantine: %d entries (%v), want 1", n, err)
	}
}

// TestPostMediaTypes: POST /v1/events accepts the CloudEvents and JSON
// media types (and none), gunzips a gzip body within the body bound,
// and answers 415 (JSON error body) to other types and encodings.
func TestPostMediaTypes(t *testing.T) {
	st := openStore(t)
	app := handlers.NewAppender(st, handlers.AppendOptions{})
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st, Appender: app}))
	defer srv.Close()
	i := 0
	ev := func() []byte { i++; return visit(t, fmt.Sprintf("mt-%d", i), "cust-mt") }
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	for _, ct := range []string{"", "application/json", "application/cloudevents+json", "application/json; charset=utf-8",
		"Application/CloudEvents+JSON; charset=UTF-8"} {
		hdr := http.Header{}
		if ct != "" {
			hdr.Set("Content-Type", ct)
		}
		if code, body := post(t, srv.URL, hdr, ev()); code != 201 {
			t.Errorf("Content-Type %q: %d %s, want 201", ct, code, body)
		}
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded",
		"application/json; charset=latin1", "application/json;;;", "application/xml"} {
		code, body := post(t, srv.URL, http.Header{"Content-Type": {ct}}, ev())
		var er handlers.ErrorReply
		if code != 415 || json.Unmarshal(body, &er) != nil || er.Error.Field != "header:Content-Type" || er.Error.Message == "" {
			t.Errorf("Content-Type %q: %d %s, want 415 with a JSON error", ct, code, body)
		}
	}
	if code, body := post(t, srv.URL, http.Header{"Content-Encoding": {"gzip"}, "Content-Type": {"application/json"}}, gz(ev())); code != 201 {
		t.Errorf("gzip: %d %s, want 201", code, body)
	}
	if code, body := post(t, srv.URL, http.Header{"Content-Encoding": {"identity"}}, ev()); code != 201 {
		t.Errorf("identity: %d %s, want 201", code, body)
	}
	// A gzip bomb: 100 MB of zeros in about 100 KB.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 100 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	code, body := post(t, srv.URL, http.Header{"Content-Encoding": {"gzip"}}, bomb.Bytes())
	if code != 413 || !strings.Contains(string(body), "too_large") {
		t.Errorf("gzip bomb: %d %s, want 413", code, body)
	}
	for _, enc := range []string{"br", "deflate", "gzip, gzip", "compress"} {
		code, body := post(t, srv.URL, http.Header{"Content-Encoding": {enc}}, ev())
		if code != 415 || !strings.Contains(string(body), "header:Content-Encoding") {
			t.Errorf("Content-Encoding %q: %d %s, want 415", enc, code, body)
		}
	}
	if code, body := post(t, srv.URL, http.Header{"Content-Encoding": {"gzip"}}, ev()); code != 400 || !strings.Contains(string(body), "gzip") {
		t.Errorf("not gzip data: %d %s, want 400", code, body)
	}
	if n := st.QuarantineCount(); n != 0 {
		t.Errorf("quarantine holds %d entries; a refused media type is not an event", n)
	}
	// An event at year 0000 over HTTP.
	y0 := []byte(`{"specversion":"1.0","id":"y0","source":"web/1","type":"visit","subject":"cust-mt","time":"0000-06-01T10:00:00Z","data":{"channel":"web"}}`)
	code, body = post(t, srv.URL, nil, y0)
	if code != 400 || !strings.Contains(string(body), `"field":"time"`) || !strings.Contains(string(body), "years 0001 to 9999") {
		t.Errorf("year 0000: %d %s", code, body)
	}
}
