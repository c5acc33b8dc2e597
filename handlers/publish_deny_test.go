package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/internal/natsconn"
)

// syncBuf is a bytes.Buffer for a logger written from NATS's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPublishDenied: a token that may not publish to journey.events.>
// (a reader's, on the embedded NATS with access control) stops Publish
// at the server's first permissions violation, with one error naming
// the subject, instead of a warning per message and the ack timeout;
// reading stops too. The connection's own error handler is back after.
func TestPublishDenied(t *testing.T) {
	tokens, err := auth.OpenTokens(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	reader, _, err := tokens.Create("t-reader", auth.Reader, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := natsconn.Start(natsconn.Embedded{StoreDir: t.TempDir(), Listen: "127.0.0.1:0",
		Auth: auth.NewNATSAuthenticator(tokens, auth.NATSOptions{Internal: "engine-secret"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	logs := &syncBuf{}
	nc, err := natsconn.Connect(natsconn.Client{URL: s.ClientURL(), Token: reader,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	for _, batch := range []int{1, 10} {
		var in strings.Builder
		const lines = 2000
		for i := range lines {
			fmt.Fprintf(&in, `{"id":"e%d","subject":"c%d"}`+"\n", i, i%3)
		}
		var mu sync.Mutex
		var last PublishProgress
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		sum, err := Publish(ctx, nc, strings.NewReader(in.String()), PublishOptions{MaxPending: 8, Batch: batch,
			Progress: func(p PublishProgress) { mu.Lock(); last = p; mu.Unlock() }})
		cancel()
		took := time.Since(t0)
		var de *PublishDeniedError
		if !errors.As(err, &de) || !strings.HasPrefix(de.Subject, "journey.events.c") || de.Reply || de.Subscribe {
			t.Fatalf("batch %d: error %v, want a *PublishDeniedError on journey.events.c…", batch, err)
		}
		if !strings.HasPrefix(err.Error(), "not allowed to publish to journey.events.c") || strings.Contains(err.Error(), reader) {
			t.Errorf("batch %d: error %q", batch, err)
		}
		if took > 5*time.Second {
			t.Errorf("batch %d: took %v, want it to stop at the first refusal", batch, took)
		}
		if sum.Published != 0 || sum.Failed < 1 || len(sum.Errors) != 1 || sum.Errors[0].Message != err.Error() {
			t.Errorf("batch %d: summary %+v, want nothing published and the one error", batch, sum)
		}
		mu.Lock()
		if last.Lines >= lines {
			t.Errorf("batch %d: read all %d lines after the refusal", batch, last.Lines)
		}
		mu.Unlock()
	}
	if strings.Contains(logs.String(), "ermissions") {
		t.Errorf("the connection's handler saw Publish's violations:\n%s", logs)
	}
	// The connection's handler is back: a violation outside Publish is logged.
	if err := nc.Publish("journey.events.x", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "ermissions") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "ermissions") {
		t.Errorf("a violation after Publish was not logged by the connection's handler: %q", logs)
	}
}
