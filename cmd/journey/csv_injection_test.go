package main

import (
	"encoding/base64"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCSVInjection: values from touchpoints that a spreadsheet would
// evaluate (= + - @ at the start) are written with a leading ' in every
// CSV export (events, customers, quarantine, actions), numbers stay as
// they are, and --raw-csv writes them as stored.
func TestCSVInjection(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	lines := []string{
		`{"specversion":"1.0","id":"=1+1","type":"visit","source":"web/1","subject":"@x","time":"2025-03-01T10:00:00Z","data":{"channel":"web"}}`,
		`{"specversion":"1.0","id":"p-1","type":"purchase","source":"web/1","subject":"@x","time":"2025-03-02T10:00:00Z","data":{"order_id":"-2+3","amount":"12.50","currency":"EUR","items":1}}`,
		`{"specversion":"1.0","id":"r-1","type":"return","source":"web/1","subject":"@x","time":"2025-03-03T10:00:00Z","data":{"order_id":"-2+3","amount":"12.50","currency":"EUR"}}`,
		`=cmd|' /C calc'!A0`,
		"\xfb\xef\xbe not JSON", // its base64 starts with '+' and must stay exact
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "import", "--data", dir, in)
	cells := func(out string) []string {
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, out)
		}
		var all []string
		for _, r := range recs[1:] {
			all = append(all, r...)
		}
		return all
	}
	for _, what := range []string{"events", "customers", "quarantine"} {
		got := cells(mustRun(t, nil, "export", "--what", what, "--format", "csv", "--data", dir))
		for _, c := range got {
			if strings.HasPrefix(c, "+++") {
				continue // the raw_base64 of the line above, checked below
			}
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) && !isNumber(c) {
				t.Errorf("export --what %s --format csv: cell %q would be evaluated by a spreadsheet", what, c)
			}
		}
		raw := cells(mustRun(t, nil, "export", "--what", what, "--format", "csv", "--raw-csv", "--data", dir))
		if len(raw) != len(got) {
			t.Fatalf("--raw-csv: %d cells, %d without", len(raw), len(got))
		}
		changed := 0
		for i := range got {
			if got[i] != raw[i] {
				changed++
				if got[i] != "'"+raw[i] {
					t.Errorf("export --what %s: %q written as %q, want a leading '", what, raw[i], got[i])
				}
			}
		}
		if changed == 0 {
			t.Errorf("export --what %s: no cell neutralised (the payloads are in its ids, customers or input)", what)
		}
	}
	ev := cells(mustRun(t, nil, "export", "--what", "events", "--format", "csv", "--data", dir))
	for _, want := range []string{"'=1+1", "'@x"} {
		if !slices.Contains(ev, want) {
			t.Errorf("events CSV lacks %q: %q", want, ev)
		}
	}
	q := cells(mustRun(t, nil, "export", "--what", "quarantine", "--format", "csv", "--data", dir))
	found := false
	for _, c := range q {
		if b, err := base64.StdEncoding.DecodeString(c); err == nil && string(b) == "\xfb\xef\xbe not JSON" {
			found = true
		}
	}
	if !found {
		t.Errorf("quarantine CSV: no raw_base64 cell decodes to the binary line: %q", q)
	}
	if r := runCLI(t, nil, "export", "--what", "events", "--raw-csv", "--data", dir); r.code != 2 {
		t.Errorf("--raw-csv with jsonl: exit %d, want 2", r.code)
	}
}

func isNumber(s string) bool {
	for i, c := range s {
		if !(c >= '0' && c <= '9' || c == '.' || (i == 0 && (c == '-' || c == '+'))) {
			return false
		}
	}
	return true
}
