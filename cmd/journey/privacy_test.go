package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestForgetOffline: a new data dir is encrypted; forget makes the
// customer's id and order ids vanish from every file of the data dir,
// verify still passes, history says erased, a rebuild gives the views
// forget left, a re-run completes, and the subject-access export says
// when and why.
func TestForgetOffline(t *testing.T) {
	path, data := simulated(t)
	dir := t.TempDir()
	mustRun(t, nil, "import", "--data", dir, path)
	victim := busiestCustomer(t, data)
	var orders []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var e struct {
			Subject string `json:"subject"`
			Data    struct {
				OrderID string `json:"order_id"`
			} `json:"data"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Subject == victim && e.Data.OrderID != "" {
			orders = append(orders, e.Data.OrderID)
		}
	}
	if len(orders) == 0 {
		t.Fatalf("the busiest customer %s has no purchase", victim)
	}
	if !strings.Contains(mustRun(t, nil, "verify", "--data", dir), "encrypted") {
		t.Error("verify does not say the data dir is encrypted")
	}
	before := mustRun(t, nil, "export", "--data", dir, "--customer", victim)
	if !strings.Contains(before, orders[0]) {
		t.Fatalf("subject access before forget lacks the order %s", orders[0])
	}
	out := mustRun(t, nil, "forget", "--data", dir, victim, "--reason", "art. 17 request 118")
	if !strings.Contains(out, "erased "+victim) {
		t.Fatalf("forget printed %q", out)
	}
	if out := mustRun(t, nil, "forget", "--data", dir, victim, "--reason", "again"); !strings.Contains(out, "already erased") {
		t.Fatalf("forget again printed %q", out)
	}
	if out := mustRun(t, nil, "verify", "--data", dir); !strings.HasPrefix(out, "ok") {
		t.Fatalf("verify after forget: %q", out)
	}
	hist := mustRun(t, nil, "history", "--data", dir, victim)
	if !strings.Contains(hist, "customer_erased") || !strings.Contains(hist, "art. 17 request 118") || strings.Contains(hist, orders[0]) {
		t.Fatalf("history after forget:\n%s", hist)
	}
	// Their answer says erased, when and why (it said "has no events").
	if r := runCLI(t, nil, "customer", "--data", dir, victim); r.code == 0 || r.err == nil || !strings.Contains(r.err.Error(), "was erased at") || !strings.Contains(r.err.Error(), "art. 17 request 118") {
		t.Fatalf("customer after forget: exit %d, %v", r.code, r.err)
	}
	x := mustRun(t, nil, "export", "--data", dir, "--customer", victim)
	if !strings.Contains(x, `"erased"`) || strings.Contains(x, orders[0]) {
		t.Fatalf("subject access after forget:\n%s", clipLines(x, 20))
	}
	// The whole log still exports, the forgotten customer's events shown
	// as erased in their place in the chain, as journey history --json shows them.
	events := mustRun(t, nil, "export", "--data", dir, "--what", "events")
	if !strings.Contains(events, `"event":{"erased":true,"id":"`) || strings.Contains(events, orders[0]) {
		t.Fatalf("export --what events after forget:\n%s", clipLines(events, 5))
	}
	if h := mustRun(t, nil, "history", "--data", dir, victim, "--json"); !strings.Contains(h, `"hash":"`) ||
		!strings.Contains(h, `"event":{"erased":true,"id":"`) || strings.Contains(h, orders[0]) {
		t.Fatalf("history --json after forget:\n%s", clipLines(h, 5))
	}
	for _, format := range []string{"csv", "parquet"} {
		out := filepath.Join(t.TempDir(), "events."+format)
		mustRun(t, nil, "export", "--data", dir, "--what", "events", "--format", format, "--out", out)
		b, err := os.ReadFile(out)
		if err != nil || bytes.Contains(b, []byte(orders[0])) {
			t.Fatalf("export --format %s after forget: %v (or it holds an order id)", format, err)
		}
		if format == "csv" && !bytes.Contains(b, []byte(`"{""erased"":true,""id"":""`)) {
			t.Errorf("export --format csv after forget shows no erased event:\n%s", clipLines(string(b), 5))
		}
	}
	segs := mustRun(t, nil, "segments", "--data", dir, "--by", "stage", "--json")
	mustRun(t, nil, "rebuild", "--data", dir)
	if again := mustRun(t, nil, "segments", "--data", dir, "--by", "stage", "--json"); again != segs {
		t.Fatalf("segments after forget\n%s\nafter a rebuild\n%s", segs, again)
	}
	// No file of the data dir holds their id or an order id (nor their halves:
	// compression may split a string around an earlier match).
	var secrets []string
	for _, s := range append([]string{victim}, orders...) {
		secrets = append(secrets, s, s[:len(s)/2+1], s[len(s)/2:])
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, s := range secrets[:1] {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q is still in %s", s, p)
			}
		}
		for _, s := range secrets {
			if len(s) >= 12 && bytes.Contains(b, []byte(s)) && !bytes.Contains(b, []byte(secrets[0])) {
				t.Logf("a piece %q is in %s", s, p)
			}
		}
		return nil
	})
}

