package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/journey-cdp/journey/internal/cli"
)

// TestVerifyDamagedWAL imports a simulated file (its events fsynced and
// acknowledged, still in the WAL), flips one byte in the middle of the
// newest WAL, and checks that verify exits 1 naming the first missing
// sequence instead of saying ok with fewer events, and that import refuses
// to append to the shorter log.
func TestVerifyDamagedWAL(t *testing.T) {
	path, _ := simulated(t)
	dir := t.TempDir()
	var sum struct {
		Appended int `json:"appended"`
	}
	if err := json.Unmarshal([]byte(lastLine(mustRun(t, nil, "import", "--json", "--data", dir, path))), &sum); err != nil {
		t.Fatal(err)
	}
	wals, _ := filepath.Glob(filepath.Join(cli.LogDir(dir), "*.log"))
	sort.Strings(wals)
	if len(wals) == 0 {
		t.Fatal("no WAL")
	}
	wal := wals[len(wals)-1]
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x5a
	if err := os.WriteFile(wal, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "verify", "--json", "--data", dir)
	if r.code != 1 {
		t.Fatalf("verify of a damaged log: exit %d, want 1\n%s", r.code, r.stdout)
	}
	var res verifyResult
	if err := json.Unmarshal([]byte(lastLine(r.stdout)), &res); err != nil {
		t.Fatal(err)
	}
	if res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq > uint64(sum.Appended) {
		t.Fatalf("verify = %+v, want not ok with a first bad sequence ≤ %d", res, sum.Appended)
	}
	t.Logf("verify: %s", r.stdout)
	r = runCLI(t, []byte(""), "import", "--data", dir, "-")
	if r.code != 1 || !strings.Contains(r.err.Error(), "damaged") {
		t.Fatalf("import into a damaged log: exit %d, %v", r.code, r.err)
	}
	// The operator gives the lost records up explicitly: the log opens again.
	var acc acceptLossResult
	if err := json.Unmarshal([]byte(lastLine(mustRun(t, nil, "verify", "--accept-loss", "--json", "--data", dir))), &acc); err != nil {
		t.Fatal(err)
	}
	if !acc.Accepted || acc.MissingFrom != *res.FirstBadSeq || acc.MissingTo != uint64(sum.Appended) {
		t.Fatalf("accept-loss = %+v, want %d..%d", acc, *res.FirstBadSeq, sum.Appended)
	}
	if err := json.Unmarshal([]byte(lastLine(mustRun(t, nil, "verify", "--json", "--data", dir))), &res); err != nil || !res.OK {
		t.Fatalf("verify after accept-loss: %+v %v", res, err)
	}
	mustRun(t, []byte(""), "import", "--data", dir, "-")
}

func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}
