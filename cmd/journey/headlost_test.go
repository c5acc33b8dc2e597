package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/cli"
)

// TestVerifyHeadRecordLost: a log that lost its durable head record file
// (JOURNEY-HEAD) does not verify — whether acknowledged records after its
// last one were lost cannot be checked — and import refuses it; verify
// --accept-loss checks every record and writes a new head record, after
// which the log verifies and opens again.
func TestVerifyHeadRecordLost(t *testing.T) {
	dir := t.TempDir()
	var sum struct {
		Appended uint64 `json:"appended"`
	}
	if err := json.Unmarshal([]byte(lastLine(mustRun(t, nil, "import", "--json", "--data", dir, filepath.Join("..", "..", "examples", "touchpoints.jsonl")))), &sum); err != nil {
		t.Fatal(err)
	}
	n := sum.Appended
	head := filepath.Join(cli.LogDir(dir), eventstore.HeadFileName)
	reason := fmt.Sprintf("the durable head record JOURNEY-HEAD is missing, though this log had one: whether acknowledged records after sequence %d were lost cannot be checked", n)
	for _, asJSON := range []bool{false, true} {
		if err := os.Remove(head); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, nil, "verify", "--data", dir)
		if want := fmt.Sprintf("FAILED at sequence %d: %s (%d events verified before it)\n", n+1, reason, n); r.code != 1 || r.stdout != want {
			t.Fatalf("verify without %s: exit %d, %q; want exit 1, %q", eventstore.HeadFileName, r.code, r.stdout, want)
		}
		r = runCLI(t, nil, "verify", "--json", "--data", dir)
		var res verifyResult
		if err := json.Unmarshal([]byte(lastLine(r.stdout)), &res); err != nil {
			t.Fatal(err)
		}
		if r.code != 1 || res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != n+1 || res.Events != n || res.Reason != reason {
			t.Fatalf("verify --json without %s: exit %d, %s", eventstore.HeadFileName, r.code, r.stdout)
		}
		r = runCLI(t, []byte(""), "import", "--data", dir, "-")
		if r.code != 1 || !strings.Contains(userMessage(r.err), "is missing, though this log had one") {
			t.Fatalf("import into a log without its head record: exit %d, %v", r.code, r.err)
		}
		if asJSON {
			var acc acceptLossResult
			if err := json.Unmarshal([]byte(lastLine(mustRun(t, nil, "verify", "--accept-loss", "--json", "--data", dir))), &acc); err != nil {
				t.Fatal(err)
			}
			if want := (acceptLossResult{Accepted: true, HeadRecordMissing: true, Events: n}); acc != want {
				t.Fatalf("accept-loss --json = %+v, want %+v", acc, want)
			}
		} else {
			out := mustRun(t, nil, "verify", "--accept-loss", "--data", dir)
			if want := fmt.Sprintf("accepted a log without its durable head record: its %d records verify; a new head record names record %d, and the log opens again\n", n, n); out != want {
				t.Fatalf("accept-loss: %q, want %q", out, want)
			}
		}
		if out := mustRun(t, nil, "verify", "--data", dir); !strings.HasPrefix(out, fmt.Sprintf("ok: %d events", n)) {
			t.Fatalf("verify after accept-loss: %q", out)
		}
		mustRun(t, []byte(""), "import", "--data", dir, "-")
	}
}
