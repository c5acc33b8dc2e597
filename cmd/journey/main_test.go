package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/cli"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testdata is the absolute path of testdata, valid after a test's t.Chdir.
var testdata = func() string {
	d, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return d
}()

// testClock is the fixed "now" of the CLI tests: after every simulated
// event, so record times and quarantine times are reproducible.
var testClock = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type result struct {
	stdout, stderr string
	code           int
	err            error
}

// runCLI runs the journey command line in-process with a fixed clock, no
// environment and stdin, and returns its output and exit status.
func runCLI(t testing.TB, stdin []byte, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(bytes.NewReader(stdin), &out, &errOut)
	a.getenv = func(string) string { return "" }
	a.now = func() time.Time { return testClock }
	err := a.execute(context.Background(), args)
	return result{stdout: out.String(), stderr: errOut.String(), code: exitCode(err), err: err}
}

// mustRun is runCLI that fails the test unless the command succeeded.
func mustRun(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	r := runCLI(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("journey %s: exit %d: %v\nstderr: %s", strings.Join(args, " "), r.code, r.err, r.stderr)
	}
	return r.stdout
}

// golden compares got with testdata/<name>, rewriting it under -update.
func golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, clipLines(got, 30), clipLines(string(want), 30))
	}
}

// hashField is a record's hash in a JSON line.
var hashField = regexp.MustCompile(`"hash":"[0-9a-f]{64}"`)

// maskHashes replaces the records' hashes in JSON lines: an encrypted
// log's records are sealed with random nonces, so their hashes differ
// from run to run. Every line must have one.
func maskHashes(t testing.TB, s string) string {
	t.Helper()
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l == "" {
			continue
		}
		if !hashField.MatchString(l) {
			t.Fatalf("line %d has no record hash: %s", i+1, l)
		}
		lines[i] = hashField.ReplaceAllString(l, `"hash":"…"`)
	}
	return strings.Join(lines, "")
}

func clipLines(s string, n int) string {
	ls := strings.SplitAfter(s, "\n")
	if len(ls) > n {
		return strings.Join(ls[:n], "") + "…\n"
	}
	return s
}

// simulated writes a small simulated journey file with some invalid lines.
func simulated(t testing.TB) (path string, data []byte) {
	t.Helper()
	out := mustRun(t, nil, "simulate", "--customers", "40", "--days", "60", "--seed", "11", "--invalid-rate", "0.03")
	path = filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, []byte(out)
}

