package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseAsOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1997-09-30", time.Date(1997, 9, 30, 23, 59, 59, 999999999, time.UTC), true},
		{"2025-01-01T10:00:00Z", time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC), true},
		{"2025-01-01T10:00:00.5+02:00", time.Date(2025, 1, 1, 8, 0, 0, 5e8, time.UTC), true},
		{" 2025-02-28 ", time.Date(2025, 2, 28, 23, 59, 59, 999999999, time.UTC), true},
		{"2025-02-30", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, err := ParseAsOf(tc.in)
		if (err == nil) != tc.ok || tc.ok && !got.Equal(tc.want) {
			t.Errorf("ParseAsOf(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDataDir(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == DataEnv {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct{ flag, env, want string }{
		{"/x", "/y", "/x"}, {"", "/y", "/y"}, {"", "", "./data"},
	} {
		if got := DataDir(tc.flag, env(tc.env)); got != tc.want {
			t.Errorf("DataDir(%q) with $%s=%q = %q, want %q", tc.flag, DataEnv, tc.env, got, tc.want)
		}
	}
}

func TestLoggerOneLine(t *testing.T) {
	var b bytes.Buffer
	l := Logger(&b)
	l.Info("not shown")
	l.Error("pebble: data corruption", "info", "file 000008 bad\nstack trace line 1\nline 2")
	if got, want := b.String(), "journey: error: pebble: data corruption info=file 000008 bad …\n"; got != want {
		t.Fatalf("logged %q, want %q", got, want)
	}
	if strings.Contains(b.String(), "not shown") {
		t.Fatal("info logged")
	}
}
