package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// importJSON runs import --json with args and returns its summary.
func importJSON(t *testing.T, stdin []byte, args ...string) importSummary {
	t.Helper()
	var s importSummary
	out := mustRun(t, stdin, append([]string{"import", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("import summary %q: %v", out, err)
	}
	return s
}

// errText is the error line a failed command prints, "" if it succeeded.
func errText(r result) string {
	if r.err == nil {
		return ""
	}
	return r.err.Error()
}

// TestImportRetailNegativePurchase: a purchase row (is_return=0) with a
// negative amount is quarantined on data.amount, not imported as a
// purchase of the opposite amount; a return's negative amount is made
// positive as before.
func TestImportRetailNegativePurchase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	in := "customer_id,basket_ts,lines,amount_gbp,is_return,country\n" +
		"1,2010-12-01T08:26:00,7,-139.12,0,United Kingdom\n" +
		"2,2010-12-01T08:26:00,1,-4.65,1,United Kingdom\n"
	s := importJSON(t, []byte(in), "--data", dir, "--format", "online-retail", "-")
	if s.Appended != 3 || s.Rejected != 1 { // profile 1; profile 2 and its return
		t.Fatalf("%d appended, %d rejected, want 3 appended (2 profiles, 1 return) and the negative purchase rejected", s.Appended, s.Rejected)
	}
	q := mustRun(t, nil, "quarantine", "list", "--data", dir, "--json")
	if !strings.Contains(q, `"field":"data.amount"`) || !strings.Contains(q, `\"-139.12\" is negative`) || !strings.Contains(q, `"origin":"import:stdin:2"`) {
		t.Errorf("quarantine does not name the negative purchase amount of line 2:\n%s", q)
	}
	if h := mustRun(t, nil, "history", "--data", dir, "retail-1"); strings.Contains(h, "139.12") {
		t.Errorf("the negative purchase was appended:\n%s", h)
	}
	if h := mustRun(t, nil, "history", "--data", dir, "retail-2"); !strings.Contains(h, `"amount":"4.65"`) {
		t.Errorf("the return lost its amount:\n%s", h)
	}
}

// TestImportRetailUnclosedQuote: a row with a quote that does not close
// is quarantined alone; the rows after it are still imported.
func TestImportRetailUnclosedQuote(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	in := "customer_id,basket_ts,lines,amount_gbp,is_return,country\n" +
		"4,2010-12-01T08:26:00,7,\"10.0,0,France\n" +
		"5,2010-12-01T08:26:00,7,10.00,0,France\n" +
		"6,2010-12-01T08:27:00,7,11.00,0,France\n"
	s := importJSON(t, []byte(in), "--data", dir, "--format", "online-retail", "-")
	if s.Appended != 4 || s.Rejected != 1 {
		t.Fatalf("%d appended, %d rejected, want rows 5 and 6 appended (4 events) and the row of line 2 rejected", s.Appended, s.Rejected)
	}
	q := mustRun(t, nil, "quarantine", "list", "--data", dir, "--json")
	if !strings.Contains(q, `"origin":"import:stdin:2"`) || !strings.Contains(q, `"raw":"4,2010-12-01T08:26:00,7,\"10.0,0,France"`) {
		t.Errorf("quarantine lacks line 2 as it was:\n%s", q)
	}
}

// TestImportDamagedGzip: a truncated or corrupted gzip file is refused in
// one line before anything is written, instead of importing what its
// damaged stream decompresses to.
func TestImportDamagedGzip(t *testing.T) {
	var csv strings.Builder
	csv.WriteString("customer_id,basket_ts,lines,amount_gbp,is_return,country\n")
	for i := range 3000 {
		fmt.Fprintf(&csv, "%d,2010-12-%02dT%02d:%02d:00,%d,%d.%02d,0,United Kingdom\n", 10000+i%700, 1+i%28, i%24, i%60, 1+i%9, i%500, i%100)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(csv.String()))
	zw.Close()
	whole := gz.Bytes()
	flipped := bytes.Clone(whole)
	flipped[len(flipped)/2] ^= 0xff
	tmp := t.TempDir()
	for name, b := range map[string][]byte{"truncated": whole[:len(whole)/2], "flipped": flipped, "magic-only": whole[:2]} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(tmp, name+".csv.gz")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(tmp, name+"-data")
			r := runCLI(t, nil, "import", "--data", dir, "--format", "online-retail", file)
			msg := errText(r)
			if r.code != 1 || !strings.Contains(msg, "gzip stream") || strings.Contains(msg, "\n") || strings.Contains(msg, "gzip:") || strings.Contains(msg, "flate:") {
				t.Fatalf("exit %d, error %q: want exit 1 and one line saying the gzip stream is damaged", r.code, msg)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q: want no summary, nothing was imported", r.stdout)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the data dir was created (%v): nothing should be written", err)
			}
		})
	}
}