// firstSubject is the customer of the first valid line with the most events.
func busiestCustomer(t testing.TB, data []byte) string {
	t.Helper()
	counts := map[string]int{}
	best := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var e struct {
			Subject string `json:"subject"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Subject == "" || strings.Contains(e.Subject, " ") {
			continue
		}
		counts[e.Subject]++
		if counts[e.Subject] > counts[best] || counts[e.Subject] == counts[best] && e.Subject < best {
			best = e.Subject
		}
	}
	return best
}

// TestImportHistoryVerifyQuarantine is the auditor's path on a real
// Pebble log: import, re-import, history, verify, quarantine, tamper.
func TestImportHistoryVerifyQuarantine(t *testing.T) {
	_, data := simulated(t)
	t.Chdir(t.TempDir()) // relative paths, so that origins are stable
	file, dir := "events.jsonl", "data"
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}

	golden(t, "import/simulated/stdout", mustRun(t, nil, "import", "--data", dir, "--json", file))
	golden(t, "import/again/stdout", mustRun(t, nil, "import", "--data", dir, "--json", file))
	golden(t, "import/stdin-text/stdout", mustRun(t, data, "import", "--data", dir, "-"))

	cust := busiestCustomer(t, data)
	golden(t, "history/json/stdout", maskHashes(t, mustRun(t, nil, "history", "--data", dir, "--json", cust)))
	golden(t, "history/text/stdout", mustRun(t, nil, "history", "--data", dir, cust))
	golden(t, "history/as-of/stdout", maskHashes(t, mustRun(t, nil, "history", "--data", dir, "--json", "--as-of", "2025-01-20", cust)))
	golden(t, "history/limit/stdout", mustRun(t, nil, "history", "--data", dir, "--limit", "2", cust))

	// history is in event-time order even though tills synced late.
	var last time.Time
	for _, l := range strings.Split(strings.TrimSpace(mustRun(t, nil, "history", "--data", dir, "--json", cust)), "\n") {
		var h struct {
			Event struct {
				Time time.Time `json:"time"`
			} `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatal(err)
		}
		if h.Event.Time.Before(last) {
			t.Fatalf("history not in event-time order: %v after %v", h.Event.Time, last)
		}
		last = h.Event.Time
	}

	golden(t, "verify/ok/stdout", anyHead(mustRun(t, nil, "verify", "--data", dir, "--json")))
	golden(t, "quarantine/list/stdout", mustRun(t, nil, "quarantine", "list", "--data", dir, "--json"))
	for _, l := range strings.Split(strings.TrimSpace(mustRun(t, nil, "quarantine", "list", "--data", dir, "--json")), "\n") {
		var q map[string]any
		if err := json.Unmarshal([]byte(l), &q); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"seq", "code", "field", "reason", "received_at", "origin", "raw"} {
			if _, ok := q[k]; !ok {
				t.Errorf("quarantine entry without %q: %s", k, l)
			}
		}
	}
	// nothing became valid: retry keeps every entry
	golden(t, "quarantine/retry/stdout", mustRun(t, nil, "quarantine", "retry", "--data", dir, "--json"))

	// Alter one record behind the store's back: verify names it, exit 1.
	tamper(t, dir, 7)
	r := runCLI(t, nil, "verify", "--data", dir, "--json")
	if r.code != 1 {
		t.Fatalf("verify of a tampered log: exit %d, want 1 (%v)", r.code, r.err)
	}
	golden(t, "verify/tampered/stdout", anyHead(r.stdout))
	var rep verifyResult
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBadSeq == nil || *rep.FirstBadSeq != 7 {
		t.Fatalf("verify of a log tampered at 7 reported %+v", rep)
	}
	if !strings.Contains(r.err.Error(), "first bad sequence 7") {
		t.Errorf("verify error %q does not name sequence 7", r.err)
	}
	r = runCLI(t, nil, "verify", "--data", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "FAILED at sequence 7") {
		t.Errorf("verify (text) of a tampered log: exit %d, stdout %q", r.code, r.stdout)
	}
}

// anyHead replaces verify --json's head hash: a new data dir is encrypted
// under a generated master key, so the stored bytes (and the chain over
// them) differ from run to run.
func anyHead(s string) string {
	return headHash.ReplaceAllString(s, `"head":"<hash>"`)
}

var headHash = regexp.MustCompile(`"head":"[0-9a-f]{64}"`)

