package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRun runs what a newcomer runs first, `make run` (on free ports and
// a temporary data dir), and then the commands it prints, as the README's
// second-terminal block shows them: they must be the same commands, and
// they must work — the simulated traffic is published and taken, the
// metrics count it, and the README's example customer is answered.
func TestMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: make run builds the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := makeRunBlock(t, string(readme))

	natsPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	httpPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	nats, addr := "127.0.0.1:"+natsPort, "127.0.0.1:"+httpPort
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "run", "NATS="+nats, "HTTP="+addr, "DATA="+t.TempDir())
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // make and the serve it starts: one group to stop
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}()

	// The commands make run prints, after "In another terminal".
	var printed []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "Stop with") {
		if l := sc.Text(); strings.HasPrefix(l, "  ") {
			printed = append(printed, strings.TrimSpace(l))
		}
	}
	go func() { // keep draining: serve must never block on a full pipe
		for sc.Scan() {
		}
	}()
	// The README shows them for the default ports.
	var got []string
	for _, c := range printed {
		c = strings.ReplaceAll(c, nats, "127.0.0.1:4222")
		got = append(got, strings.ReplaceAll(c, addr, "127.0.0.1:8080"))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("make run prints\n%s\nthe README shows\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	waitReady(t, "http://"+addr+"/readyz", &stderr)
	run := func(c string) string {
		t.Helper()
		sh := exec.CommandContext(ctx, "sh", "-c", c)
		sh.Dir = root
		b, err := sh.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, b)
		}
		return string(b)
	}
	if o := run(printed[0]); !strings.Contains(o, "published 1207 (0 duplicates)") {
		t.Fatalf("%s printed %q, want published 1207", printed[0], o)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ingested(readMetrics("http://"+addr+"/metrics")) < 1207 {
		if time.Now().After(deadline) {
			t.Fatal("the engine did not take the 1207 simulated events within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	checks := []string{"journey_events_appended_total 1207", `"stage":"loyal"`, "stage         loyal"}
	for i, c := range printed[1:] {
		if o := run(c); !strings.Contains(o, checks[i]) {
			t.Errorf("%s printed\n%s\nwithout %q", c, o, checks[i])
		}
	}

	// The first signal drains and stops it (make passes it on to serve).
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatalf("make run did not stop within 30s of SIGTERM\n%s", stderr.String())
	}
}

// makeRunBlock is the command block after "`make run` prints how to see it
// working" in the README, with localhost spelt 127.0.0.1 as make prints it.
func makeRunBlock(t *testing.T, readme string) []string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "`make run` prints how to see it working")
	if !ok {
		t.Fatal("README: no \"`make run` prints how to see it working\" paragraph")
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("README: no ```sh block after the make run paragraph")
	}
	block, _, _ = strings.Cut(block, "```")
	var cmds []string
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		cmds = append(cmds, strings.ReplaceAll(strings.TrimSpace(l), "localhost:", "127.0.0.1:"))
	}
	return cmds
}

// waitReady waits for url to answer 200.
func waitReady(t *testing.T, url string, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // make builds the binary first
	for {
		if err := getOK(url); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 2 minutes\n%s", url, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
