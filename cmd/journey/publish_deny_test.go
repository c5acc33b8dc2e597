package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/natstest"
)

// TestPublishDeniedToken: publish with a token that may not publish (a
// reader's, to a serve with access control) fails at once with one line
// saying so and what to use, exit 1, no warning per message, no token.
func TestPublishDeniedToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	reader := strings.TrimSpace(mustRun(t, nil, "token", "create", "--data", dir, "--role", "reader", "--name", "t-reader"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	natsURL, _, done, _ := startServe(t, ctx, dir)

	var in strings.Builder
	for i := range 500 {
		fmt.Fprintf(&in, `{"id":"e%d","subject":"cust-%d"}`+"\n", i, i%5)
	}
	t0 := time.Now()
	r := runCLI(t, []byte(in.String()), "publish", "--nats-url", natsURL, "--token", reader, "-")
	took := time.Since(t0)
	if r.code != 1 || r.err == nil {
		t.Fatalf("publish as a reader: exit %d, %v", r.code, r.err)
	}
	msg := userMessage(r.err)
	if !strings.HasPrefix(msg, "not allowed to publish to journey.events.cust-") ||
		!strings.HasSuffix(msg, ": the token may not publish (use a writer token)") || strings.Contains(msg, "\n") {
		t.Errorf("publish as a reader: %q", msg)
	}
	if took > 5*time.Second {
		t.Errorf("publish as a reader took %v: it waited for the ack timeout", took)
	}
	if strings.Contains(r.stderr, "ermissions") || r.stdout != "" {
		t.Errorf("publish as a reader printed more than its error:\nstdout %q\nstderr %q", r.stdout, r.stderr)
	}
	for _, s := range []string{msg, r.stdout, r.stderr} {
		if strings.Contains(s, reader) {
			t.Errorf("the output shows the token: %q", s)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPublishFailedLines: a failure known by id only is printed without
// a line number ("line 0 "), one without either as its message alone,
// and the count of lines not published is in the right number.
func TestPublishFailedLines(t *testing.T) {
	srv := natstest.RunServer(t) // no stream: no PubAck ever comes
	r := runCLI(t, []byte(`{"id":"a1","subject":"c1"}`+"\n"), "publish", "--nats-url", srv.ClientURL(), "-")
	if r.code != 1 || r.err == nil || r.err.Error() != "1 line was not published" {
		t.Errorf("one line not published: exit %d, %v", r.code, r.err)
	}
	if !strings.Contains(r.stdout, "1 failed:\n  a1: not acknowledged: ") || strings.Contains(r.stdout, "line 0") {
		t.Errorf("one line not published: %q", r.stdout)
	}
	for _, c := range []struct {
		e    handlers.LineError
		want string
	}{
		{handlers.LineError{Message: "3 events were not acknowledged within 30s"}, "3 events were not acknowledged within 30s"},
		{handlers.LineError{ID: "a1", Message: "m"}, "a1: m"},
		{handlers.LineError{Line: 4, Message: "m"}, "line 4: m"},
		{handlers.LineError{Line: 4, ID: "a1", Message: "m"}, "line 4 a1: m"},
	} {
		if got := lineError(c.e); got != c.want {
			t.Errorf("lineError(%+v) = %q, want %q", c.e, got, c.want)
		}
	}
}

// TestPublishRefusedAtConnect: a NATS server that refuses the connection
// (no token, or one it does not know) is one line naming the flag to pass,
// without the token's text.
func TestPublishRefusedAtConnect(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "token", "create", "--data", dir, "--role", "writer", "--name", "till-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	natsURL, _, done, _ := startServe(t, ctx, dir)
	in := []byte(`{"id":"e1","subject":"cust-1"}` + "\n")
	const bad = "jy_notAtokenOfThisServer"
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "pass --token (a journey token; default $JOURNEY_TOKEN), --nats-user, --nats-nkey or --nats-creds"},
		{[]string{"--token", bad}, "the server refused the token (--token, $JOURNEY_TOKEN or --nats-token)"},
	} {
		r := runCLI(t, in, append(append([]string{"publish", "--nats-url", natsURL}, c.args...), "-")...)
		if r.code != 1 || r.err == nil {
			t.Fatalf("publish %v: exit %d %v", c.args, r.code, r.err)
		}
		msg := userMessage(r.err)
		if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || strings.Contains(msg, bad) || strings.Contains(r.stderr, bad) {
			t.Errorf("publish %v: %q, want one line with %q and no token", c.args, msg, c.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPublishDeniedNamesRealFlags: the refusal of a connection without
// credentials names flags that journey publish has.
func TestPublishDeniedNamesRealFlags(t *testing.T) {
	a := newApp(strings.NewReader(""), io.Discard, io.Discard)
	a.getenv = func(string) string { return "" }
	cmd, _, err := a.rootCommand().Find([]string{"publish"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*handlers.PublishDeniedError{{Subject: "journey.events.c"}, {Subject: "_INBOX.x", Subscribe: true}} {
		msg := a.publishDenied(e, natsFlags{}).Error()
		names := regexp.MustCompile(`--[a-z-]+`).FindAllString(msg, -1)
		if len(names) == 0 {
			t.Errorf("%q names no flag", msg)
		}
		for _, n := range names {
			if n := strings.TrimPrefix(n, "--"); cmd.Flags().Lookup(n) == nil && cmd.InheritedFlags().Lookup(n) == nil {
				t.Errorf("%q names --%s, which journey publish does not have", msg, n)
			}
		}
	}
}