// tamper flips one byte of record seq's stored event, as an attacker with
// access to the files would. The log is encrypted (a new data dir is): it
// is opened with its keys first, to make sure record seq holds an event,
// and the flipped byte is the last of its sealed bytes.
func tamper(t testing.TB, dataDir string, seq uint64) {
	t.Helper()
	s, err := cli.OpenLogKeys(dataDir, false, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	sealed, holds := s.Sealed(), false
	err = s.Scan(context.Background(), seq, seq, func(rec *eventstore.Record) error {
		holds = bytes.Contains(rec.Raw, []byte(`"specversion":"1.0"`))
		return nil
	})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if !sealed {
		t.Fatalf("the log of a new data dir %s is not encrypted", dataDir)
	}
	if !holds {
		t.Fatalf("record %d holds no event", seq)
	}
	db, err := pebble.Open(cli.LogDir(dataDir), eventstore.PebbleOptions(vfs.Default, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := binary.BigEndian.AppendUint64([]byte("e/"), seq)
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("get record %d: %v", seq, err)
	}
	v = bytes.Clone(v)
	closer.Close()
	v[len(v)-1] ^= 1 // the sealed bytes are the rest of the value
	if err := db.Set(key, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func TestExitCodes(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{}, 0},
		{[]string{"--help"}, 0},
		{[]string{"nosuch"}, 2},
		{[]string{"--bogus"}, 2},
		{[]string{"import"}, 2},
		{[]string{"import", "a", "b"}, 2},
		{[]string{"import", "--format", "xml", "x"}, 2},
		{[]string{"history", "--data", empty, "--as-of", "yesterday", "c1"}, 2},
		{[]string{"history", "--data", empty, "--limit", "-1", "c1"}, 2},
		{[]string{"quarantine"}, 0},
		{[]string{"quarantine", "purge"}, 2},
		{[]string{"simulate", "--customers", "0"}, 2},
		{[]string{"simulate", "--customers", "x"}, 2},
		{[]string{"simulate", "--start", "soon"}, 2},
		{[]string{"verify", "extra"}, 2},
		{[]string{"history", "--data", empty, "c1"}, 1},
		{[]string{"verify", "--data", empty}, 1},
		{[]string{"import", "--data", empty, filepath.Join(empty, "missing.jsonl")}, 1},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != tc.code {
			t.Errorf("journey %s: exit %d, want %d (err %v)", strings.Join(tc.args, " "), r.code, tc.code, r.err)
		}
	}
}

func TestNoDataIsClear(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothing")
	r := runCLI(t, nil, "history", "--data", dir, "c1")
	if r.code != 1 || !strings.Contains(r.err.Error(), "no journey data in "+dir) {
		t.Fatalf("history on an empty dir: exit %d, %v", r.code, r.err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("a read command created the data dir")
	}
}

// TestDataDirInUse holds the log's Pebble LOCK as another process does:
// without a SERVER file it is "another journey process"; with the one a
// running serve writes, the message names its URL, and the commands that
// take --server say to pass it, the others to stop it (import: or publish).
func TestDataDirInUse(t *testing.T) {
	file, _ := simulated(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, "--json", file)
	lock, err := pebble.LockDirectory(cli.LogDir(dir), vfs.Default)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	for _, args := range [][]string{
		{"history", "--data", dir, "c1"},
		{"verify", "--data", dir},
		{"quarantine", "list", "--data", dir},
		{"import", "--data", dir, file},
	} {
		r := runCLI(t, nil, args...)
		want := "data dir " + dir + " is in use by another journey process (a serve, an import or a rebuild); stop it first"
		if r.code != 1 || r.err == nil || r.err.Error() != want {
			t.Errorf("journey %s while locked: exit %d, err %v; want exit 1 and %q", strings.Join(args, " "), r.code, r.err, want)
		}
	}
	if err := cli.WriteServerFile(dir, cli.ServerInfo{HTTP: "http://127.0.0.1:8081", NATS: "nats://127.0.0.1:4223", PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	at := "data dir " + dir + " is in use by journey serve at http://127.0.0.1:8081; "
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"history", "--data", dir, "c1"}, at + "pass --server http://127.0.0.1:8081"},
		{[]string{"customer", "--data", dir, "c1"}, at + "pass --server http://127.0.0.1:8081"},
		{[]string{"segments", "--data", dir}, at + "pass --server http://127.0.0.1:8081"},
		{[]string{"nps", "--data", dir}, at + "pass --server http://127.0.0.1:8081"},
		{[]string{"export", "--data", dir}, at + "pass --server http://127.0.0.1:8081"},
		{[]string{"verify", "--data", dir}, at + "pass --server http://127.0.0.1:8081"},
		{[]string{"quarantine", "list", "--data", dir}, at + "pass --server http://127.0.0.1:8081"},
		{[]string{"rebuild", "--data", dir}, at + "pass --server http://127.0.0.1:8081"},
		{[]string{"quarantine", "retry", "--data", dir}, at + "stop it first"},
		{[]string{"churn", "fit", "--data", dir}, at + "stop it first"},
		{[]string{"import", "--data", dir, file}, at + "stop it first, or publish to it: journey publish --nats-url nats://127.0.0.1:4223 FILE"},
		{[]string{"serve", "--data", dir}, at + "stop it or pass another --data"},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != 1 || r.err == nil || r.err.Error() != tc.want {
			t.Errorf("journey %s while served: exit %d, err %v\nwant %q", strings.Join(tc.args, " "), r.code, r.err, tc.want)
		}
	}
}

func TestDataFromEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "envdata")
	file, _ := simulated(t)
	var out, errOut bytes.Buffer
	a := newApp(nil, &out, &errOut)
	a.getenv = func(k string) string {
		if k == cli.DataEnv {
			return dir
		}
		return ""
	}
	if err := a.execute(context.Background(), []string{"import", "--json", file}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cli.LogDir(dir)); err != nil {
		t.Fatalf("import with $%s=%s did not write there: %v", cli.DataEnv, dir, err)
	}
}

