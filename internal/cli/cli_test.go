package cli

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
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
		{"0001-01-01", time.Date(1, 1, 1, 23, 59, 59, 999999999, time.UTC), true},
		{"9999-12-31", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), true},
		// Outside the years 0001 to 9999 in UTC, as HTTP's as_of refuses them.
		{"0000-12-31", time.Time{}, false},
		{"0001-01-01T00:30:00+01:00", time.Time{}, false},
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
	l.Warn("eventstore: kept in the archive", "err", "eventstore: open d: pebble: file 000009: bad")
	if got, want := b.String(), "journey: error: data corruption info=file 000008 bad …\n"+
		"journey: warning: kept in the archive err=open d: file 000009: bad\n"; got != want {
		t.Fatalf("logged %q, want %q", got, want)
	}
	if strings.Contains(b.String(), "not shown") {
		t.Fatal("info logged")
	}
}

// TestProgressUnits: a byte bar (import, publish of a file) shows bytes and
// bytes per second with the events counted in its description; an event
// bar shows events per second. Neither calls bytes events.
func TestProgressUnits(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, 10<<20, "import", true)
	p.Set(1 << 20)
	time.Sleep(150 * time.Millisecond)
	p.Events(4321)
	p.Set(2 << 20)
	out := b.String()
	if !strings.Contains(out, "import 4321 events") || !strings.Contains(out, "MB/s") || !strings.Contains(out, "/10 MB") {
		t.Errorf("byte bar renders %q: want the event count, MB and MB/s", out)
	}
	if strings.Contains(out, "ev/s") || strings.Contains(out, "events/s") {
		t.Errorf("byte bar renders %q: bytes labelled as events", out)
	}
	b.Reset()
	p = newProgress(&b, 1000, "verify", false)
	p.Set(100)
	time.Sleep(150 * time.Millisecond)
	p.Set(500)
	if out := b.String(); !strings.Contains(out, "500/1000") || !strings.Contains(out, "events/s") {
		t.Errorf("event bar renders %q: want 500/1000 and events/s", out)
	}
}

// TestCheckListenTaken: a port another process listens on fails at once,
// naming the address, the cause and the flag to change.
func TestCheckListenTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	start := time.Now()
	err = CheckListen("HTTP", "--http", addr)
	if err == nil {
		t.Fatalf("CheckListen(%s) of a taken port: nil", addr)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("CheckListen took %s", d)
	}
	for _, want := range []string{"HTTP cannot listen on " + addr, "address already in use", "pass another --http"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := CheckListen("HTTP", "--http", "127.0.0.1:0"); err != nil {
		t.Errorf("port 0: %v", err)
	}
	if err := CheckListen("NATS", "--nats-listen", "localhost"); err == nil || !strings.Contains(err.Error(), "not HOST:PORT") {
		t.Errorf("no port: %v", err)
	}
}

// TestInUseNamesServer: the in-use error names the URL a running serve
// wrote into the data dir, and forgets a file whose process is gone.
func TestInUseNamesServer(t *testing.T) {
	dir := t.TempDir()
	if got := NewInUseError(dir, nil).Error(); !strings.Contains(got, "another journey process") {
		t.Errorf("without SERVER: %q", got)
	}
	if err := WriteServerFile(dir, ServerInfo{HTTP: HTTPURL("[::]:8080"), NATS: "nats://127.0.0.1:4222", PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	e := NewInUseError(dir, nil)
	e.Hint = "pass --server " + e.Server.HTTP
	if got, want := e.Error(), "data dir "+dir+" is in use by journey serve at http://127.0.0.1:8080; pass --server http://127.0.0.1:8080"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if err := RemoveServerFile(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ServerFileName)); !os.IsNotExist(err) {
		t.Errorf("SERVER not removed: %v", err)
	}
	// a crashed serve's file (its pid gone) is ignored
	if err := WriteServerFile(dir, ServerInfo{HTTP: "http://127.0.0.1:1", PID: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if info, _ := ReadServerFile(dir); info != nil {
		t.Errorf("stale SERVER read as %+v", info)
	}
}

func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode\n\tand tabs": "plain text, ünïcode\n\tand tabs",
		"\x1b]0;pwned\x07\x1b[2J":         `\x1b]0;pwned\x07\x1b[2J`,
		"over\rwrite\x7f":                 `over\x0dwrite\x7f`,
		"c1 \u009b2J":                     `c1 \u009b2J`,
		"bad \xff byte":                   "bad \uFFFD byte",
	} {
		if got := TerminalSafe(in); got != want {
			t.Errorf("TerminalSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
