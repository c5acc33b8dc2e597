package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/projections/customer"
)

// smallLog imports the brief's simulated journey into a new data dir.
func smallLog(t *testing.T) string {
	t.Helper()
	sim := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(sim, []byte(mustRun(t, nil, "simulate", "--customers", "20", "--days", "30", "--seed", "1")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, sim)
	return dir
}

// dirNames is the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// A failed export --out FILE leaves an existing FILE byte for byte as it
// was and nothing beside it; a successful one replaces it.
func TestExportOutKeptOnFailure(t *testing.T) {
	dir := smallLog(t)
	oldTimes := filepath.Join(t.TempDir(), "old")
	mustRun(t, []byte(`{"specversion":"1.0","id":"e1","source":"crm","type":"purchase","subject":"c-old","time":"2025-01-02T10:00:00Z","datacontenttype":"application/json","data":{"order_id":"o1","amount":"10.00","currency":"EUR"}}
{"specversion":"1.0","id":"e2","source":"crm","type":"purchase","subject":"c-old","time":"1200-05-01T00:00:00Z","datacontenttype":"application/json","data":{"order_id":"o2","amount":"10.00","currency":"EUR"}}
`), "import", "--data", oldTimes, "-")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadServer := "http://" + l.Addr().String()
	l.Close()
	precious := []byte("precious\n")
	check := func(t *testing.T, code int, want string, args ...string) {
		t.Helper()
		outDir := t.TempDir()
		file := filepath.Join(outDir, "backup.jsonl")
		if err := os.WriteFile(file, precious, 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, nil, append(append([]string{"export"}, args...), "--out", file)...)
		if r.code != code || r.err == nil || !strings.Contains(r.err.Error(), want) {
			t.Errorf("export %s: exit %d, %v; want exit %d naming %q", strings.Join(args, " "), r.code, r.err, code, want)
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != string(precious) {
			t.Errorf("export %s: --out file now %q (%v), want it untouched", strings.Join(args, " "), b, err)
		}
		if names := dirNames(t, outDir); !slices.Equal(names, []string{"backup.jsonl"}) {
			t.Errorf("export %s left %v beside the --out file", strings.Join(args, " "), names)
		}
	}
	check(t, 2, `--what "bogus"`, "--data", dir, "--what", "bogus")
	check(t, 2, `--format parquet exports events, customers or actions`, "--data", dir, "--what", "quarantine", "--format", "parquet")
	check(t, 2, "--as-of applies to --what customers and actions", "--data", dir, "--what", "events", "--as-of", "2025-01-10")
	check(t, 2, "--as-of 9999-12-31T23:59:59.999999999Z (the as_of column) is outside", "--data", dir, "--what", "customers", "--format", "parquet", "--as-of", "9999-12-31")
	check(t, 2, "--since", "--data", dir, "--what", "access", "--since", "yesterday")
	check(t, 1, "no journey data in", "--data", filepath.Join(t.TempDir(), "nodir"))
	check(t, 1, "no journey serve answers at "+deadServer, "--server", deadServer)
	// A failure after rows were written: the second event does not fit Parquet.
	check(t, 1, "event 2: time 1200-05-01T00:00:00Z", "--data", oldTimes, "--format", "parquet")

	// Success replaces the file, keeps its mode, and still ends with the summary.
	outDir := t.TempDir()
	file := filepath.Join(outDir, "backup.jsonl")
	if err := os.WriteFile(file, precious, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "export", "--data", dir, "--out", file)
	if r.code != 0 || !strings.HasPrefix(r.stderr, "exported 73 events in ") || r.stdout != "" {
		t.Fatalf("export --out: exit %d, %v, stderr %q, stdout %q", r.code, r.err, r.stderr, r.stdout)
	}
	want := mustRun(t, nil, "export", "--data", dir)
	if b, err := os.ReadFile(file); err != nil || string(b) != want {
		t.Errorf("--out file has %d bytes (%v), want the %d of the export to stdout", len(b), err, len(want))
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced --out file: %v, %v; want mode 0600 kept", fi.Mode(), err)
	}
	if names := dirNames(t, outDir); !slices.Equal(names, []string{"backup.jsonl"}) {
		t.Errorf("export --out left %v", names)
	}

	// A new file: 0644 less the umask. Through a link: the link stays, its file is replaced.
	fresh := filepath.Join(outDir, "new.csv")
	mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "csv", "--out", fresh)
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm()&^0o644 != 0 || fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("new --out file: %v, %v; want 0644 less the umask", fi.Mode(), err)
	}
	link := filepath.Join(outDir, "link.jsonl")
	if err := os.Symlink("backup.jsonl", link); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "export", "--data", dir, "--what", "quarantine", "--out", link)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("--out link: %v, %v; want it still a link", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(file); string(b) != mustRun(t, nil, "export", "--data", dir, "--what", "quarantine") {
		t.Errorf("the link's file has %q, want the quarantine export", b)
	}
	if names := dirNames(t, outDir); !slices.Equal(names, []string{"backup.jsonl", "link.jsonl", "new.csv"}) {
		t.Errorf("exports --out left %v", names)
	}

	// A directory that does not exist: named, nothing created.
	r = runCLI(t, nil, "export", "--data", dir, "--out", filepath.Join(outDir, "no", "x.jsonl"))
	if r.code != 1 || r.err == nil || !strings.HasPrefix(r.err.Error(), "--out "+filepath.Join(outDir, "no", "x.jsonl")+": ") {
		t.Errorf("--out in a missing dir: exit %d, %v", r.code, r.err)
	}

	// The data dir in use by serve (its lock held, its SERVER file written).
	lock, err := pebble.LockDirectory(cli.LogDir(dir), vfs.Default)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := cli.WriteServerFile(dir, cli.ServerInfo{HTTP: "http://127.0.0.1:8081", NATS: "nats://127.0.0.1:4223", PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	check(t, 1, "is in use by journey serve at http://127.0.0.1:8081; pass --server", "--data", dir)
	check(t, 1, "is in use by journey serve", "--data", dir, "--what", "customers", "--format", "parquet")
}

// Empty Online Retail input (a file, stdin) and a header alone import no
// event, and so do empty inputs of the other formats.
func TestImportEmptyInputs(t *testing.T) {
	in := t.TempDir()
	empty := filepath.Join(in, "empty.csv")
	header := filepath.Join(in, "header.csv")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(header, []byte("customer_id,basket_ts,lines,amount_gbp,is_return,country\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--format", "online-retail", empty},
		{"--format", "online-retail", "-"},
		{"--format", "online-retail", header},
		{"--format", "cdnow", empty},
		{"--format", "cdnow", "-"},
		{"--format", "jsonl", empty},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		r := runCLI(t, nil, append([]string{"import", "--data", dir}, args...)...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "appended 0, duplicates 0, rejected 0") || !strings.Contains(r.stdout, "; 0 events read in ") {
			t.Errorf("import %s: exit %d, %v, stdout %q", strings.Join(args, " "), r.code, r.err, r.stdout)
		}
	}
}

// Parquet's TIMESTAMP(NANOS) holds 1677-09-21 to 2262-04-11: an export
// with a time outside fails naming the record, the column and the value,
// never the customer; a time inside, near the start, is written exactly
// (event times after now are refused at import: the far end is as-of's).
func TestExportParquetTimeRange(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, []byte(`{"specversion":"1.0","id":"e1","source":"crm","type":"purchase","subject":"c-old","time":"1677-09-22T00:00:00Z","datacontenttype":"application/json","data":{"order_id":"o1","amount":"10.00","currency":"EUR"}}
{"specversion":"1.0","id":"e2","source":"crm","type":"visit","subject":"c-old","time":"2025-06-01T00:00:00Z","datacontenttype":"application/json","data":{"channel":"web"}}
`), "import", "--data", dir, "-")
	out := filepath.Join(t.TempDir(), "ok.parquet")
	mustRun(t, nil, "export", "--data", dir, "--format", "parquet", "--out", out)
	pf := openParquet(t, out)
	rows := pf.rows(t)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for i, want := range []time.Time{time.Date(1677, 9, 22, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)} {
		if v, ok := pf.one(t, rows[i], "time"); !ok || v.Int64() != want.UnixNano() {
			t.Errorf("row %d time %v, want %v", i+1, v, want)
		}
	}
	mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "parquet", "--out", out, "--as-of", "2262-04-10T12:00:00Z")

	rule := " is outside what Parquet TIMESTAMP(NANOS) holds (1677-09-21 to 2262-04-11): export it as jsonl or csv"
	mustRun(t, []byte(`{"specversion":"1.0","id":"e3","source":"crm","type":"purchase","subject":"c-ancient","time":"1200-05-01T00:00:00Z","datacontenttype":"application/json","data":{"order_id":"o3","amount":"10.00","currency":"EUR"}}
`), "import", "--data", dir, "-")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--what", "events"}, "event 3: time 1200-05-01T00:00:00Z" + rule},
		{[]string{"--what", "customers"}, "customer row 1: first_seen 1200-05-01T00:00:00Z" + rule},
	} {
		r := runCLI(t, nil, append([]string{"export", "--data", dir, "--format", "parquet", "--out", out}, tc.args...)...)
		if r.code != 1 || r.err == nil || r.err.Error() != tc.want {
			t.Errorf("export %v: exit %d, %v\nwant exit 1, %q", tc.args, r.code, r.err, tc.want)
		}
		if r.err != nil && strings.Contains(r.err.Error(), "c-ancient") {
			t.Errorf("export %v: the error names the customer: %v", tc.args, r.err)
		}
	}
	if got := mustRun(t, nil, "export", "--data", dir, "--format", "csv"); !strings.Contains(got, ",1200-05-01T00:00:00Z,e3,") {
		t.Errorf("the csv export does not carry the time: %s", got)
	}
	for _, asOf := range []string{"9999-12-31", "1600-01-01T00:00:00Z"} {
		for _, what := range []string{"customers", "actions"} {
			r := runCLI(t, nil, "export", "--data", dir, "--what", what, "--format", "parquet", "--as-of", asOf)
			if r.code != 2 || r.err == nil || !strings.HasPrefix(r.err.Error(), "--as-of ") || !strings.HasSuffix(r.err.Error(), "(the as_of column)"+rule) {
				t.Errorf("--what %s --as-of %s: exit %d, %v", what, asOf, r.code, r.err)
			}
		}
	}
	if r := runCLI(t, nil, "export", "--data", dir, "--what", "customers", "--as-of", "9999-12-31"); r.code != 0 || !strings.Contains(r.stdout, `"as_of":"9999-12-31T23:59:59.999999999Z"`) {
		t.Errorf("jsonl --as-of 9999-12-31: exit %d, %v, %.200s", r.code, r.err, r.stdout)
	}
}

