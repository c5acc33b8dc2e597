package handlers

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/internal/natstest"
)

// TestParsePubAck reads the PubAck shapes the server sends (a real one is
// checked end to end by TestPublishNoStream and TestIngest20k).
func TestParsePubAck(t *testing.T) {
	for _, c := range []struct {
		in      string
		dup     bool
		errPart string
	}{
		{in: `{"stream":"JOURNEY","seq":12}`},
		{in: `{"stream":"JOURNEY","seq":12,"duplicate": true}`, dup: true},
		{in: `{"stream":"JOURNEY","seq":12,"duplicate":true}`, dup: true},
		{in: `{"stream":"JOURNEY","seq":12,"duplicate": false}`},
		{in: `{"stream":"JOURNEY","domain":"hub","seq":3,"duplicate":true}`, dup: true},
		{in: `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"JOURNEY"}`, errPart: "maximum messages exceeded"},
		{in: `{"stream":"JOURNEY","error":{"code":400,"err_code":10071,"description":"wrong last sequence"}}`, errPart: "wrong last sequence"},
		{in: `not json`, errPart: "invalid PubAck"},
		{in: `{}`, errPart: "without a stream"},
	} {
		dup, err := parsePubAck([]byte(c.in))
		if c.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("%s: err %v, want one with %q", c.in, err, c.errPart)
			}
			continue
		}
		if err != nil || dup != c.dup {
			t.Errorf("%s: duplicate %v err %v, want %v", c.in, dup, err, c.dup)
		}
	}
}

// TestPublishNoStream publishes where no stream listens: every line is
// retried, then counted as failed with its id, and Publish returns.
func TestPublishNoStream(t *testing.T) {
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	in := `{"id":"a1","subject":"c1"}` + "\n" + `{"id":"a2","subject":"c2"}` + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	sum, err := Publish(ctx, nc, bytes.NewReader([]byte(in)), PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Published != 0 || sum.Failed != 2 || len(sum.Errors) != 2 {
		t.Fatalf("summary %+v, want 2 failed", sum)
	}
	for _, e := range sum.Errors {
		if !strings.Contains(e.Message, jetstream.ErrNoStreamResponse.Error()) || (e.ID != "a1" && e.ID != "a2") {
			t.Fatalf("error %+v", e)
		}
	}
	if d := time.Since(t0); d < pubRetries*pubRetryWait {
		t.Fatalf("gave up after %v, before its %d retries", d, pubRetries)
	}
}
