package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/journey-cdp/journey/eventstore"
)

// TestImportBatchInFlightFinishesWhenInterrupted: an interrupt that comes
// while a batch is being appended lets that batch finish and counts it as
// appended. (Appending it under the ended context made Append give up
// after it may have stored the batch; the drain then appended it again and
// counted it as duplicates, and the import failed with "append: context
// canceled": a fresh data dir said "appended 70000, duplicates 1000".)
func TestImportBatchInFlightFinishesWhenInterrupted(t *testing.T) {
	out := mustRun(t, nil, "simulate", "--customers", "300", "--days", "120", "--seed", "5", "--invalid-rate", "0")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < importBatch {
		t.Fatalf("simulated %d events, want at least %d", len(lines), importBatch)
	}
	store, err := eventstore.Open(filepath.Join(t.TempDir(), "log"), &eventstore.Options{Clock: func() time.Time { return testClock }})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	imp := &importer{store: store, now: func() time.Time { return testClock }, origin: "import:test"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the interrupt has come when the batch is full
	for i, l := range lines[:importBatch] {
		if err := imp.add(ctx, i+1, []byte(l)); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
	if imp.sum.Appended != importBatch || imp.sum.Duplicates != 0 || imp.sum.Rejected != 0 {
		t.Fatalf("summary %+v, want %d appended, no duplicates", imp.sum, importBatch)
	}
	if got, _ := store.Head(); got != importBatch {
		t.Fatalf("log holds %d events, want %d", got, importBatch)
	}
}

// TestImportStdinStopsOnInterrupt runs `journey import -` on a pipe that
// stays open without input (tail -f | journey import -) and interrupts it:
// it stops at once, appends what it read, prints the summary so far and
// says in one line that it was interrupted. (It waited in the read until
// the 15 s grace ran out, then exited without a summary.)
func TestImportStdinStopsOnInterrupt(t *testing.T) {
	dir := t.TempDir()
	line := strings.SplitN(mustRun(t, nil, "simulate", "--customers", "5", "--days", "10", "--seed", "2", "--invalid-rate", "0"), "\n", 2)[0]
	cmd := exec.Command(journeyBin(t), "import", "--data", filepath.Join(dir, "data"), "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if _, err := stdin.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the line is read; the import waits for the next
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("import - did not stop within 5 s of SIGINT\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	}
	ee, ok := werr.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1 (cut short)\nstderr: %s", werr, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "appended 1, duplicates 0, rejected 0") {
		t.Errorf("stdout %q, want the summary so far (appended 1)", stdout.String())
	}
	errLines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if last := errLines[len(errLines)-1]; last != "journey: "+interruptedMessage {
		t.Errorf("last stderr line %q, want %q", last, "journey: "+interruptedMessage)
	}
	if strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("stderr speaks Go: %s", stderr.String())
	}
}
