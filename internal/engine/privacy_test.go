package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/engine"
	"github.com/journey-cdp/journey/internal/natstest"
)

// TestServeForget: DELETE /v1/customers/{id} on the running engine erases
// the customer — their answer is 410 erased, their stream messages are
// purged, verify passes — and the other customers stay.
func TestServeForget(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	info, done := startEngine(t, ctx, engineConfig(data))
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var lines [][]byte
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, c := range []string{"lin-bo-77", "other-1", "lin-bo-77", "other-2"} {
		raw, err := journey.NewEvent(fmt.Sprintf("fe-%d", i), "pos/till-1", journey.KindPurchase, c, t0.Add(time.Duration(i)*time.Hour),
			map[string]any{"order_id": fmt.Sprintf("ORD-SECRET-%d", i), "amount": "12.00", "currency": "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, raw)
	}
	if sum, err := handlers.Publish(ctx, nc, bytes.NewReader(append(bytes.Join(lines, []byte("\n")), '\n')), handlers.PublishOptions{}); err != nil || sum.Published != 4 {
		t.Fatalf("publish: %+v %v", sum, err)
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		if code, _ := httpGet(info.HTTPAddr, "/v1/customers/lin-bo-77"); code != 200 {
			return fmt.Errorf("customer not answered yet: %d", code)
		}
		return nil
	})
	req, _ := http.NewRequest(http.MethodDelete, "http://"+info.HTTPAddr+"/v1/customers/lin-bo-77?reason=art.17", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"stream_purged":2`) {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	if code, b := httpGet(info.HTTPAddr, "/v1/customers/lin-bo-77"); code != http.StatusGone || !strings.Contains(b, `"erased"`) {
		t.Fatalf("answer after forget: %d %s", code, b)
	}
	if code, _ := httpGet(info.HTTPAddr, "/v1/customers/other-1"); code != 200 {
		t.Fatalf("another customer: %d", code)
	}
	if code, b := httpGet(info.HTTPAddr, "/v1/verify"); code != 200 || !strings.Contains(b, `"ok":true`) {
		t.Fatalf("verify: %d %s", code, b)
	}
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, handlers.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := st.Info(ctx, jetstream.WithSubjectFilter(handlers.DefaultSubjectPrefix+".lin-bo-77"))
	if err != nil || si.State.Subjects[handlers.DefaultSubjectPrefix+".lin-bo-77"] != 0 {
		t.Fatalf("stream after forget: %+v %v", si.State.Subjects, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("engine stop: %v", err)
	}
	// The log, the views and the key store hold neither the id nor its
	// order ids (the embedded JetStream store is not checked: its purge
	// marks messages deleted, its blocks are compacted on its own time).
	for _, sub := range []string{"log", "views", "keys", "reactions", "access"} {
		filepath.Walk(filepath.Join(data, sub), func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, s := range []string{"lin-bo-77", "ORD-SECRET-0", "ORD-SECRET-2"} {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%q is still in %s", s, p)
				}
			}
			return nil
		})
	}
}

func engineConfig(data string) engine.Config {
	return engine.Config{DataDir: data, NATSListen: "127.0.0.1:0", HTTP: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}
