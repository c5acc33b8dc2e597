package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/journey-cdp/journey/projections/clusters"
)

// TestClustersAsSegment: journey clusters fits and stores (the same fit
// twice for the same seed), and segments --by cluster then counts every
// customer with a purchase in its cluster, as many as the fit's sizes,
// the others as none; before a fit, --by cluster is a clear error.
func TestClustersAsSegment(t *testing.T) {
	out := mustRun(t, nil, "simulate", "--customers", "300", "--days", "120", "--seed", "5")
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, path)

	r := runCLI(t, nil, "segments", "--data", dir, "--by", "cluster")
	if r.code == 0 || !strings.Contains(r.stderr+r.err.Error(), "no clusters fitted") {
		t.Fatalf("segments --by cluster before a fit: exit %d, %v", r.code, r.err)
	}

	var m1, m2 clusters.Model
	if err := json.Unmarshal([]byte(mustRun(t, nil, "clusters", "--data", dir, "--json")), &m1); err != nil {
		t.Fatal(err)
	}
	j2 := mustRun(t, nil, "clusters", "--data", dir, "--json")
	if err := json.Unmarshal([]byte(j2), &m2); err != nil {
		t.Fatal(err)
	}
	j1, _ := json.Marshal(m1)
	j2b, _ := json.Marshal(m2)
	if string(j1) != string(j2b) {
		t.Fatalf("two fits differ:\n%s\n%s", j1, j2b)
	}
	if m1.K < clusters.MinK || m1.K > clusters.MaxK || len(m1.Silhouettes) == 0 || len(m1.Clusters) != m1.K {
		t.Fatalf("fit %s", j1)
	}
	var counts map[string]int
	if err := json.Unmarshal([]byte(mustRun(t, nil, "segments", "--data", dir, "--by", "cluster", "--json")), &counts); err != nil {
		t.Fatal(err)
	}
	for _, c := range m1.Clusters {
		if counts[c.Name] != c.Size {
			t.Errorf("segment %s: %d customers, the fit has %d (%v)", c.Name, counts[c.Name], c.Size, counts)
		}
		if len(c.Centre) != 4 {
			t.Errorf("cluster %s centre %v", c.Name, c.Centre)
		}
	}
	var stages map[string]int
	if err := json.Unmarshal([]byte(mustRun(t, nil, "segments", "--data", dir, "--by", "stage", "--json")), &stages); err != nil {
		t.Fatal(err)
	}
	all, inClusters := 0, 0
	for _, n := range stages {
		all += n
	}
	for k, n := range counts {
		if k != "none" {
			inClusters += n
		}
	}
	if inClusters != m1.Points || counts["none"]+inClusters != all {
		t.Errorf("cluster segments %v of %d customers; the fit placed %d", counts, all, m1.Points)
	}

	// --k is honoured and the text names the clusters.
	txt := mustRun(t, nil, "clusters", "--data", dir, "--k", "3")
	if !strings.HasPrefix(txt, "3 clusters of ") || !strings.Contains(txt, "c3 ") {
		t.Errorf("clusters --k 3:\n%s", txt)
	}
	if r := runCLI(t, nil, "clusters", "--data", dir, "--k", "0"); r.code != 2 {
		t.Errorf("--k 0: exit %d, want 2", r.code)
	}
}
