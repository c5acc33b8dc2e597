package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/accesslog"
)

// recordAccess writes entries into the access log of the data dir dir.
func recordAccess(t *testing.T, dir string, entries ...accesslog.Entry) {
	t.Helper()
	l, err := accesslog.Open(accesslog.Dir(dir), accesslog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// accessLines decodes export --what access's JSONL.
func accessLines(t *testing.T, out string) []accesslog.Entry {
	t.Helper()
	var es []accesslog.Entry
	for line := range strings.Lines(out) {
		var e accesslog.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		es = append(es, e)
	}
	return es
}

func TestExportAccessOffline(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	recordAccess(t, dir,
		accesslog.Entry{Time: day, Token: "tablet-042", Role: "reader", Customer: "cust-1", Route: "GET /v1/customers/{id}"},
		accesslog.Entry{Time: day.Add(time.Hour), Token: "audit", Role: "auditor", Customer: "cust-2", Route: "GET /v1/customers/{id}/events"},
		accesslog.Entry{Time: day.Add(48 * time.Hour), Token: "tablet-042", Role: "reader", Customer: "cust-1", Route: "GET /v1/customers/{id}/events"},
	)
	all := accessLines(t, mustRun(t, nil, "export", "--data", dir, "--what", "access"))
	if len(all) != 3 || all[0].Token != "tablet-042" || all[1].Customer != "cust-2" || !all[2].Time.Equal(day.Add(48*time.Hour)) {
		t.Fatalf("export --what access: %+v", all)
	}
	if got := accessLines(t, mustRun(t, nil, "export", "--data", dir, "--what", "access", "--customer", "cust-1")); len(got) != 2 || got[0].Customer != "cust-1" || got[1].Customer != "cust-1" {
		t.Errorf("--customer cust-1: %+v", got)
	}
	// --until a date: up to the end of that day.
	if got := accessLines(t, mustRun(t, nil, "export", "--data", dir, "--what", "access", "--since", "2026-03-01T09:30:00Z", "--until", "2026-03-01")); len(got) != 1 || got[0].Customer != "cust-2" {
		t.Errorf("--since 09:30 --until 2026-03-01: %+v", got)
	}
	csv := mustRun(t, nil, "export", "--data", dir, "--what", "access", "--format", "csv", "--customer", "cust-2")
	if want := "time,token,role,customer,route\n2026-03-01T10:00:00Z,audit,auditor,cust-2,GET /v1/customers/{id}/events\n"; csv != want {
		t.Errorf("csv:\n%s\nwant\n%s", csv, want)
	}
	r := runCLI(t, nil, "export", "--data", dir, "--what", "access", "--json")
	if r.code != 0 || !strings.Contains(r.stderr, `"exported":3`) {
		t.Errorf("summary: exit %d, stderr %q", r.code, r.stderr)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--what", "access", "--since", "yesterday"}, `--since: "yesterday" is neither RFC 3339 nor YYYY-MM-DD`},
		{[]string{"--what", "access", "--since", "2026-03-02", "--until", "2026-03-01"}, `--until: "2026-03-01" is not after since "2026-03-02"`},
		{[]string{"--what", "events", "--customer", "cust-1"}, "--customer, --since and --until go with --what access"},
	} {
		r := runCLI(t, nil, append([]string{"export", "--data", dir}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("%v: exit %d, %v; want exit 2 naming %q", c.args, r.code, r.err, c.want)
		}
	}
	r = runCLI(t, nil, "export", "--data", t.TempDir(), "--what", "access")
	if r.code != 1 || !strings.Contains(r.err.Error(), "no access log") {
		t.Errorf("no access log: exit %d, %v", r.code, r.err)
	}
}

// TestAccessLogEndToEnd: with a serve running with tokens, a reader's read
// of a customer (journey customer --server, journey history --server)
// leaves entries that journey export --what access shows — over
// --server to an auditor (not to the reader), and from the data dir once
// serve has stopped; no token's text is in them or in serve's log.
func TestAccessLogEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var jsonl []byte
	for i := range 3 {
		raw, err := journey.NewEvent(fmt.Sprint("e-", i), "web/1", journey.KindVisit, fmt.Sprint("cust-", 40+i),
			time.Date(2025, 5, 1, 10, i, 0, 0, time.UTC), map[string]any{"channel": "web"})
		if err != nil {
			t.Fatal(err)
		}
		jsonl = append(append(jsonl, raw...), '\n')
	}
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, jsonl, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "import", "--data", dir, file)
	reader := strings.TrimSpace(mustRun(t, nil, "token", "create", "--data", dir, "--role", "reader", "--name", "tablet-store-042"))
	auditor := strings.TrimSpace(mustRun(t, nil, "token", "create", "--data", dir, "--role", "auditor", "--name", "audit-firm"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, httpURL, done, serveErr := startServe(t, ctx, dir)
	mustRun(t, nil, "customer", "cust-42", "--server", httpURL, "--token", reader)
	mustRun(t, nil, "history", "cust-41", "--server", httpURL, "--token", reader)
	want := []accesslog.Entry{
		{Token: "tablet-store-042", Role: "reader", Customer: "cust-42", Route: "GET /v1/customers/{id}"},
		{Token: "tablet-store-042", Role: "reader", Customer: "cust-41", Route: "GET /v1/customers/{id}/events"},
	}
	check := func(how, out string, want []accesslog.Entry) {
		t.Helper()
		got := accessLines(t, out)
		for i := range got {
			if got[i].Time.IsZero() {
				t.Errorf("%s: entry %d has no time", how, i)
			}
			got[i].Time = time.Time{}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %v\nwant %v", how, got, want)
		}
		if strings.Contains(out, reader) || strings.Contains(out, auditor) {
			t.Errorf("%s holds a token's text", how)
		}
	}
	check("export --server", mustRun(t, nil, "export", "--what", "access", "--server", httpURL, "--token", auditor), want)
	check("export --server --customer cust-41", mustRun(t, nil, "export", "--what", "access", "--customer", "cust-41", "--server", httpURL, "--token", auditor), want[1:])
	if r := runCLI(t, nil, "export", "--what", "access", "--server", httpURL, "--token", reader); r.code != 1 || !strings.Contains(r.err.Error(), "403") {
		t.Errorf("export --what access as a reader: exit %d %v, want 403", r.code, r.err)
	}
	if r := runCLI(t, nil, "export", "--what", "access", "--data", dir); r.code == 0 || !strings.Contains(r.err.Error(), "--server") {
		t.Errorf("export --what access --data while serve runs: exit %d %v, want in use naming --server", r.code, r.err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	check("export --data (serve stopped)", mustRun(t, nil, "export", "--what", "access", "--data", dir), want)
	if strings.Contains(serveErr.String(), reader) || strings.Contains(serveErr.String(), auditor) {
		t.Error("serve's log holds a token's text")
	}
}

func TestAccessLogRetentionFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"400d": 400 * 24 * time.Hour, "720h": 720 * time.Hour, " 1d ": 24 * time.Hour} {
		if d, err := parseRetention(in); err != nil || d != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, bad := range []string{"soon", "0d", "-5d", "30m", "d", ""} {
		r := runCLI(t, nil, "serve", "--data", t.TempDir(), "--access-log-retention", bad)
		if r.code != 2 || !strings.Contains(r.err.Error(), "--access-log-retention") {
			t.Errorf("serve --access-log-retention %q: exit %d %v, want 2 naming the flag", bad, r.code, r.err)
		}
	}
}
