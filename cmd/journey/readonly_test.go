package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/accesslog"
	"github.com/journey-cdp/journey/internal/cli"
)

// readOnlyMount makes a data dir with the example touchpoints (and one
// quarantined line) and bind-mounts it read-only: it returns the
// writable original and the read-only mount of the same files.
func readOnlyMount(t *testing.T) (src, ro string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a read-only bind mount: not running as root")
	}
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skip("needs root for a read-only bind mount: no mount command: " + err.Error())
	}
	base := t.TempDir()
	src, ro = filepath.Join(base, "src"), filepath.Join(base, "ro")
	in, err := os.ReadFile(filepath.Join("..", "..", "examples", "touchpoints.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(base, "in.jsonl")
	in = append(in, []byte(`{"specversion":"1.0","id":"bad-1","type":"nonsense","source":"t","subject":"cust-9","time":"2025-03-01T10:00:00Z"}`+"\n")...)
	if err := os.WriteFile(input, in, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "import", "--data", src, input)
	// One read recorded in the access log, as serve records an API read.
	l, err := accesslog.Open(accesslog.Dir(src), accesslog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(accesslog.Entry{Time: time.Date(2025, 3, 2, 9, 0, 0, 0, time.UTC), Token: "desk-1", Role: "reader",
		Customer: "cust-0042", Route: "GET /v1/customers/{id}"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", src, ro).CombinedOutput(); err != nil {
		t.Skipf("needs root for a read-only bind mount: mount --bind: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", ro).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", ro, err, out)
		}
	})
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", ro).CombinedOutput(); err != nil {
		t.Skipf("needs root for a read-only bind mount: remount read-only: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(ro, "probe"), nil, 0o644); err == nil {
		t.Fatalf("%s is writable after the read-only remount", ro)
	}
	return src, ro
}

// sameOnReadOnly runs each command on ro and on src and compares the
// outputs, with the data dir's name masked.
func sameOnReadOnly(t *testing.T, src, ro string, cmds [][]string) {
	t.Helper()
	for _, c := range cmds {
		name := strings.Join(c, " ")
		onRO := runCLI(t, nil, append(c, "--data", ro)...)
		if onRO.code != 0 {
			t.Errorf("journey %s on a read-only data dir: exit %d: %v\n%s", name, onRO.code, onRO.err, onRO.stderr)
			continue
		}
		want := mustRun(t, nil, append(c, "--data", src)...)
		got := strings.ReplaceAll(onRO.stdout, ro, src)
		if got != want {
			t.Errorf("journey %s: on the read-only mount\n%s\nwant (the writable original)\n%s", name, got, want)
		}
		if want == "" {
			t.Errorf("journey %s printed nothing", name)
		}
	}
}

// TestReadOnlyDataDir: the commands that read only the log and the keys
// work on a data dir on a read-only file system (Pebble's LOCK cannot be
// opened there) and answer as on the writable original.
func TestReadOnlyDataDir(t *testing.T) {
	src, ro := readOnlyMount(t)
	sameOnReadOnly(t, src, ro, [][]string{
		{"verify"},
		{"verify", "--json"},
		{"history", "cust-0042"},
		{"history", "cust-0042", "--json"},
		{"cohorts"},
		{"export", "--what", "events"},
		{"export", "--what", "quarantine"},
		{"quarantine", "list"},
		{"quarantine", "list", "--json"},
		{"export", "--what", "access"},
	})
	if out := mustRun(t, nil, "export", "--what", "access", "--data", ro); !strings.Contains(out, "desk-1") {
		t.Errorf("export --what access shows no entry:\n%s", out)
	}
	if out := mustRun(t, nil, "quarantine", "list", "--data", ro); !strings.Contains(out, "bad-1") {
		t.Errorf("quarantine list shows no quarantined line:\n%s", out)
	}
}

// TestReadOnlyDataDirViews: the commands that answer from the views work
// on a read-only data dir, both before any views were written there and
// once the writable original has them.
func TestReadOnlyDataDirViews(t *testing.T) {
	src, ro := readOnlyMount(t)
	cmds := [][]string{
		{"customer", "cust-0042"},
		{"segments", "--by", "stage"},
		{"nps"},
		{"export", "--what", "customers"},
		{"actions", "list"},
	}
	t.Run("no views yet", func(t *testing.T) {
		if _, err := os.Stat(cli.ViewsDir(src)); err == nil {
			t.Fatal("the data dir has views already")
		}
		for _, c := range cmds {
			if r := runCLI(t, nil, append(c, "--data", ro)...); r.code != 0 {
				t.Errorf("journey %s on a read-only data dir without views: exit %d: %v", strings.Join(c, " "), r.code, r.err)
			}
		}
	})
	t.Run("views written", func(t *testing.T) {
		for _, c := range cmds {
			mustRun(t, nil, append(c, "--data", src)...) // writes the views
		}
		if _, err := os.Stat(cli.ViewsDir(ro)); err != nil {
			t.Fatalf("the original has no views: %v", err)
		}
		sameOnReadOnly(t, src, ro, cmds)
	})
}

// TestReadOnlyDataDirWrites: a command that writes refuses a data dir on a
// read-only file system with one line saying so, exit 1, and writes
// nothing.
func TestReadOnlyDataDirWrites(t *testing.T) {
	_, ro := readOnlyMount(t)
	in := filepath.Join("..", "..", "examples", "touchpoints.jsonl")
	for _, c := range []struct {
		args []string
		who  string
	}{
		{[]string{"import", in}, "journey import"},
		{[]string{"forget", "cust-0042", "--reason", "test"}, "journey forget"},
		{[]string{"quarantine", "retry"}, "journey quarantine retry"},
		{[]string{"verify", "--accept-loss"}, "journey verify --accept-loss"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1"}, "journey serve"},
	} {
		r := runCLI(t, nil, append(c.args, "--data", ro)...)
		name := strings.Join(c.args, " ")
		if r.code != 1 || r.err == nil {
			t.Errorf("journey %s on a read-only data dir: exit %d, want 1", name, r.code)
			continue
		}
		msg := r.err.Error()
		if !strings.HasPrefix(msg, "data dir "+ro+" is on a read-only file system: ") || !strings.HasSuffix(msg, ": "+c.who+" needs to write there") ||
			strings.Contains(msg, "\n") || strings.Contains(msg, "eventstore:") || strings.Contains(msg, "pebble:") {
			t.Errorf("journey %s on a read-only data dir: %q, want one line saying the data dir is on a read-only file system", name, msg)
		}
	}
}

// TestVerifyCannotOpen: a log verify cannot open (here its LOCK is a
// directory) is "cannot verify", exit 1, never reported FAILED as if the
// log were damaged.
func TestVerifyCannotOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, filepath.Join("..", "..", "examples", "touchpoints.jsonl"))
	lock := filepath.Join(cli.LogDir(dir), "LOCK")
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(lock, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify"}, {"verify", "--json"}} {
		r := runCLI(t, nil, append(args, "--data", dir)...)
		if r.code != 1 || r.err == nil {
			t.Fatalf("journey %s: exit %d, want 1", strings.Join(args, " "), r.code)
		}
		want := "cannot verify the log of " + dir + ": open " + lock + ": is a directory"
		if msg := r.err.Error(); msg != want {
			t.Errorf("journey %s: %q, want %q", strings.Join(args, " "), msg, want)
		}
		if strings.Contains(r.stdout, "FAILED") || strings.Contains(r.stdout, `"ok":false`) {
			t.Errorf("journey %s reports a log it could not open as failed:\n%s", strings.Join(args, " "), r.stdout)
		}
	}
}
