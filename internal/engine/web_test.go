package engine_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/journey-cdp/journey/internal/engine"
)

// TestServeWebPage: serve mounts the web page under /ui/ beside the API,
// and / goes to it.
func TestServeWebPage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	info, done := startEngine(t, ctx, engine.Config{
		DataDir: t.TempDir(), NATSListen: "127.0.0.1:0", HTTP: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Reactions: engine.Reactions{Off: true},
	})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + info.HTTPAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, body := httpGet(info.HTTPAddr, "/ui/"); code != 200 || !strings.Contains(body, "Find a customer") {
		t.Errorf("GET /ui/: %d %.200s", code, body)
	}
	// The audit page shows the ingester's position and lag (web.Options.Ingest).
	if code, body := httpGet(info.HTTPAddr, "/ui/audit"); code != 200 || !strings.Contains(body, "Stream position in the log") || !strings.Contains(body, `<dd id="pending">`) {
		t.Errorf("GET /ui/audit: %d, without the ingest's lag", code)
	}
	if code, body := httpGet(info.HTTPAddr, "/ui/static/style.css"); code != 200 || !strings.Contains(body, "--accent") {
		t.Errorf("GET /ui/static/style.css: %d", code)
	}
	if code, body := httpGet(info.HTTPAddr, "/v1/openapi.json"); code != 200 || !strings.Contains(body, `"openapi": "3.1.0"`) {
		t.Errorf("GET /v1/openapi.json: %d %.100s", code, body)
	}
	if code, _ := httpGet(info.HTTPAddr, "/v1/nothing"); code != 404 {
		t.Errorf("GET /v1/nothing: %d, want the API's 404", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
