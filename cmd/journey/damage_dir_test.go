package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/journey-cdp/journey/internal/cli"
)

// TestLostManifestIsNotNoData: a log that lost its MANIFEST still holds its
// head record, WALs and tables: the read commands and verify must say the
// log is damaged, naming the MANIFEST, never "no journey data" (which
// tells the user to import into it); a data dir that is a file says so.
func TestLostManifestIsNotNoData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, filepath.Join("..", "..", "examples", "touchpoints.jsonl"))
	remove := func(pattern string) {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(cli.LogDir(dir), pattern))
		if err != nil || len(m) == 0 {
			t.Fatalf("no %s in the log: %v", pattern, err)
		}
		for _, f := range m {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Without the marker naming the MANIFEST, Pebble says "database does
	// not exist".
	remove("marker.manifest.*")
	r := runCLI(t, nil, "history", "cust-0042", "--data", dir)
	if msg := userMessage(r.err); r.code != 1 || !strings.Contains(msg, "damaged") || !strings.Contains(msg, "marker.manifest") {
		t.Errorf("journey history without the MANIFEST marker: exit %d, %q; want the log named damaged", r.code, msg)
	}
	remove("MANIFEST-*")
	for _, args := range [][]string{{"verify"}, {"verify", "--json"}, {"history", "cust-0042"}, {"segments"}, {"quarantine", "list"}} {
		r := runCLI(t, nil, append(args, "--data", dir)...)
		if r.code != 1 || r.err == nil {
			t.Fatalf("journey %s: exit %d, want 1", strings.Join(args, " "), r.code)
		}
		msg := userMessage(r.err)
		bad := "damaged"
		if args[0] == "verify" {
			bad = "does not verify"
		}
		if strings.Contains(msg, "no journey data") || !strings.Contains(msg, bad) || !strings.Contains(msg, "no MANIFEST") {
			t.Errorf("journey %s: %q, want the log named damaged for its lost MANIFEST", strings.Join(args, " "), msg)
		}
		if strings.Contains(r.stdout, "ok:") || strings.Contains(r.stdout, `"ok":true`) {
			t.Errorf("journey %s says ok:\n%s", strings.Join(args, " "), r.stdout)
		}
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify"}, {"history", "cust-0042"}} {
		r = runCLI(t, nil, append(args, "--data", file)...)
		if msg := userMessage(r.err); r.code != 1 || !strings.HasSuffix(msg, "data dir "+file+" is not a directory") {
			t.Errorf("journey %s --data FILE: exit %d, %q; want 1 and that the data dir is not a directory", args[0], r.code, msg)
		}
	}
	// An empty data dir is still "no journey data".
	r = runCLI(t, nil, "verify", "--data", t.TempDir())
	if msg := userMessage(r.err); r.code != 1 || !strings.Contains(msg, "no journey data") {
		t.Errorf("journey verify on an empty dir: exit %d, %q; want no journey data", r.code, msg)
	}
}

// TestDamagedViewsSayRebuild: views that cannot be opened (here the views
// directory is a file) make the commands that use them fail saying what
// to do — the views are disposable: delete them and rebuild — and the
// rebuild after that deletion works.
func TestDamagedViewsSayRebuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, filepath.Join("..", "..", "examples", "touchpoints.jsonl"))
	views := cli.ViewsDir(dir)
	if err := os.RemoveAll(views); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(views, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"segments"}, {"customer", "cust-0042"}, {"rebuild"}} {
		r := runCLI(t, nil, append(args, "--data", dir)...)
		msg := userMessage(r.err)
		if r.code != 1 || !strings.Contains(msg, views) || !strings.HasSuffix(msg, "delete "+views+" and run journey rebuild") {
			t.Errorf("journey %s on damaged views: exit %d, %q; want 1, naming %s and what to do", args[0], r.code, msg, views)
		}
	}
	if err := os.Remove(views); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "rebuild", "--data", dir)
	if out := mustRun(t, nil, "segments", "--data", dir); !strings.Contains(out, "prospect") {
		t.Errorf("segments after the rebuild:\n%s", out)
	}
}

// TestKeyStoreGone: an encrypted log whose key store is gone whole is
// said so at once by every command that reads events (not "open it with
// its master key", which it has), and verify still checks the chain.
func TestKeyStoreGone(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, nil, "import", "--data", dir, filepath.Join("..", "..", "examples", "touchpoints.jsonl"))
	if err := os.RemoveAll(filepath.Join(dir, "keys")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"history", "cust-0042"}, {"export", "--what", "events"}, {"customer", "cust-0042"}, {"import", filepath.Join("..", "..", "examples", "touchpoints.jsonl")}} {
		r := runCLI(t, nil, append(args, "--data", dir)...)
		if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "its key store "+filepath.Join(dir, "keys")+" is missing") {
			t.Errorf("journey %s without keys/: exit %d, %v", strings.Join(args, " "), r.code, r.err)
		}
	}
	if out := mustRun(t, nil, "verify", "--data", dir); !strings.HasPrefix(out, "ok: 9 events") {
		t.Errorf("verify without keys/: %q", out)
	}
}

// TestImportDirectory: a directory given as the input is refused before
// anything is opened or written, in one line, with no summary printed.
func TestImportDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	in := t.TempDir()
	for _, cmd := range []string{"import", "publish"} {
		args := []string{cmd, in}
		if cmd == "import" {
			args = append(args, "--data", dir)
		} else {
			args = append(args, "--nats-url", "nats://127.0.0.1:1") // refused before it connects
		}
		r := runCLI(t, nil, args...)
		if r.code != 1 || r.err == nil || r.err.Error() != in+" is a directory, not a file of touchpoints (one JSON event a line; - reads stdin)" || r.stdout != "" {
			t.Errorf("journey %s DIR: exit %d, %v, stdout %q", cmd, r.code, r.err, r.stdout)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("import of a directory created the data dir %s", dir)
	}
}