// TestImportOversizedLines: lines over 64 KiB (and over the reader's 1 MiB
// cap) are quarantined as too_large; the valid lines around them go in.
func TestImportOversizedLines(t *testing.T) {
	_, data := simulated(t)
	valid := strings.SplitAfterN(string(data), "\n", 4)[:3]
	big := `{"specversion":"1.0","pad":"` + strings.Repeat("x", 100<<10) + `"}` + "\n"
	huge := strings.Repeat("y", 3<<20) + "\n"
	in := valid[0] + big + valid[1] + huge + "\r\n\n" + valid[2]
	dir := filepath.Join(t.TempDir(), "data")
	out := mustRun(t, []byte(in), "import", "--data", dir, "--json", "-")
	var s importSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Rejected < 2 || s.Appended+s.Rejected != 5 {
		t.Fatalf("summary %+v, want the 2 oversized lines rejected among 5", s)
	}
	q := mustRun(t, nil, "quarantine", "list", "--data", dir, "--json")
	for _, want := range []string{`"code":"too_large"`, `"origin":"import:stdin:2"`, `"origin":"import:stdin:4"`} {
		if !strings.Contains(q, want) {
			t.Errorf("quarantine list lacks %s", want)
		}
	}
}

func TestSimulateDeterministic(t *testing.T) {
	args := []string{"simulate", "--customers", "50", "--days", "30", "--seed", "42", "--start", "2025-03-01"}
	a, b := mustRun(t, nil, args...), mustRun(t, nil, args...)
	if a != b || a == "" {
		t.Fatal("simulate with the same seed gave different output")
	}
	if !strings.Contains(a, `"time":"2025-03-01T`) {
		t.Error("--start 2025-03-01 not honoured")
	}
}

func TestImportCDNOW(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	golden(t, "import/cdnow/stdout", mustRun(t, nil, "import", "--data", dir, "--json", "--format", "cdnow", filepath.Join("testdata", "cdnow.txt")))
	golden(t, "history/cdnow/stdout", maskHashes(t, mustRun(t, nil, "history", "--data", dir, "--json", "cdnow-90001")))
	golden(t, "quarantine/cdnow/stdout", mustRun(t, nil, "quarantine", "list", "--data", dir, "--json"))

	real := filepath.Join("..", "..", "..", "shared", "data", "cdnow", "CDNOW_sample.txt")
	if _, err := os.Stat(real); err != nil {
		t.Logf("skipping the real CDNOW sample: %v", err)
		return
	}
	dir = filepath.Join(t.TempDir(), "real")
	out := mustRun(t, nil, "import", "--data", dir, "--json", "--format", "cdnow", real)
	if want := `{"appended":6919,"duplicates":0,"rejected":0,"duration_s":0,"events_per_s":0}` + "\n"; out != want {
		t.Fatalf("import of CDNOW_sample.txt: %s, want %s", out, want)
	}
}

