package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/journey-cdp/journey/checkpoint"
	"github.com/journey-cdp/journey/eventstore"
)

// TestHTTPCheckpoint: GET /v1/checkpoint signs the head (503 where no
// key is kept), /v1/checkpoint/verify checks a checkpoint against the live
// log, and refuses a malformed one naming the parameter.
func TestHTTPCheckpoint(t *testing.T) {
	data := t.TempDir()
	store, err := eventstore.Open(filepath.Join(data, "log"), &eventstore.Options{NoSync: true, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	get := func(h http.Handler, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}
	for _, path := range []string{"/v1/checkpoint", "/v1/checkpoint/key"} {
		if rec := get(NewHTTPHandler(HTTPOptions{Store: store}), path); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"internal"`) ||
			!strings.Contains(rec.Body.String(), "checkpoints are not signed here") {
			t.Fatalf("%s, no keeper: %d %s", path, rec.Code, rec.Body)
		}
	}
	keeper, err := checkpoint.OpenKeeper(data, store, checkpoint.KeeperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHTTPHandler(HTTPOptions{Store: store, Checkpoints: keeper})
	rec := get(h, "/v1/checkpoint")
	cps, err := checkpoint.Parse(rec.Body.Bytes())
	if rec.Code != http.StatusOK || err != nil || len(cps) != 1 {
		t.Fatalf("GET /v1/checkpoint: %d %s %v", rec.Code, rec.Body, err)
	}
	if err := cps[0].Verify(keeper.Key().Public()); err != nil {
		t.Fatalf("the served checkpoint: %v", err)
	}
	q := url.Values{"since": {rec.Body.String()}, "key": {keeper.Key().PublicText()}}
	rec = get(h, "/v1/checkpoint/verify?"+q.Encode())
	var reply checkpoint.Reply
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &reply) != nil || !reply.OK {
		t.Fatalf("verify since the served checkpoint: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct{ query, field string }{
		{"since=" + url.QueryEscape(`{"seq":`), "since"},
		{"since=", "since"},
		{url.Values{"since": {cps[0].Hash}, "key": {"nope"}}.Encode(), "since"},
		{url.Values{"since": {q.Get("since")}, "key": {"nope"}}.Encode(), "key"},
	} {
		rec := get(h, "/v1/checkpoint/verify?"+c.query)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"`+c.field+`"`) {
			t.Errorf("verify?%s: %d %s, want 400 naming %s", c.query, rec.Code, rec.Body, c.field)
		}
	}
}