// TestImportUTF16AndBOM: a UTF-8 byte order mark before the first line is
// not part of it (the line is appended); a UTF-16 input is refused in one
// line instead of being quarantined line by line as noise.
func TestImportUTF16AndBOM(t *testing.T) {
	line := `{"specversion":"1.0","id":"bom-1","source":"s","type":"visit","subject":"c1","time":"2025-03-01T10:00:00Z","data":{"channel":"web"}}` + "\n"
	dir := filepath.Join(t.TempDir(), "data")
	if s := importJSON(t, append([]byte("\xef\xbb\xbf"), line...), "--data", dir, "-"); s.Appended != 1 || s.Rejected != 0 {
		t.Fatalf("with a BOM: %d appended, %d rejected, want the line appended", s.Appended, s.Rejected)
	}
	if h := mustRun(t, nil, "history", "--data", dir, "--json", "c1"); strings.Contains(h, "\ufeff") || strings.Contains(h, `\ufeff`) {
		t.Errorf("the BOM was stored with the event:\n%s", h)
	}
	le := []byte{0xff, 0xfe}
	be := []byte{0xfe, 0xff}
	var noBOM []byte
	for _, c := range []byte(line) {
		le = append(le, c, 0)
		be = append(be, 0, c)
		noBOM = append(noBOM, c, 0)
	}
	for name, in := range map[string][]byte{"le": le, "be": be, "le-no-bom": noBOM} {
		dir := filepath.Join(t.TempDir(), "data")
		r := runCLI(t, in, "import", "--data", dir, "-")
		if msg := errText(r); r.code != 1 || !strings.Contains(msg, "UTF-16") || strings.Contains(msg, "\n") {
			t.Errorf("%s: exit %d, error %q: want exit 1 and one line naming UTF-16", name, r.code, msg)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: the data dir was created (%v): nothing should be written", name, err)
		}
	}
}

// TestImportOversizedLineSize: the size a too_large line is reported with
// is its own, without its line ending, also past the bytes kept.
func TestImportOversizedLineSize(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	in := strings.Repeat("y", maxLineBytes+2) + "\n" + strings.Repeat("z", 3<<20) + "\r\n"
	if s := importJSON(t, []byte(in), "--data", dir, "-"); s.Rejected != 2 {
		t.Fatalf("%d rejected, want 2", s.Rejected)
	}
	q := mustRun(t, nil, "quarantine", "list", "--data", dir, "--json")
	for _, want := range []string{fmt.Sprintf("line is %d bytes", maxLineBytes+2), fmt.Sprintf("line is %d bytes", 3<<20)} {
		if !strings.Contains(q, want) {
			t.Errorf("quarantine lacks %q", want)
		}
	}
}

// TestPublishUTF16: publish refuses a UTF-16 input in one line, as import
// does, before it connects.
func TestPublishUTF16(t *testing.T) {
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, []byte{0xff, 0xfe, '{', 0, '}', 0, '\n', 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "publish", "--nats-url", "nats://127.0.0.1:1", file)
	if msg := errText(r); r.code != 1 || !strings.Contains(msg, "events.jsonl: the input is UTF-16") {
		t.Fatalf("exit %d, error %q: want exit 1 and the file named as UTF-16", r.code, msg)
	}
}

// TestImportRowRejectionsNameTheColumn: a CDNOW or Online Retail row that
// does not convert is quarantined naming the column it fails on and why,
// one column at a time.
func TestImportRowRejectionsNameTheColumn(t *testing.T) {
	for _, tc := range []struct {
		format, in string
		want       []string // field and rule of each entry, in line order
	}{
		{"cdnow", " customer_id date number_of_cds dollar_value\n 0000x 19970101 1 1.00\n 00002 19970231 1 1.00\n 00003 19970101 -1 1.00\n 00004 19970101 2.0 1.00\n",
			[]string{`"field":"customer_id","reason":"invalid_field: customer_id: cdnow row: \"0000x\" is not digits"`,
				`"field":"date","reason":"invalid_field: date: cdnow row: \"19970231\" is not a date yyyymmdd"`,
				`"field":"number_of_cds","reason":"invalid_field: number_of_cds: cdnow row: \"-1\" is not a whole number ≥ 0"`,
				`"field":"number_of_cds","reason":"invalid_field: number_of_cds: cdnow row: \"2.0\" is not a whole number ≥ 0"`}},
		{"online-retail", "x1,2010-12-01T08:26:00,7,1.00,0,France\n1,2010-12-01 08:26,7,1.00,0,France\n1,2010-12-01T08:26:00,-7,1.00,0,France\n",
			[]string{`"field":"customer_id","reason":"invalid_field: customer_id: online-retail row: \"x1\" is not digits"`,
				`"field":"basket_ts","reason":"invalid_field: basket_ts: online-retail row: \"2010-12-01 08:26\" is not a time yyyy-mm-ddThh:mm:ss"`,
				`"field":"lines","reason":"invalid_field: lines: online-retail row: \"-7\" is not a whole number ≥ 0"`}},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		if s := importJSON(t, []byte(tc.in), "--data", dir, "--format", tc.format, "-"); s.Rejected != len(tc.want) || s.Appended != 0 {
			t.Fatalf("%s: %d appended, %d rejected, want %d rejected", tc.format, s.Appended, s.Rejected, len(tc.want))
		}
		q := strings.Split(strings.TrimSpace(mustRun(t, nil, "quarantine", "list", "--data", dir, "--json")), "\n")
		for i, want := range tc.want {
			if i >= len(q) || !strings.Contains(q[i], want) {
				t.Errorf("%s: entry %d lacks %s:\n%s", tc.format, i+1, want, strings.Join(q, "\n"))
			}
		}
	}
}

// TestImportGzipToTextFormat: a gzip-compressed file given to a format
// that reads text is refused in one line, not quarantined line by line.
func TestImportGzipToTextFormat(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Repeat(`{"specversion":"1.0"}`+"\n", 200)))
	zw.Close()
	for _, format := range []string{"cloudevents", "cdnow"} {
		dir := filepath.Join(t.TempDir(), "data")
		r := runCLI(t, gz.Bytes(), "import", "--data", dir, "--format", format, "-")
		if msg := errText(r); r.code != 1 || !strings.Contains(msg, "gzip-compressed") || strings.Contains(msg, "\n") {
			t.Errorf("%s: exit %d, error %q: want exit 1 and one line saying it is gzip-compressed", format, r.code, msg)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: the data dir was created (%v): nothing should be written", format, err)
		}
	}
}
