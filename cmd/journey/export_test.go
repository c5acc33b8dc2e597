package main

import (
	"encoding/csv"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/journey-cdp/journey/eventstore"
)

func TestExport(t *testing.T) {
	file, _ := simulated(t)
	dir := filepath.Join(t.TempDir(), "data")
	var sum importSummary
	if err := json.Unmarshal([]byte(mustRun(t, nil, "import", "--data", dir, "--json", file)), &sum); err != nil {
		t.Fatal(err)
	}

	events := strings.Split(strings.TrimSpace(mustRun(t, nil, "export", "--data", dir, "--what", "events")), "\n")
	if len(events) != sum.Appended {
		t.Fatalf("export events: %d lines, %d appended", len(events), sum.Appended)
	}
	for i, l := range events {
		var e eventstore.StoredEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Seq != uint64(i+1) || len(e.Hash) != 64 {
			t.Fatalf("export line %d: %v %s", i+1, err, l)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(mustRun(t, nil, "export", "--data", dir, "--what", "events", "--format", "csv"))).ReadAll()
	if err != nil || len(rows) != sum.Appended+1 {
		t.Fatalf("export events csv: %d rows, err %v", len(rows), err)
	}

	rows, err = csv.NewReader(strings.NewReader(mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "csv", "--as-of", "2025-03-01"))).ReadAll()
	if err != nil || len(rows) != 41 || rows[0][0] != "customer" {
		t.Fatalf("export customers csv: %d rows (want 40 + header), err %v", len(rows), err)
	}
	if n := strings.Count(mustRun(t, nil, "export", "--data", dir, "--what", "customers"), "\n"); n != 40 {
		t.Fatalf("export customers jsonl: %d lines, want 40", n)
	}

	q := mustRun(t, nil, "export", "--data", dir, "--what", "quarantine")
	if n := strings.Count(q, "\n"); n != sum.Rejected {
		t.Fatalf("export quarantine: %d lines, %d rejected", n, sum.Rejected)
	}
	if r := runCLI(t, nil, "export", "--data", dir, "--what", "orders"); r.code != 2 {
		t.Errorf("export --what orders: exit %d, want 2", r.code)
	}
	if r := runCLI(t, nil, "export", "--data", dir, "--format", "xml"); r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), "--format") {
		t.Errorf("export --format xml: exit %d (%v), want 2 with an error naming --format", r.code, r.err)
	}
	if r := runCLI(t, nil, "bench", "nosuch"); r.code != 2 {
		t.Errorf("bench nosuch: exit %d, want 2", r.code)
	}
}
