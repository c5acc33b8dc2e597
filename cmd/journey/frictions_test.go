package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// TestHelpExamplesRun runs the history and customer examples of --help on
// the data they name: the make run / README simulation (seed 1) and the
// CDNOW sample. A customer id that is not one fails here.
func TestHelpExamplesRun(t *testing.T) {
	sim := filepath.Join(t.TempDir(), "sim")
	events := mustRun(t, nil, "simulate", "--customers", "200", "--days", "90", "--seed", "1")
	mustRun(t, []byte(events), "import", "--data", sim, "-")
	cdnow := ""
	if real := filepath.Join("..", "..", "..", "shared", "data", "cdnow", "CDNOW_sample.txt"); fileExists(real) {
		cdnow = filepath.Join(t.TempDir(), "cdnow")
		mustRun(t, nil, "import", "--data", cdnow, "--format", "cdnow", real)
	}
	root := newApp(nil, nil, nil).rootCommand()
	ran, simulated := 0, map[string]bool{}
	for _, name := range []string{"history", "customer"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(cmd.Example, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "journey" {
				continue
			}
			args := []string{}
			for i := 1; i < len(f); i++ {
				if f[i] == "--server" { // asked of the data dir instead
					i++
					continue
				}
				args = append(args, f[i])
			}
			dir := sim
			if strings.HasPrefix(f[2], "cdnow-") {
				if dir = cdnow; dir == "" {
					t.Logf("skipping %q: no CDNOW sample", line)
					continue
				}
			}
			r := runCLI(t, nil, append(args, "--data", dir)...)
			if r.code != 0 || r.stdout == "" {
				t.Errorf("the example %q of journey %s --help: exit %d, %v", strings.TrimSpace(line), name, r.code, r.err)
			}
			ran++
			if dir == sim {
				simulated[name] = true
			}
		}
	}
	if !simulated["history"] || !simulated["customer"] {
		t.Fatalf("ran %d examples, want at least one simulated id per command (%v)", ran, simulated)
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "--version")
	if r.code != 0 || !regexp.MustCompile(`^journey (devel|v\S+)( \(.+\))?\n$`).MatchString(r.stdout) {
		t.Fatalf("journey --version: exit %d, %q", r.code, r.stdout)
	}
	if v := version(); v == "" {
		t.Fatal("empty version")
	}
}

// TestDataFlagOnlyWhereUsed: --data is offered by the commands with a data
// dir and refused by the others (publish, simulate), as an unknown flag.
func TestDataFlagOnlyWhereUsed(t *testing.T) {
	for _, args := range [][]string{
		{"publish", "--data", "x", "--nats-url", "nats://127.0.0.1:1", "-"},
		{"simulate", "--data", "x"},
	} {
		if r := runCLI(t, nil, args...); r.code != 2 || !strings.Contains(r.err.Error(), "unknown flag: --data") {
			t.Errorf("journey %s: exit %d, %v; want a usage error", strings.Join(args, " "), r.code, r.err)
		}
		if help := mustRun(t, nil, args[0], "--help"); strings.Contains(help, "--data") {
			t.Errorf("journey %s --help offers --data", args[0])
		}
	}
	for _, cmd := range [][]string{{"serve"}, {"import"}, {"history"}, {"customer"}, {"segments"}, {"nps"}, {"verify"},
		{"export"}, {"rebuild"}, {"quarantine", "list"}, {"quarantine", "retry"}, {"churn", "fit"}} {
		if help := mustRun(t, nil, append(cmd, "--help")...); !strings.Contains(help, "--data string") {
			t.Errorf("journey %s --help lacks --data", strings.Join(cmd, " "))
		}
	}
}

