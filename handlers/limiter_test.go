package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/natstest"
	"github.com/journey-cdp/journey/projections"
)

// openViews is a store with a few customers' visits on t.TempDir() and its
// views, caught up.
func openViews(t *testing.T) (*eventstore.Store, *projections.Views) {
	t.Helper()
	dir := t.TempDir()
	st, err := eventstore.Open(dir+"/log", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var reqs []eventstore.Request
	for i := range 6 {
		raw, err := journey.NewEvent(fmt.Sprintf("l-%d", i), "web/1", journey.KindVisit, fmt.Sprintf("cust-%d", i%3),
			time.Date(2025, 5, 1+i, 10, 0, 0, 0, time.UTC), map[string]any{"channel": "web"})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := journey.Decode(raw, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
	}
	if _, err := st.Append(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	v, err := projections.Open(dir+"/views", st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	if _, err := v.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, v
}

// TestPopulationAsOfLimit: while the limiter's reads are all running, a
// population as-of read (segments with as_of, with and without by) is
// refused at once: HTTP 429 with Retry-After and the JSON error body,
// NATS error code 429 with the same body; reads without as_of are not
// limited; once a read ends the next is served.
func TestPopulationAsOfLimit(t *testing.T) {
	st, v := openViews(t)
	lim := NewLimiter(1)
	srv := httptest.NewServer(NewHTTPHandler(HTTPOptions{Store: st, Views: v, PopulationAsOf: lim}))
	defer srv.Close()
	ns := natstest.RunServer(t)
	svc, err := ServeQueries(natstest.Connect(t, ns), Queries{Store: st, Views: v, PopulationAsOf: lim}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	client := natstest.Connect(t, ns)
	get := func(path string) (int, http.Header, ErrorReply) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var er ErrorReply
		if resp.StatusCode != 200 {
			if err := json.Unmarshal(b, &er); err != nil {
				t.Fatalf("%s: %d %s is not a JSON error", path, resp.StatusCode, b)
			}
		}
		return resp.StatusCode, resp.Header, er
	}
	natsCode := func(req string) (string, ErrorReply) {
		t.Helper()
		m, err := client.Request("journey.query.segments", []byte(req), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var er ErrorReply
		_ = json.Unmarshal(m.Data, &er)
		return m.Header.Get("Nats-Service-Error-Code"), er
	}

	release, err := lim.acquire() // one population as-of read running
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/segments?as_of=2025-05-03", "/v1/segments?by=stage&as_of=2025-05-03T12:00:00Z"} {
		code, hdr, er := get(path)
		if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "1" || er.Error.Code != codeBusy || er.Error.Message == "" {
			t.Fatalf("%s while busy: %d Retry-After %q %+v", path, code, hdr.Get("Retry-After"), er)
		}
	}
	if code, er := natsCode(`{"by":"stage","as_of":"2025-05-03"}`); code != "429" || er.Error.Code != codeBusy {
		t.Fatalf("NATS segments as_of while busy: %q %+v", code, er)
	}
	if code, _, er := get("/v1/segments?by=stage"); code != 200 {
		t.Fatalf("segments now while as-of reads are busy: %d %+v", code, er)
	}
	if code, _, er := get("/v1/customers/cust-1?as_of=2025-05-03"); code != 200 {
		t.Fatalf("one customer as of while busy: %d %+v", code, er)
	}
	release()
	if code, _, er := get("/v1/segments?by=stage&as_of=2025-05-03"); code != 200 {
		t.Fatalf("segments as_of once free: %d %+v", code, er)
	}
	if code, er := natsCode(`{"by":"stage","as_of":"2025-05-03"}`); code != "" {
		t.Fatalf("NATS segments as_of once free: %q %+v", code, er)
	}

	// Without a limiter configured, every surface of one Views shares the
	// default one.
	a, b := Queries{Views: v}.limiter(), (&httpHandler{o: HTTPOptions{Views: v}}).queries().limiter()
	if a != b || cap(a.sem) != DefaultMaxPopulationAsOf {
		t.Fatalf("default limiters: shared %v, size %d", a == b, cap(a.sem))
	}
}
