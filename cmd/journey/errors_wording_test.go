package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goWords are Go's package prefixes and type names in a message.
var goWords = regexp.MustCompile(`(^|: )(json|jsontext|checkpoint|eventstore|projections|keystore|accesslog|engine|pebble|strconv\.\w+): |Go [a-z]+\.[A-Z]|\bGo (struct|string|int)`)

// TestErrorsSayNoGo: bad flag values, config files and checkpoint files
// are refused in the words of the input — the flag, the member, the byte —
// never with Go's package, function or type names.
func TestErrorsSayNoGo(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, nil, "import", "--data", dir, filepath.Join("..", "..", "examples", "touchpoints.jsonl"))
	file := func(name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fileLog := t.TempDir()
	if err := os.WriteFile(filepath.Join(fileLog, "log"), []byte("not a log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"history", "cust-0042", "--limit", "99999999999999999999"}, 2, `"--limit" flag: out of range`},
		{[]string{"history", "cust-0042", "--limit", "abc"}, 2, `"--limit" flag: not a whole number`},
		{[]string{"simulate", "--invalid-rate", "abc"}, 2, `"--invalid-rate" flag: not a number`},
		{[]string{"simulate", "--customers", "0"}, 2, `--customers must be at least 1, got 0`},
		{[]string{"cohorts", "--chart", filepath.Join(dir, "no-such-dir", "c.svg")}, 1, "--chart " + filepath.Join(dir, "no-such-dir", "c.svg") + ": cannot create a file in"},
		{[]string{"customer", "cust-0042", "--config", file("bad.json", "{")}, 1, "invalid JSON at byte 1: unexpected end of JSON input"},
		{[]string{"customer", "cust-0042", "--config", file("unknown.json", `{"satisfaction":{"nope":1}}`)}, 1, `unknown member "nope" in /satisfaction`},
		{[]string{"customer", "cust-0042", "--config", file("type.json", `{"forecast_days":"90"}`)}, 1, "/forecast_days must be a JSON number, not a JSON string"},
		{[]string{"verify", "--since", file("cp.txt", "notjson")}, 2, "line 1 is not a checkpoint: invalid JSON at byte 1"},
		// A data dir whose log is a file: the store's error, without its package.
		{[]string{"import", filepath.Join("..", "..", "examples", "touchpoints.jsonl"), "--data", fileLog}, 1, "not a directory"},
	} {
		args := tc.args
		if args[0] != "simulate" && !slices.Contains(args, "--data") {
			args = append(args, "--data", dir)
		}
		r := runCLI(t, nil, args...)
		if r.err == nil {
			t.Errorf("journey %s: exit %d, no error", strings.Join(tc.args, " "), r.code)
			continue
		}
		msg := userMessage(r.err)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("journey %s: %q, want it to say %q", strings.Join(tc.args, " "), msg, tc.want)
		}
		if m := goWords.FindString(msg); m != "" {
			t.Errorf("journey %s: %q names Go (%q)", strings.Join(tc.args, " "), msg, m)
		}
		if r.code != tc.code {
			t.Errorf("journey %s: exit %d, want %d (%s)", strings.Join(tc.args, " "), r.code, tc.code, msg)
		}
	}
}
