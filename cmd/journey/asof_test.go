package main

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/projections/customer"
	"github.com/nats-io/nats.go"
)

// canonical re-encodes a customer answer (whatever surface printed it)
// so that answers compare field by field.
func canonical(t testing.TB, what string, b []byte) string {
	t.Helper()
	var c customer.Answer
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b)
	}
	out, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestCustomerAsOfSameEverywhere: one customer at one instant gets the
// same answer — RFM included — from `journey customer --as-of`, `journey
// export --what customers --as-of`, HTTP and the NATS query service,
// though stored events are later than the instant.
func TestCustomerAsOfSameEverywhere(t *testing.T) {
	file, _ := simulated(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, file)
	const at = "2025-02-10T14:30:00Z" // mid-day, mid-simulation (60 days from 2025-01-01)

	rows := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--as-of", at)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	withRFM := 0
	for sc.Scan() {
		var c customer.Answer
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.RFM != nil {
			withRFM++
		}
		rows[c.State.Customer] = canonical(t, "export row", sc.Bytes())
	}
	if len(rows) < 10 || withRFM == 0 {
		t.Fatalf("export as of %s: %d rows, %d with RFM", at, len(rows), withRFM)
	}
	cli := map[string]string{}
	for id, want := range rows {
		got := canonical(t, "customer --as-of", []byte(mustRun(t, nil, "customer", "--data", dir, "--json", "--as-of", at, id)))
		if got != want {
			t.Fatalf("customer %s --as-of %s:\n%s\nexport row:\n%s", id, at, got, want)
		}
		cli[id] = got
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	natsURL, httpURL, done, serveErr := startServe(t, ctx, dir, "--reactions=false") // the offline CLI has no actions: compare without reactions
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for id, want := range cli {
		if got := canonical(t, "HTTP", []byte(mustRun(t, nil, "customer", "--server", httpURL, "--json", "--as-of", at, id))); got != want {
			t.Fatalf("HTTP customer %s as of %s:\n%s\nCLI:\n%s", id, at, got, want)
		}
		req, _ := json.Marshal(map[string]string{"id": id, "as_of": at})
		msg, err := nc.Request("journey.query.customer", req, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := canonical(t, "NATS", msg.Data); got != want {
			t.Fatalf("NATS customer %s as of %s:\n%s\nCLI:\n%s", id, at, got, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, serveErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
