package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/checkpoint"
	"github.com/journey-cdp/journey/internal/logforge"
)

// checkpointData writes a simulated file of 49 events, split after the
// 40th, and imports the first part into a new data dir.
func checkpointData(t *testing.T) (dir, rest string) {
	t.Helper()
	out := mustRun(t, nil, "simulate", "--customers", "12", "--days", "30", "--seed", "3", "--invalid-rate", "0")
	lines := strings.SplitAfter(strings.TrimSpace(out), "\n")
	if len(lines) != 49 {
		t.Fatalf("simulated %d events, want 49", len(lines))
	}
	tmp := t.TempDir()
	first, rest := filepath.Join(tmp, "first.jsonl"), filepath.Join(tmp, "rest.jsonl")
	if err := os.WriteFile(first, []byte(strings.Join(lines[:40], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rest, []byte(strings.Join(lines[40:], "")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(tmp, "data")
	mustRun(t, nil, "import", "--data", dir, first)
	return dir, rest
}

// changeID alters the last digit of the event's id: another event, the
// same shape.
func changeID(raw []byte) []byte {
	i := bytes.Index(raw, []byte(`"id":"`)) + len(`"id":"`)
	j := i + bytes.IndexByte(raw[i:], '"') - 1
	out := bytes.Clone(raw)
	if out[j] == '0' {
		out[j] = '1'
	} else {
		out[j] = '0'
	}
	return out
}

// TestCheckpointOutExists: --out naming a file that exists is refused
// before anything is signed, naming the flag; the file is left as it was.
func TestCheckpointOutExists(t *testing.T) {
	dir, _ := checkpointData(t)
	mustRun(t, nil, "checkpoint", "key", "--data", dir)
	out := filepath.Join(t.TempDir(), "cp.json")
	if err := os.WriteFile(out, []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "checkpoint", "--data", dir, "--out", out)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "--out "+out+": the file exists") {
		t.Fatalf("checkpoint --out over a file: exit %d %v, want exit 1 naming --out", r.code, r.err)
	}
	if b, _ := os.ReadFile(out); string(b) != "kept\n" {
		t.Errorf("the file was changed: %q", b)
	}
}

// TestCheckpointVerifySinceCLI is the auditor's path on a stopped
// engine's data dir: take a checkpoint and the public key, let the log
// grow, then find it rewritten behind the engine's back (record k changed,
// everything after it re-chained: plain verify passes) or truncated.
func TestCheckpointVerifySinceCLI(t *testing.T) {
	dir, rest := checkpointData(t)
	tmp := filepath.Dir(dir)

	// No key yet: checkpoint says how to make one.
	if r := runCLI(t, nil, "checkpoint", "--data", dir); r.code != 1 || !strings.Contains(r.err.Error(), "journey checkpoint key") {
		t.Fatalf("checkpoint without a key: exit %d, %v", r.code, r.err)
	}
	r := runCLI(t, nil, "checkpoint", "key", "--data", dir)
	if r.code != 0 || !strings.Contains(r.stderr, "made a new checkpoint key") {
		t.Fatalf("checkpoint key: exit %d, %v, %s", r.code, r.err, r.stderr)
	}
	pub := strings.TrimSpace(r.stdout)
	if _, err := checkpoint.ParsePublicKey(pub); err != nil {
		t.Fatalf("checkpoint key printed %q: %v", pub, err)
	}
	if again := strings.TrimSpace(mustRun(t, nil, "checkpoint", "key", "--data", dir)); again != pub {
		t.Fatalf("second checkpoint key %q, first %q", again, pub)
	}
	keyFile := filepath.Join(tmp, "journey-pubkey.txt")
	if err := os.WriteFile(keyFile, []byte(pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cpFile := filepath.Join(tmp, "cp.json")
	if out := mustRun(t, nil, "checkpoint", "--data", dir, "--out", cpFile); !strings.Contains(out, "checkpoint of sequence 40") {
		t.Fatalf("checkpoint --out: %q", out)
	}
	if r := runCLI(t, nil, "checkpoint", "--data", dir, "--out", cpFile); r.code != 1 {
		t.Fatalf("checkpoint --out over an existing file: exit %d", r.code)
	}
	cps, err := checkpoint.ReadFile(cpFile)
	if err != nil || len(cps) != 1 || cps[0].Seq != 40 || cps[0].Key != pub || !cps[0].Time.Equal(testClock) {
		t.Fatalf("checkpoint file: %+v, %v", cps, err)
	}
	// The stdout form is the same checkpoint (the clock is fixed).
	if out := mustRun(t, nil, "checkpoint", "--data", dir); out != mustReadFile(t, cpFile) {
		t.Fatalf("checkpoint to stdout %q, --out wrote %q", out, mustReadFile(t, cpFile))
	}

	if out := mustRun(t, nil, "verify", "--data", dir, "--since", cpFile, "--key", keyFile); !strings.HasPrefix(out, "ok: the log (40 events") {
		t.Fatalf("verify --since on the same log: %q", out)
	}
	mustRun(t, nil, "import", "--data", dir, rest)
	if out := mustRun(t, nil, "verify", "--data", dir, "--since", cpFile, "--key", pub); !strings.HasPrefix(out, "ok: the log (49 events") {
		t.Fatalf("verify --since on the extended log: %q", out)
	}
	// Without --key: the file's own key, with a warning.
	if r := runCLI(t, nil, "verify", "--data", dir, "--since", cpFile); r.code != 0 || !strings.Contains(r.stderr, "warning: no trusted public key given") {
		t.Fatalf("verify --since without --key: exit %d, stderr %q", r.code, r.stderr)
	}
	// Another engine's key is not the trusted one.
	other := filepath.Join(tmp, "other")
	otherPub := strings.TrimSpace(mustRun(t, nil, "checkpoint", "key", "--data", other))
	if r := runCLI(t, nil, "verify", "--data", dir, "--since", cpFile, "--key", otherPub); r.code != 1 || !strings.Contains(r.err.Error(), "not the trusted key") {
		t.Fatalf("verify --since with another key: exit %d, %v", r.code, r.err)
	}
	// A checkpoint edited by hand fails its signature.
	edited := filepath.Join(tmp, "edited.json")
	b := bytes.Replace([]byte(mustReadFile(t, cpFile)), []byte(`"seq":40`), []byte(`"seq":39`), 1)
	if err := os.WriteFile(edited, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, nil, "verify", "--data", dir, "--since", edited, "--key", pub); r.code != 1 || !strings.Contains(r.err.Error(), "signature does not verify") {
		t.Fatalf("verify --since an edited checkpoint: exit %d, %v", r.code, r.err)
	}
	for _, args := range [][]string{
		{"verify", "--data", dir, "--key", pub},
		{"verify", "--data", dir, "--since", filepath.Join(tmp, "missing.json")},
		{"verify", "--data", dir, "--since", cpFile, "--key", "nonsense"},
		{"verify", "--data", dir, "--since", cpFile, "--accept-loss"},
	} {
		if r := runCLI(t, nil, args...); r.code != 2 {
			t.Errorf("journey %s: exit %d (%v), want 2", strings.Join(args, " "), r.code, r.err)
		}
	}

	// Rewrite record 23 and re-chain everything after it.
	const k = 23
	if err := logforge.RewriteDataDir(dir, logforge.Change(k, changeID)); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, nil, "verify", "--data", dir); !strings.HasPrefix(out, "ok: 49 events") {
		t.Fatalf("plain verify of the re-chained log: %q (the forgery should pass it)", out)
	}
	r = runCLI(t, nil, "verify", "--data", dir, "--since", cpFile, "--key", pub)
	if r.code != 1 || !strings.Contains(r.stdout, "FAILED since the checkpoint of 2026-01-02T03:04:05Z (sequence 40) at sequence 23") ||
		!strings.Contains(r.err.Error(), "first bad sequence 23") {
		t.Fatalf("verify --since of the rewritten log: exit %d, %v\n%s", r.code, r.err, r.stdout)
	}
	r = runCLI(t, nil, "verify", "--data", dir, "--since", cpFile, "--key", pub, "--json")
	var reply checkpoint.Reply
	if err := json.Unmarshal([]byte(r.stdout), &reply); err != nil {
		t.Fatalf("verify --since --json %q: %v", r.stdout, err)
	}
	if r.code != 1 || reply.OK || reply.FirstBadSeq == nil || *reply.FirstBadSeq != k || reply.CheckpointSeq != 40 || reply.Events != 49 {
		t.Fatalf("verify --since --json: exit %d, %+v", r.code, reply)
	}

	// Truncated to 31 records.
	if err := logforge.RewriteDataDir(dir, logforge.Truncate(31)); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "verify", "--data", dir)
	r = runCLI(t, nil, "verify", "--data", dir, "--since", cpFile, "--key", pub)
	if r.code != 1 || !strings.Contains(r.err.Error(), "first bad sequence 23") {
		t.Fatalf("verify --since of the rewritten and truncated log: exit %d, %v", r.code, r.err)
	}
	// A checkpoint taken after the rewrite sees only the truncation.
	late := filepath.Join(tmp, "late.json")
	mustRun(t, nil, "checkpoint", "--data", dir, "--out", late)
	if err := logforge.RewriteDataDir(dir, logforge.Truncate(27)); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, nil, "verify", "--data", dir, "--since", late, "--key", keyFile)
	if r.code != 1 || !strings.Contains(r.err.Error(), "first bad sequence 28") || !strings.Contains(r.err.Error(), "records 28..31 are missing") {
		t.Fatalf("verify --since of a truncated log: exit %d, %v", r.code, r.err)
	}
}

// TestCheckpointServe: serve makes the key on its first start, signs at
// once and on GET /v1/checkpoint; checkpoint --server and verify --since
// --server work on the live log; a log rewritten while the engine was
// stopped fails verify --since --server naming the sequence.
func TestCheckpointServe(t *testing.T) {
	dir, _ := checkpointData(t)
	tmp := filepath.Dir(dir)
	ctx, cancel := context.WithCancel(context.Background())
	_, httpURL, done, serveErr := startServe(t, ctx, dir)

	pub := strings.TrimSpace(mustRun(t, nil, "checkpoint", "key", "--server", httpURL))
	if local := strings.TrimSpace(mustRun(t, nil, "checkpoint", "key", "--data", dir)); local != pub {
		t.Fatalf("checkpoint key --server %q, the data dir's %q", pub, local)
	}
	if fi, err := os.Stat(checkpoint.KeyPath(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("serve's key file: %v, %v", fi, err)
	}
	cpFile := filepath.Join(tmp, "cp.json")
	mustRun(t, nil, "checkpoint", "--server", httpURL, "--out", cpFile)
	cps, err := checkpoint.ReadFile(cpFile)
	// 40 imported, and the engine's own events (reactions) may follow.
	if err != nil || len(cps) != 1 || cps[0].Seq < 40 || cps[0].Key != pub {
		t.Fatalf("checkpoint --server: %+v, %v", cps, err)
	}
	if out := mustRun(t, nil, "verify", "--server", httpURL, "--since", cpFile, "--key", pub); !strings.HasPrefix(out, "ok: the log (") {
		t.Fatalf("verify --since --server: %q", out)
	}
	// The engine signed at start and on demand, and kept both.
	hist := filepath.Join(checkpoint.Dir(dir), checkpoint.HistoryFileName)
	kept, err := checkpoint.ReadFile(hist)
	if err != nil || len(kept) < 2 {
		t.Fatalf("the engine's history: %d checkpoints, %v", len(kept), err)
	}
	// The whole history at once, as the auditor may keep it.
	if out := mustRun(t, nil, "verify", "--server", httpURL, "--since", hist, "--key", pub); !strings.Contains(out, "extends all") {
		t.Fatalf("verify --since the history --server: %q", out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, serveErr.String())
	}

	if err := logforge.RewriteDataDir(dir, logforge.Change(7, changeID)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, httpURL, done, serveErr = startServe(t, ctx, dir)
	mustRun(t, nil, "verify", "--server", httpURL) // the chain alone passes
	r := runCLI(t, nil, "verify", "--server", httpURL, "--since", cpFile, "--key", pub)
	if r.code != 1 || !strings.Contains(r.err.Error(), "first bad sequence 7") {
		t.Fatalf("verify --since --server of the rewritten log: exit %d, %v\n%s", r.code, r.err, r.stdout)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop:\n%s", serveErr.String())
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