func TestImportOnlineRetail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	golden(t, "import/online-retail/stdout", mustRun(t, nil, "import", "--data", dir, "--json", "--format", "online-retail", filepath.Join("testdata", "retail.csv")))
	golden(t, "history/online-retail/stdout", mustRun(t, nil, "history", "--data", dir, "retail-90101"))
}

// TestVerifyPebbleCorruption damages an sstable of the log: verify reports
// it (exit 1, ok false) instead of crashing, and so do the readers.
func TestVerifyPebbleCorruption(t *testing.T) {
	file, _ := simulated(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, file)
	mustRun(t, []byte(""), "import", "--data", dir, "-") // reopening for writing flushes the WAL into an sstable
	ssts, _ := filepath.Glob(filepath.Join(cli.LogDir(dir), "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no sstable to damage")
	}
	b, err := os.ReadFile(ssts[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 4; i < len(b)/4+32; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(ssts[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "verify", "--data", dir, "--json")
	if r.code != 1 {
		t.Fatalf("verify of a damaged sstable: exit %d (%v)\n%s", r.code, r.err, r.stdout)
	}
	var rep verifyResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &rep); err != nil {
		t.Fatalf("verify --json output %q: %v", r.stdout, err)
	}
	if rep.OK || rep.Reason == "" {
		t.Fatalf("verify of a damaged sstable: %+v", rep)
	}
	if rep.FirstBadSeq != nil && (*rep.FirstBadSeq == 0 || *rep.FirstBadSeq > 180) {
		t.Errorf("first_bad_seq %d out of the log's range", *rep.FirstBadSeq)
	}
	if strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("stack trace on stderr:\n%s", r.stderr)
	}
}

// TestQuarantineRetry: an event from a till whose clock ran ahead is
// quarantined; once the engine's clock has caught up, retry appends it and
// empties the quarantine; a second retry finds nothing.
func TestQuarantineRetry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ahead := testClock.Add(time.Hour).Format(time.RFC3339)
	ev := `{"specversion":"1.0","id":"ahead-1","source":"pos/store-001/till-1","type":"visit","subject":"c1","time":"` + ahead + `","data":{"channel":"store"}}` + "\n"
	out := mustRun(t, []byte(ev), "import", "--data", dir, "--json", "-")
	if out != `{"appended":0,"duplicates":0,"rejected":1,"duration_s":0,"events_per_s":0}`+"\n" {
		t.Fatalf("import of a future event: %s", out)
	}
	if q := mustRun(t, nil, "quarantine", "list", "--data", dir, "--json"); !strings.Contains(q, `"field":"time"`) {
		t.Fatalf("quarantine: %s", q)
	}
	later := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		a := newApp(nil, &stdout, &stderr)
		a.getenv = func(string) string { return "" }
		a.now = func() time.Time { return testClock.Add(2 * time.Hour) }
		if err := a.execute(context.Background(), args); err != nil {
			t.Fatalf("journey %v: %v", args, err)
		}
		return stdout.String()
	}
	if got, want := later("quarantine", "retry", "--data", dir, "--json"), `{"retried":1,"appended":1,"duplicates":0,"still_invalid":0}`+"\n"; got != want {
		t.Fatalf("retry: %s, want %s", got, want)
	}
	if got := later("quarantine", "list", "--data", dir, "--json"); got != "" {
		t.Fatalf("quarantine after retry: %q, want empty", got)
	}
	if got, want := later("quarantine", "retry", "--data", dir, "--json"), `{"retried":0,"appended":0,"duplicates":0,"still_invalid":0}`+"\n"; got != want {
		t.Fatalf("second retry: %s, want %s", got, want)
	}
	if h := mustRun(t, nil, "history", "--data", dir, "--json", "c1"); !strings.Contains(h, `"id":"ahead-1"`) {
		t.Fatalf("history after retry: %s", h)
	}
}
