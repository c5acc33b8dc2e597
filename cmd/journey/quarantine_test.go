package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// TestQuarantineInvalidUTF8 quarantines inputs that are not UTF-8 (one
// with a bad byte inside a string, one in the id) beside a valid one:
// quarantine list --json, export --what quarantine as JSONL and CSV list
// every entry to the end, the bad bytes as raw_base64 that decodes to
// exactly what was received, and retry keeps them (still invalid).
func TestQuarantineInvalidUTF8(t *testing.T) {
	dir := t.TempDir()
	bad1 := []byte(`{"specversion":"1.0","id":"u-1","source":"pos/1","type":"visit","subject":"c-1","time":"2025-01-02T03:04:05Z","data":{"channel":"st` + "\xff\xfe" + `ore"}}`)
	bad2 := []byte(`{"specversion":"1.0","id":"u-` + "\xc3\x28" + `","source":"pos/1","type":"visit","subject":"c-1","time":"2025-01-02T03:04:05Z","data":{"channel":"store"}}`)
	tooBig := []byte(`{"specversion":"1.0"` + strings.Repeat(" ", 70<<10) + `}`)
	in := bytes.Join([][]byte{bad1, bad2, tooBig}, []byte("\n"))
	mustRun(t, in, "import", "--data", dir, "-")

	out := mustRun(t, nil, "quarantine", "list", "--data", dir, "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("quarantine list printed %d lines, want 3:\n%s", len(lines), out)
	}
	var got [][]byte
	for _, l := range lines {
		var q struct {
			Raw       *string `json:"raw"`
			RawBase64 string  `json:"raw_base64"`
			Reason    string  `json:"reason"`
		}
		if err := json.Unmarshal([]byte(l), &q); err != nil {
			t.Fatalf("line is not JSON: %v: %s", err, l)
		}
		switch {
		case q.Raw != nil && q.RawBase64 == "":
			got = append(got, []byte(*q.Raw))
		case q.Raw == nil && q.RawBase64 != "":
			b, err := base64.StdEncoding.DecodeString(q.RawBase64)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b)
		default:
			t.Fatalf("entry has neither or both of raw and raw_base64: %s", l[:min(len(l), 200)])
		}
	}
	if !bytes.Equal(got[0], bad1) || !bytes.Equal(got[1], bad2) || !bytes.Equal(got[2], tooBig) {
		t.Fatalf("listed bytes differ from the input")
	}
	exp := mustRun(t, nil, "export", "--data", dir, "--what", "quarantine", "--format", "jsonl")
	if exp != out {
		t.Fatalf("export jsonl differs from quarantine list --json")
	}
	csvOut := mustRun(t, nil, "export", "--data", dir, "--what", "quarantine", "--format", "csv")
	if !strings.Contains(csvOut, base64.StdEncoding.EncodeToString(bad1)) {
		t.Fatal("CSV export lacks the base64 of the non-UTF-8 entry")
	}
	mustRun(t, nil, "quarantine", "retry", "--data", dir, "--json")
	if again := mustRun(t, nil, "quarantine", "list", "--data", dir, "--json"); len(strings.Split(strings.TrimSpace(again), "\n")) != 3 {
		t.Fatalf("retry lost entries that are still invalid:\n%s", again)
	}
}

// TestTextOutputEscapesControls: a publisher's escape sequences reach the
// terminal as visible escapes, never as control bytes — in quarantine list
// (an input that is not JSON, one whose id carries them) and in history
// (an event whose source carries them, decoded from JSON escapes).
func TestTextOutputEscapesControls(t *testing.T) {
	dir := t.TempDir()
	in := "{\"id\":\"\x1b]0;pwned\x07\x1b[2J\"\n" +
		`{"specversion":"1.0","id":"e-1","source":"pos/\u001b[2J\r","type":"visit","subject":"c-1","time":"2025-01-02T03:04:05Z","data":{"channel":"store"}}` + "\n"
	mustRun(t, []byte(in), "import", "--data", dir, "-")
	for _, args := range [][]string{{"quarantine", "list"}, {"history", "c-1"}} {
		out := mustRun(t, nil, append(args, "--data", dir)...)
		if i := strings.IndexFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }); i >= 0 {
			t.Errorf("journey %s prints control byte %q:\n%q", strings.Join(args, " "), out[i], out)
		}
		if !strings.Contains(out, `\x1b[2J`) {
			t.Errorf("journey %s does not show the escape as \\x1b:\n%s", strings.Join(args, " "), out)
		}
	}
}