// The actions' times (a customer row's, and the rows of --what actions)
// are checked the same way; done_at null is fine.
func TestParquetActionTimes(t *testing.T) {
	ok := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	old := time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &customer.Answer{AsOf: ok, State: &customer.State{Customer: "c-1", FirstSeen: ok, LastSeen: ok},
		Actions: []customer.Action{{ID: "a1", Kind: "thank_you", Asked: ok}, {ID: "a2", Kind: "winback", Asked: ok, Done: old}}}
	row, err := parquetCustomerOf(c)
	if err != nil {
		t.Fatal(err)
	}
	const rule = " is outside what Parquet TIMESTAMP(NANOS) holds (1677-09-21 to 2262-04-11): export it as jsonl or csv"
	if err := checkParquetCustomer(7, &row); err == nil || err.Error() != "customer row 7: actions.done_at 1500-01-01T00:00:00Z"+rule {
		t.Errorf("customer with an old done_at: %v", err)
	}
	if err := checkParquetAction("action row 1", "", &row.Actions[0]); err != nil {
		t.Errorf("a pending action: %v", err)
	}
	row.Actions[0].AskedAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := checkParquetAction("action row 1", "", &row.Actions[0]); err == nil || err.Error() != "action row 1: asked_at 2300-01-01T00:00:00Z"+rule {
		t.Errorf("an action asked in 2300: %v", err)
	}
	row.AsOf = time.Time{} // a zero as_of is not null: written, it would wrap
	if err := checkParquetCustomer(1, &row); err == nil || !strings.HasPrefix(err.Error(), "customer row 1: as_of 0001-01-01T00:00:00Z") {
		t.Errorf("a zero as_of: %v", err)
	}
}