// TestServePortTaken: a taken NATS or HTTP port fails serve at once,
// naming the address, the cause and the flag.
func TestServePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats-listen", taken, "--http", "127.0.0.1:0"},
			"the embedded NATS server cannot listen on " + taken + ": address already in use (another process listens there: a journey serve already running?); pass another --nats-listen HOST:PORT"},
		{[]string{"--nats-listen", "127.0.0.1:-1", "--http", taken},
			"HTTP cannot listen on " + taken + ": address already in use (another process listens there: a journey serve already running?); pass another --http HOST:PORT"},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		start := time.Now()
		r := runCLI(t, nil, append([]string{"serve", "--data", dir, "--log-level", "error"}, tc.args...)...)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("serve %v took %s to fail", tc.args, took)
		}
		if r.code != 1 || r.err == nil || r.err.Error() != tc.want {
			t.Errorf("serve %v: exit %d, %v\nwant %s", tc.args, r.code, r.err, tc.want)
		}
	}
}

// TestPublishNoServer: publish to an address where no NATS answers is one
// line naming it once, with a hint, and no package names.
func TestPublishNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	url := "nats://" + addr
	r := runCLI(t, []byte("{}\n"), "publish", "--nats-url", url, "-")
	if r.code != 1 || r.err == nil {
		t.Fatalf("publish to nothing: exit %d, %v", r.code, r.err)
	}
	msg := r.err.Error()
	want := "no NATS server answers at " + url + ": start journey serve (its embedded NATS listens on 127.0.0.1:4222) or pass the --nats-url of yours"
	if msg != want {
		t.Errorf("publish to nothing: %q\nwant %q", msg, want)
	}
	if strings.Count(msg, addr) != 1 || strings.Contains(msg, "natsconn") || strings.Contains(msg, "\n") {
		t.Errorf("publish to nothing: %q repeats the URL, names a package or takes several lines", msg)
	}
}

// TestSummariesTimed: import, verify, rebuild and export end their summary
// with the duration and the rate; --json adds duration_s and events_per_s.
func TestSummariesTimed(t *testing.T) {
	file, _ := simulated(t)
	dir := filepath.Join(t.TempDir(), "data")
	run := func(args ...string) (string, string) {
		var out, errOut bytes.Buffer
		a := newApp(nil, &out, &errOut)
		a.getenv = func(string) string { return "" }
		a.now = func() time.Time { return testClock.Add(time.Since(start0)) } // a clock that runs
		if err := a.execute(context.Background(), args); err != nil {
			t.Fatalf("journey %v: %v", args, err)
		}
		return out.String(), errOut.String()
	}
	timed := regexp.MustCompile(`in [0-9.]+(µs|ms|s|m[0-9.]+s) \([0-9]+ events/s`)
	for _, tc := range []struct {
		args   []string
		stderr bool
	}{
		{[]string{"import", "--data", dir, file}, false},
		{[]string{"verify", "--data", dir}, false},
		{[]string{"rebuild", "--data", dir}, false},
		{[]string{"export", "--data", dir, "--what", "events"}, true},
	} {
		out, errOut := run(tc.args...)
		if tc.stderr {
			out = errOut
		}
		if !timed.MatchString(out) {
			t.Errorf("journey %s: summary %q has no duration and rate", strings.Join(tc.args, " "), out)
		}
	}
	for _, tc := range []struct {
		args   []string
		stderr bool
	}{
		{[]string{"import", "--json", "--data", dir, file}, false},
		{[]string{"verify", "--json", "--data", dir}, false},
		{[]string{"rebuild", "--json", "--data", dir}, false},
		{[]string{"export", "--json", "--data", dir, "--what", "events"}, true},
	} {
		out, errOut := run(tc.args...)
		if tc.stderr {
			out = errOut
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
			t.Fatalf("journey %s: %q: %v", strings.Join(tc.args, " "), out, err)
		}
		d, ok1 := m["duration_s"].(float64)
		_, ok2 := m["events_per_s"].(float64)
		if !ok1 || !ok2 || d < 0 {
			t.Errorf("journey %s: %s lacks duration_s or events_per_s", strings.Join(tc.args, " "), lines[len(lines)-1])
		}
	}
}

var start0 = time.Now()
