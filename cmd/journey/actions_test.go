package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/handlers/reactions"
	"github.com/journey-cdp/journey/projections"
)

// journey serve runs the reactions: a repeat purchase published is asked
// a thank-you on journey.actions.thank_you (once), which journey actions
// list shows (--server, then the stopped data dir), /metrics counts, and
// export writes as CSV; a bad --status is a usage error naming the flag.
func TestServeActions(t *testing.T) {
	dir := t.TempDir() + "/data"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	natsURL, httpURL, done, serveErr := startServe(t, ctx, dir)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	got := map[string]int{}
	sub, err := nc.Subscribe("journey.actions.>", func(m *nats.Msg) {
		mu.Lock()
		got[m.Subject+" "+m.Header.Get(jetstream.MsgIDHeader)]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	var in strings.Builder
	for i, at := range []time.Time{testClock.Add(-48 * time.Hour), testClock.Add(-time.Hour)} {
		b, err := journey.NewEvent("buy-"+string(rune('1'+i)), "pos/store-1", journey.KindPurchase, "cust-1", at,
			map[string]any{"order_id": "o" + string(rune('1'+i)), "amount": "12.00", "currency": "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	mustRun(t, []byte(in.String()), "publish", "--json", "--nats-url", natsURL, "-")
	want := "journey.actions.thank_you " + reactions.ActionID("buy-2", reactions.KindThankYou)
	var list handlers.ActionsAnswer
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := got[want]
		mu.Unlock()
		r := runCLI(t, nil, "actions", "list", "--server", httpURL, "--json")
		if r.code == 0 {
			list = handlers.ActionsAnswer{}
			if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
				t.Fatal(err)
			}
		}
		if n == 1 && len(list.Actions) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %v, listed %+v (exit %d %v)\n%s", got, list, r.code, r.err, serveErr.String())
		}
	}
	a := list.Actions[0]
	if a.Customer != "cust-1" || a.Kind != "thank_you" || a.Status != "pending" || a.Reason != "repeat_purchase" {
		t.Fatalf("listed %+v", a)
	}
	resp, err := http.Get(httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`journey_actions_asked_total{kind="thank_you"} 1`, `journey_actions_dispatched_total{kind="thank_you"} 1`, `journey_actions_overdue{kind="winback"} 0`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	csv := mustRun(t, nil, "actions", "export", "--server", httpURL, "--format", "csv", "--status", "pending")
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "cust-1,"+a.ID+",thank_you,pending,repeat_purchase,") {
		t.Fatalf("export csv:\n%s", csv)
	}
	if out := mustRun(t, nil, "actions", "list", "--server", httpURL, "--status", "done"); !strings.Contains(out, "no actions") {
		t.Errorf("list --status done:\n%s", out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 1 {
		t.Errorf("received %v, want the one thank-you", got)
	}
	mu.Unlock()
	if r := runCLI(t, nil, "actions", "list", "--data", dir, "--status", "sent"); r.code != 2 || !strings.Contains(r.err.Error(), "--status") {
		t.Errorf("--status sent: exit %d %v", r.code, r.err)
	}
	// --limit takes the engine's range on both surfaces.
	for _, n := range []string{"0", "-1", "100001"} {
		for _, where := range [][]string{{"--data", dir}, {"--server", httpURL}} {
			if r := runCLI(t, nil, append([]string{"actions", "list", "--limit", n}, where...)...); r.code != 2 || !strings.Contains(r.err.Error(), "--limit") {
				t.Errorf("actions list --limit %s %s: exit %d %v", n, where[0], r.code, r.err)
			}
		}
	}
}

// journey actions list and export on a stopped engine's data dir, now and
// as of an instant before the action was recorded.
func TestActionsListLocal(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	clock := func() time.Time { return testClock }
	store, err := eventstore.Open(filepath.Join(dir, "log"), &eventstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	views, err := projections.Open(dir, store, &projections.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	r, err := reactions.Open(reactions.Options{Store: store, Views: views, Dir: filepath.Join(dir, "reactions"), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []eventstore.Request
	for i, at := range []time.Time{testClock.Add(-72 * time.Hour), testClock.Add(-24 * time.Hour)} {
		raw, err := journey.NewEvent("p"+string(rune('1'+i)), "pos/store-1", journey.KindPurchase, "cust-9", at,
			map[string]any{"order_id": "o" + string(rune('1'+i)), "amount": "5.00", "currency": "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := journey.DecodeStored(raw)
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
	}
	if _, err := store.Append(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := views.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := r.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	r.Close()
	views.Close()
	store.Close()

	var ans handlers.ActionsAnswer
	if err := json.Unmarshal([]byte(mustRun(t, nil, "actions", "list", "--data", dir, "--json", "--kind", "thank_you")), &ans); err != nil {
		t.Fatal(err)
	}
	id := reactions.ActionID("p2", reactions.KindThankYou)
	if len(ans.Actions) != 1 || ans.Actions[0].ID != id || ans.Actions[0].Status != "pending" || ans.Truncated {
		t.Fatalf("list: %+v", ans)
	}
	if out := mustRun(t, nil, "actions", "export", "--data", dir); !strings.Contains(out, `"id":"`+id+`"`) || strings.Count(out, "\n") != 1 {
		t.Fatalf("export jsonl:\n%s", out)
	}
	before := testClock.Add(-48 * time.Hour).Format(time.RFC3339)
	if out := mustRun(t, nil, "actions", "list", "--data", dir, "--as-of", before); !strings.Contains(out, "no actions") {
		t.Fatalf("as of %s:\n%s", before, out)
	}
	if r := runCLI(t, nil, "actions", "list", "--data", dir, "--kind", "coupon"); r.code != 2 || !strings.Contains(r.err.Error(), "--kind") {
		t.Errorf("--kind coupon: exit %d %v", r.code, r.err)
	}
}