// --as-of goes with --what customers and actions only.
func TestExportAsOfOnlyCustomersActions(t *testing.T) {
	dir := smallLog(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--what", "events"}, "--as-of applies to --what customers and actions (the log's export is always the whole log)"},
		{[]string{"--what", "events", "--format", "parquet"}, "--as-of applies to --what customers and actions (the log's export is always the whole log)"},
		{[]string{"--what", "quarantine"}, "--as-of applies to --what customers and actions (the quarantine's export is what it holds now)"},
		{[]string{"--what", "access"}, "--as-of applies to --what customers and actions (the access log's export takes --since and --until)"},
		{[]string{"--customer", "cust-1"}, "--as-of applies to --what customers and actions (subject access is everything held now)"},
	} {
		r := runCLI(t, nil, append([]string{"export", "--data", dir, "--as-of", "2025-01-10"}, tc.args...)...)
		if r.code != 2 || r.err == nil || r.err.Error() != tc.want {
			t.Errorf("export --as-of %v: exit %d, %v\nwant exit 2, %q", tc.args, r.code, r.err, tc.want)
		}
	}
	out := filepath.Join(t.TempDir(), "a.parquet")
	for _, args := range [][]string{
		{"--what", "customers"},
		{"--what", "customers", "--format", "csv"},
		{"--what", "customers", "--format", "parquet", "--out", out},
		{"--what", "actions", "--format", "parquet", "--out", out},
	} {
		mustRun(t, nil, append([]string{"export", "--data", dir, "--as-of", "2025-01-10"}, args...)...)
	}
	if r := runCLI(t, nil, "export", "--data", dir, "--what", "actions"); r.code != 2 || !strings.Contains(r.err.Error(), "actions go with --format parquet") {
		t.Errorf("--what actions --format jsonl: exit %d, %v", r.code, r.err)
	}
}
