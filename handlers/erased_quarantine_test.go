package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/natstest"
	"github.com/journey-cdp/journey/keystore"
)

// The forgotten customer of these tests, and what their events say.
const (
	erasedID     = "ada-lovelace-1815"
	erasedEmail  = "ada@analytical-engine.example"
	erasedOrder  = "ORD-QX-77123"
	erasedSource = "survey/email"
)

// erasedSecrets is what no quarantine entry, reply or file may hold once
// the customer is forgotten.
var erasedSecrets = []string{erasedID, erasedEmail, erasedOrder}

// sealedDataDir opens dir as a new data dir opens by default: encrypted,
// with a master key generated into it (keystore.OpenDataDir), the log in
// dir/log. Both are closed when the test ends.
func sealedDataDir(t *testing.T, dir string) (*keystore.Store, string) {
	t.Helper()
	t.Setenv(keystore.MasterKeyEnv, "")
	ks, err := keystore.OpenDataDir(dir, keystore.DataDirOptions{Create: true})
	if err != nil || ks == nil {
		t.Fatalf("keys of a new data dir: %v %v", ks, err)
	}
	t.Cleanup(func() { _ = ks.Close() })
	return ks, filepath.Join(dir, "log")
}

// erasedEvent is a feedback event of the forgotten customer whose data
// carries their email and an order id.
func erasedEvent(t *testing.T, n int) []byte {
	t.Helper()
	raw, err := journey.NewEvent(fmt.Sprintf("fb-%d", n), erasedSource, journey.KindFeedback, erasedID,
		time.Date(2025, 6, 1+n, 10, 0, 0, 0, time.UTC),
		map[string]any{"csat": 2, "comment": fmt.Sprintf("write to %s about %s-%d", erasedEmail, erasedOrder, n)})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// forgetErased appends one event of the customer and forgets them.
func forgetErased(t *testing.T, st *eventstore.Store) {
	t.Helper()
	appendRaws(t, st, [][]byte{erasedEvent(t, 0)})
	if _, err := st.Forget(context.Background(), erasedID, "art. 17 request 9"); err != nil {
		t.Fatal(err)
	}
	if n := st.QuarantineCount(); n != 0 {
		t.Fatalf("quarantine before the late event: %d entries", n)
	}
}

// erasedEntries returns the quarantine entries, checking that each is an
// erased one without bytes, none of whose texts holds a secret.
func erasedEntries(t *testing.T, st *eventstore.Store) []eventstore.QuarantineEntry {
	t.Helper()
	var got []eventstore.QuarantineEntry
	err := st.QuarantineScan(context.Background(), func(e *eventstore.QuarantineEntry) error {
		got = append(got, *e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.Code != journey.CodeErased || len(e.Raw) != 0 {
			t.Errorf("quarantine %d: code %q with %d bytes, want erased without bytes", e.Seq, e.Code, len(e.Raw))
		}
		for _, s := range erasedSecrets {
			for what, v := range map[string]string{"raw": string(e.Raw), "field": e.Field, "reason": e.Reason, "origin": e.Origin} {
				if strings.Contains(v, s) {
					t.Errorf("quarantine %d: its %s %q holds %q", e.Seq, what, v, s)
				}
			}
		}
	}
	return got
}

// noSecretInFiles fails for every file under dir that holds a secret.
func noSecretInFiles(t *testing.T, dir string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, s := range erasedSecrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q is in %s", s, p)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk %s: %d files, %v", dir, files, err)
	}
}

// TestAppendErasedQuarantined: after forget, an event of the customer
// sent through the synchronous append (POST /v1/events, then the NATS
// journey.append request) is refused with code erased AND quarantined,
// as the stream's are: one entry of code erased whose raw, field, reason
// and origin hold neither the id nor the event's data; the reply names
// neither; no file of the data dir holds them afterwards.
func TestAppendErasedQuarantined(t *testing.T) {
	dir := t.TempDir()
	ks, logDir := sealedDataDir(t, dir)
	st, err := eventstore.Open(logDir, &eventstore.Options{Sealer: ks})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = st.Close()
		}
	})
	forgetErased(t, st)
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	notices := make(chan *nats.Msg, 4)
	if _, err := nc.ChanSubscribe(handlers.DefaultRejectSubject, notices); err != nil {
		t.Fatal(err)
	}
	m := handlers.NewMetrics()
	app := handlers.NewAppender(st, handlers.AppendOptions{Conn: nc, Metrics: m})

	// HTTP.
	hs := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st, Appender: app}))
	defer hs.Close()
	resp, err := http.Post(hs.URL+"/v1/events", "application/cloudevents+json", bytes.NewReader(erasedEvent(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e := wantJSONError(t, "POST /v1/events of an erased customer", resp.StatusCode, resp.Header, body, 400, "erased")
	if e.Field != "subject" {
		t.Errorf("erased reply: field %q, want subject", e.Field)
	}
	for _, s := range erasedSecrets {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("erased reply %s holds %q", body, s)
		}
	}
	got := erasedEntries(t, st)
	if len(got) != 1 || got[0].Origin != "http" || got[0].Field != "subject" {
		t.Fatalf("quarantine after the HTTP append: %+v, want one erased entry from http", got)
	}
	if n := st.QuarantineCount(); n != 1 {
		t.Fatalf("quarantine count %d, want 1", n)
	}
	select {
	case n := <-notices:
		var r handlers.Rejection
		if err := json.Unmarshal(n.Data, &r); err != nil || r.Code != journey.CodeErased || r.ID != "fb-1" || r.Customer != "" {
			t.Fatalf("rejection notice %s (%v)", n.Data, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rejection notice")
	}

	// A batch POST of another event: refused and quarantined alike.
	batch := append(append([]byte("["), erasedEvent(t, 3)...), ']')
	resp, err = http.Post(hs.URL+"/v1/events", handlers.BatchContentType, bytes.NewReader(batch))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`"erased"`)) {
		t.Fatalf("batch POST of an erased customer's event: %d %s", resp.StatusCode, body)
	}
	select {
	case n := <-notices:
		var r handlers.Rejection
		if err := json.Unmarshal(n.Data, &r); err != nil || r.Code != journey.CodeErased || r.ID != "fb-3" || r.Customer != "" {
			t.Fatalf("rejection notice of the batch %s (%v)", n.Data, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rejection notice for the batch's event: it was not quarantined")
	}

	// The NATS request, another event.
	svc, err := app.Serve(nc, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	reply, err := nc.Request(handlers.DefaultAppendSubject, erasedEvent(t, 2), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var er handlers.ErrorReply
	if err := json.Unmarshal(reply.Data, &er); err != nil || er.Error.Code != journey.CodeErased {
		t.Fatalf("request reply %s (%v), want code erased", reply.Data, err)
	}
	// Each refusal is an entry of its own, though none keeps bytes to
	// tell it from the others: three, each clean.
	if got := erasedEntries(t, st); len(got) != 3 {
		t.Fatalf("quarantine after the request: %d entries, want 3 (http, batch, request)", len(got))
	}
	if v := value(t, m.Rejected.WithLabelValues(string(journey.CodeErased))); v != 3 {
		t.Errorf("rejected{code=erased} = %v, want 3", v)
	}

	// Nothing of theirs in the data dir: not the quarantine, not its WAL.
	if err := svc.Stop(); err != nil {
		t.Fatal(err)
	}
	hs.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	noSecretInFiles(t, dir)
}

// TestIngestErasedQuarantinedWithoutID: after forget, an event of the
// customer arriving on the JetStream stream (real embedded NATS, the
// ingester running over an encrypted log) is quarantined without its
// bytes and with an origin that names the subject's form, not the
// customer ("nats:journey.events.*"); no text of the entry and no file of
// the log holds the id or the event's data.
func TestIngestErasedQuarantinedWithoutID(t *testing.T) {
	dir := t.TempDir()
	ks, logDir := sealedDataDir(t, dir)
	r := newRigStore(t, logDir, &eventstore.Options{Sealer: ks})
	r.publishOne(t, erasedEvent(t, 0))
	r.settle(t, 1)
	if _, err := r.store.Forget(context.Background(), erasedID, "art. 17 request 9"); err != nil {
		t.Fatal(err)
	}
	head := r.store.DurableSeq() // the erasure record
	r.publishOne(t, erasedEvent(t, 1))
	natstest.WaitFor(t, 30*time.Second, func() error {
		if n := r.store.QuarantineCount(); n != 1 {
			return fmt.Errorf("quarantine count %d, want 1", n)
		}
		return nil
	})
	r.settle(t, head)
	got := erasedEntries(t, r.store)
	if len(got) != 1 {
		t.Fatalf("quarantine: %d entries, want 1", len(got))
	}
	if want := "nats:" + handlers.DefaultSubjectPrefix + ".*"; got[0].Origin != want {
		t.Errorf("origin %q, want %q", got[0].Origin, want)
	}
	if v := value(t, r.metrics.Rejected.WithLabelValues(string(journey.CodeErased))); v != 1 {
		t.Errorf("rejected{code=erased} = %v, want 1", v)
	}
	r.stop()
	if err := r.store.Close(); err != nil && !errors.Is(err, eventstore.ErrClosed) {
		t.Fatal(err)
	}
	// The log only: the stream itself keeps the message until it is
	// purged or expires (README, Privacy: where personal data can live).
	noSecretInFiles(t, logDir)
}

// TestUncleanPathIsJSON404: a path Go's ServeMux would clean and redirect
// to ("//", "." and ".." segments; 307 with an HTML body) answers the JSON
// 404 of an unknown path, naming the clean path, whatever the method; the
// clean paths and path values still route.
func TestUncleanPathIsJSON404(t *testing.T) {
	st := openStore(t)
	appendDays(t, st, "cust-u", 1)
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st}))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Do(req)
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
	for _, c := range []struct{ method, path, clean string }{
		{"GET", "/v1//customers", "/v1/customers"},
		{"GET", "//v1/customers?prefix=cust", "/v1/customers"},
		{"GET", "/v1/./segments", "/v1/segments"},
		{"GET", "/v1/customers/cust-u//events", "/v1/customers/cust-u/events"},
		{"GET", "/v1/customers/x/../cust-u", "/v1/customers/cust-u"},
		{"POST", "/v1//events", "/v1/events"},
		{"DELETE", "/v1//events", "/v1/events"}, // no pattern for the method either
		{"GET", "/healthz/", ""},                // clean already: the plain 404
	} {
		what := c.method + " " + c.path
		code, hdr, body := send(c.method, c.path)
		e := wantJSONError(t, what, code, hdr, body, 404, "not_found")
		if hdr.Get("Location") != "" || bytes.Contains(body, []byte("<a href")) {
			t.Errorf("%s: Location %q, body %s", what, hdr.Get("Location"), body)
		}
		if c.clean != "" && !strings.Contains(e.Message, `"`+c.clean+`"`) {
			t.Errorf("%s: message %q does not name %q", what, e.Message, c.clean)
		}
	}
	// The clean forms still route.
	if code, _, body := send("GET", "/v1/customers/cust-u/events"); code != 200 {
		t.Fatalf("GET the events: %d %s", code, body)
	}
	if code, _, body := send("GET", "/healthz"); code != 200 {
		t.Fatalf("GET /healthz: %d %s", code, body)
	}
	code, hdr, body := send("DELETE", "/v1/events")
	wantJSONError(t, "DELETE /v1/events", code, hdr, body, 405, "method_not_allowed")
}
