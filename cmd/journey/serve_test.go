package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs journey serve on dir in-process (embedded NATS and HTTP
// on free ports, then the extra flags) until ctx ends, and waits until it
// says where it serves. done receives serve's result; serveErr holds its stderr.
func startServe(t *testing.T, ctx context.Context, dir string, extra ...string) (natsURL, httpURL string, done chan error, serveErr *syncBuffer) {
	t.Helper()
	serveErr = &syncBuffer{}
	done = make(chan error, 1)
	go func() {
		a := newApp(nil, &bytes.Buffer{}, serveErr)
		a.getenv = func(string) string { return "" }
		a.now = func() time.Time { return testClock }
		done <- a.execute(ctx, append([]string{"serve", "--data", dir, "--nats-listen", "127.0.0.1:-1", "--http", "127.0.0.1:0", "--log-level", "warn"}, extra...))
	}()
	ready := regexp.MustCompile(`journey serving \(NATS (\S+), HTTP (\S+)\)`)
	for deadline := time.Now().Add(20 * time.Second); natsURL == ""; time.Sleep(20 * time.Millisecond) {
		if m := ready.FindStringSubmatch(serveErr.String()); m != nil {
			natsURL, httpURL = m[1], m[2]
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, serveErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 20s:\n%s", serveErr.String())
		}
	}
	return natsURL, httpURL, done, serveErr
}

// TestServePublishQuery runs journey serve in-process (embedded NATS on a
// free port), publishes simulated traffic with journey publish, reads it
// back through --server, and stops the server with its context.
func TestServePublishQuery(t *testing.T) {
	_, data := simulated(t)
	dir := t.TempDir() + "/data"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	natsURL, httpURL, done, serveErr := startServe(t, ctx, dir, "--reactions=false") // its counts are the published events

	var sum publishLine
	if err := json.Unmarshal([]byte(mustRun(t, data, "publish", "--json", "--nats-url", natsURL, "-")), &sum); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(data), "\n")
	if sum.Published != lines || sum.Duplicates != 0 {
		t.Fatalf("publish: %+v, want %d published", sum, lines)
	}
	// the engine validates: the invalid ones end in quarantine, the rest in the log
	cust := busiestCustomer(t, data)
	local := strings.Count(string(data), `"subject":"`+cust+`"`)
	var hist string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := runCLI(t, nil, "history", "--server", httpURL, "--json", cust)
		hist = r.stdout
		if r.code == 0 && strings.Count(hist, "\n") >= local-2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history --server of %s: exit %d %v, %d lines, want about %d", cust, r.code, r.err, strings.Count(hist, "\n"), local)
		}
	}
	// The data dir names the server to ask instead.
	if r, want := runCLI(t, nil, "history", "--data", dir, cust), "data dir "+dir+" is in use by journey serve at "+httpURL+"; pass --server "+httpURL; r.code != 1 || r.err.Error() != want {
		t.Errorf("history on the served data dir: exit %d, %v\nwant %s", r.code, r.err, want)
	}
	// The views follow the log asynchronously: the customer may lag the history a moment.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := runCLI(t, nil, "customer", "--server", httpURL, cust)
		if r.code == 0 {
			if !strings.Contains(r.stdout, "stage ") {
				t.Errorf("customer --server:\n%s", r.stdout)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("customer --server %s: exit %d: %v", cust, r.code, r.err)
		}
	}
	var counts map[string]int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := json.Unmarshal([]byte(mustRun(t, nil, "segments", "--server", httpURL, "--json", "--by", "stage")), &counts); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range counts {
			n += c
		}
		if n == 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segments --server: %v, want 40 customers", counts)
		}
	}
	if r := runCLI(t, nil, "customer", "--server", httpURL, "nobody"); r.code != 1 {
		t.Errorf("customer nobody --server: exit %d", r.code)
	}
	// rebuild through the server: the served views are rebuilt from the log
	// and swapped in, and answer the same counts afterwards.
	var rb struct {
		Events    uint64 `json:"events"`
		Customers uint64 `json:"customers"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "rebuild", "--server", httpURL, "--json")), &rb); err != nil {
		t.Fatal(err)
	}
	if rb.Events == 0 || rb.Customers < 40 {
		t.Errorf("rebuild --server: %+v, want the served log's events of at least 40 customers", rb)
	}
	var after map[string]int
	if err := json.Unmarshal([]byte(mustRun(t, nil, "segments", "--server", httpURL, "--json", "--by", "stage")), &after); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(counts) {
		t.Errorf("segments after rebuild --server = %v, before %v", after, counts)
	}

	// Every read command is answered by the running engine: an auditor
	// verifies, an analyst exports, while it runs. The answers equal those
	// from the data dir once it is stopped.
	served := map[string]string{}
	reads := [][]string{
		{"verify", "--json"},
		{"nps", "--json", "--by", "month"},
		{"quarantine", "list", "--json"},
		{"quarantine", "list"},
		{"export", "--what", "events"},
		{"export", "--what", "events", "--format", "csv"},
		{"export", "--what", "customers"},
		{"export", "--what", "customers", "--format", "csv", "--as-of", "2025-02-01"},
		{"export", "--what", "quarantine", "--format", "csv"},
	}
	for _, args := range reads {
		served[strings.Join(args, " ")] = mustRun(t, nil, append(args, "--server", httpURL)...)
	}
	var sv verifyResult
	if err := json.Unmarshal([]byte(served["verify --json"]), &sv); err != nil || !sv.OK || sv.Events == 0 {
		t.Errorf("verify --server: %+v (%v)", sv, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after interrupt: %v\n%s", err, serveErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
	}
	// the served log verifies and the quarantine holds the invalid events
	var rep verifyResult
	if err := json.Unmarshal([]byte(mustRun(t, nil, "verify", "--data", dir, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	q := strings.Count(mustRun(t, nil, "quarantine", "list", "--data", dir, "--json"), "\n")
	if !rep.OK || int(rep.Events)+q != lines {
		t.Fatalf("after serve: verify %+v and %d quarantined, want %d events in all", rep, q, lines)
	}
	if _, err := os.Stat(filepath.Join(dir, "SERVER")); !os.IsNotExist(err) {
		t.Errorf("SERVER left in the data dir after a clean stop: %v", err)
	}
	for _, args := range reads {
		k := strings.Join(args, " ")
		local := mustRun(t, nil, append(args, "--data", dir)...)
		if args[0] == "verify" {
			continue // same log, checked above
		}
		if local != served[k] || local == "" {
			t.Errorf("journey %s: --server answered\n%s\nthe data dir\n%s", k, clipLines(served[k], 5), clipLines(local, 5))
		}
	}
	var lv verifyResult
	if err := json.Unmarshal([]byte(mustRun(t, nil, "verify", "--json", "--data", dir)), &lv); err != nil || lv.VerifyReply != sv.VerifyReply {
		t.Errorf("verify --server %+v, from the data dir %+v", sv.VerifyReply, lv.VerifyReply)
	}
}