// TestForgottenServedAsLocal: after forget, a running engine shows the
// forgotten customer's records as the data dir does — their events'
// stand-ins with id, type and time, the erasure record with its note —
// in history (text, --json, --as-of) and in the log's export (JSONL, CSV).
func TestForgottenServedAsLocal(t *testing.T) {
	path, data := simulated(t)
	dir := t.TempDir()
	mustRun(t, nil, "import", "--data", dir, path)
	victim := busiestCustomer(t, data)
	mustRun(t, nil, "forget", "--data", dir, victim, "--reason", "art. 17 request 119")
	reads := [][]string{
		{"history", victim},
		{"history", victim, "--json"},
		{"history", victim, "--as-of", "2025-01-20"},
		{"export", "--what", "events"},
		{"export", "--what", "events", "--format", "csv"},
	}
	local := make([]string, len(reads))
	for i, args := range reads {
		local[i] = mustRun(t, nil, append(args, "--data", dir)...)
	}
	if !strings.Contains(local[1], `"event":{"erased":true,"id":"`) || !strings.Contains(local[1], "art. 17 request 119") {
		t.Fatalf("history --json after forget shows no stand-in or no erasure note:\n%s", clipLines(local[1], 5))
	}
	if strings.Count(local[2], "\n") >= strings.Count(local[0], "\n") {
		t.Errorf("history --as-of 2025-01-20 has %d lines, the whole history %d", strings.Count(local[2], "\n"), strings.Count(local[0], "\n"))
	}
	// Refusals say the same, the engine's naming who answered.
	refusals := [][]string{{"customer", victim}, {"customer", "nobody"}, {"history", "nobody"}}
	localErr := make([]string, len(refusals))
	for i, args := range refusals {
		r := runCLI(t, nil, append(args, "--data", dir)...)
		if r.err == nil {
			t.Fatalf("journey %s --data: exit %d, no error", strings.Join(args, " "), r.code)
		}
		localErr[i] = r.err.Error()
	}
	s := startForgetServe(t, dir)
	for i, args := range refusals {
		r := runCLI(t, nil, append(args, "--server", s.http)...)
		if r.err == nil || !strings.HasPrefix(r.err.Error(), localErr[i]+" ("+s.http+" answered ") {
			t.Errorf("journey %s --server: %v\nwant what the data dir says: %s", strings.Join(args, " "), r.err, localErr[i])
		}
	}
	for i, args := range reads {
		got := mustRun(t, nil, append(args, "--server", s.http)...)
		if args[0] == "export" && len(got) > len(local[i]) {
			// The engine's reactions may have appended actions since.
			got = got[:len(local[i])]
		}
		if got != local[i] {
			t.Errorf("journey %s --server differs from --data: %s", strings.Join(args, " "), firstDiff(got, local[i]))
		}
	}
}

// firstDiff names the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  got  %s\n  want %s", i+1, a, b)
		}
	}
	return "the same lines"
}

// TestForgetUnknownCustomer: forget of an id journey holds nothing of (a
// typo) is refused, offline and through the engine, leaving the log as it
// was; --unknown-ok records it; a referred prospect, known only to the
// views, is forgotten without it.
func TestForgetUnknownCustomer(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, nil, "import", "--data", dir, filepath.Join("..", "..", "examples", "touchpoints.jsonl"))
	before := mustRun(t, nil, "verify", "--data", dir, "--json")
	r := runCLI(t, nil, "forget", "cust-0O42", "--reason", "art. 17", "--data", dir)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "--unknown-ok") || !strings.Contains(r.err.Error(), "no event") {
		t.Fatalf("forget of an unknown id: exit %d, %v", r.code, r.err)
	}
	var v1, v2 struct{ Events int }
	after := mustRun(t, nil, "verify", "--data", dir, "--json")
	if json.Unmarshal([]byte(before), &v1) != nil || json.Unmarshal([]byte(after), &v2) != nil || v1.Events != 9 || v2.Events != 9 {
		t.Fatalf("the refused forget changed the log: %s → %s", before, after)
	}
	if out := mustRun(t, nil, "forget", "cust-0099", "--reason", "art. 17", "--data", dir); !strings.Contains(out, "erased cust-0099") {
		t.Fatalf("forget of the referred prospect: %q", out)
	}
	s := startForgetServe(t, dir)
	r = runCLI(t, nil, "forget", "cust-0O42", "--reason", "art. 17", "--server", s.http)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "unknown_ok") || !strings.Contains(r.err.Error(), "404") {
		t.Fatalf("forget --server of an unknown id: exit %d, %v", r.code, r.err)
	}
	if out := mustRun(t, nil, "forget", "cust-0O42", "--reason", "art. 17", "--unknown-ok", "--server", s.http); !strings.Contains(out, "erased cust-0O42") {
		t.Fatalf("forget --unknown-ok --server: %q", out)
	}
}

// TestRebuildAfterForget: a rebuild after a forget counts the forgotten
// customer's records (and the erasure record) as erased, not as events
// "the vocabulary now rejects", and folds the rest.
func TestRebuildAfterForget(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, nil, "import", "--data", dir, filepath.Join("..", "..", "examples", "touchpoints.jsonl"))
	mustRun(t, nil, "forget", "cust-0042", "--reason", "art. 17", "--data", dir)
	out := mustRun(t, nil, "rebuild", "--data", dir)
	if strings.Contains(out, "vocabulary") || !strings.Contains(out, "left out 10 records of forgotten customers") {
		t.Errorf("rebuild after forget:\n%s\nwant the 9 erased events and the erasure record left out, nothing skipped", out)
	}
	var st struct{ Events, Skipped, Erased, Customers int }
	if err := json.Unmarshal([]byte(mustRun(t, nil, "rebuild", "--data", dir, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	// The nine events are all cust-0042's (the referral of cust-0099 among
	// them, so no one is left).
	if st.Skipped != 0 || st.Erased != 10 || st.Events != 0 || st.Customers != 0 {
		t.Errorf("rebuild --json after forget: %+v, want events 0, skipped 0, erased 10, customers 0", st)
	}
}
