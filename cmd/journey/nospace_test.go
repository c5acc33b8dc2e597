package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmpfs mounts a tmpfs of size (e.g. "80m") on a new temp dir, or skips.
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root and mount rights): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestImportFullDisk imports more than a small file system holds: import
// fails with a clear no-space error and a non-zero exit, promptly; once
// space is freed, importing the same file again completes it, every event
// is in the log exactly once, and verify is ok.
func TestImportFullDisk(t *testing.T) {
	mnt := tmpfs(t, "100m")
	src := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(src, []byte(mustRun(t, nil, "simulate", "--customers", "6000", "--days", "365", "--seed", "5")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "data")
	start := time.Now()
	r := runCLI(t, nil, "import", "--json", "--data", dir, src)
	if r.code != 1 || !strings.Contains(r.err.Error(), "no space left") {
		t.Fatalf("import onto a full disk: exit %d, %v, want exit 1 naming the lack of space", r.code, r.err)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Fatalf("import took %v to fail", d)
	}
	t.Logf("full disk: %v", r.err)
	// Free space (grow the file system), import again.
	if out, err := exec.Command("mount", "-o", "remount,size=600m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	var sum struct{ Appended, Duplicates, Rejected int }
	if err := json.Unmarshal([]byte(lastLine(mustRun(t, nil, "import", "--json", "--data", dir, src))), &sum); err != nil {
		t.Fatal(err)
	}
	lines := 0
	b, _ := os.ReadFile(src)
	lines = strings.Count(string(b), "\n")
	if sum.Appended+sum.Duplicates+sum.Rejected != lines || sum.Duplicates == 0 {
		t.Fatalf("second import %+v of %d lines: want every line once, some already there", sum, lines)
	}
	var v verifyResult
	if err := json.Unmarshal([]byte(lastLine(mustRun(t, nil, "verify", "--json", "--data", dir))), &v); err != nil {
		t.Fatal(err)
	}
	if !v.OK || int(v.Events) != sum.Appended+sum.Duplicates {
		t.Fatalf("verify %+v, want ok with %d events", v, sum.Appended+sum.Duplicates)
	}
	t.Logf("after freeing space: %+v; verify ok, %d events", sum, v.Events)
}
