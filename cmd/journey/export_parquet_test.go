package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/cli"
)

// parquetFile opens a Parquet file with the low-level reader: the file's
// own schema and untyped rows (parquet.Row), not the writer's Go structs.
type parquetFile struct {
	f    *parquet.File
	cols map[string]int // leaf column path (dotted) → column index
}

func openParquet(t *testing.T, path string) *parquetFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s is not a Parquet file: %v", path, err)
	}
	pf := &parquetFile{f: f, cols: map[string]int{}}
	for i, p := range f.Schema().Columns() {
		pf.cols[strings.Join(p, ".")] = i
	}
	return pf
}

// rows returns every row, each as leaf column index → its values.
func (pf *parquetFile) rows(t *testing.T) []map[int][]parquet.Value {
	t.Helper()
	var out []map[int][]parquet.Value
	for _, rg := range pf.f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				m := map[int][]parquet.Value{}
				for _, v := range row {
					m[v.Column()] = append(m[v.Column()], v.Clone())
				}
				out = append(out, m)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rr.Close()
	}
	return out
}

// one is the single value of column name in row (null: ok false).
func (pf *parquetFile) one(t *testing.T, row map[int][]parquet.Value, name string) (parquet.Value, bool) {
	t.Helper()
	i, ok := pf.cols[name]
	if !ok {
		t.Fatalf("no column %s in %v", name, pf.cols)
	}
	vs := row[i]
	if len(vs) != 1 {
		t.Fatalf("column %s: %d values", name, len(vs))
	}
	return vs[0], !vs[0].IsNull()
}

// decimal4 formats a DECIMAL(18,4) as the minor units of a currency with
// exp decimals ("1370.5600" → "1370.56" for 2).
func decimal4(v int64, exp int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := fmt.Sprintf("%d.%04d", v/10000, v%10000)
	s = s[:len(s)-(4-exp)]
	s = strings.TrimSuffix(s, ".")
	if neg {
		s = "-" + s
	}
	return s
}

// TestExportParquet exports the events and the customers of a simulated
// log as Parquet and reads both back with the low-level reader, row for
// row against the JSONL export: every field, exact money, UTC nanosecond
// timestamps; the schema declares DECIMAL(18,4) and UTC-adjusted
// TIMESTAMP(NANOS).
func TestExportParquet(t *testing.T) {
	path, _ := simulated(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, "import", "--data", dir, path)
	mustRun(t, nil, "clusters", "--data", dir, "--k", "2")
	out := filepath.Join(t.TempDir(), "events.parquet")
	mustRun(t, nil, "export", "--data", dir, "--what", "events", "--format", "parquet", "--out", out)
	pf := openParquet(t, out)

	// The schema: logical types as documented.
	leaf := func(name string) parquet.Node {
		n, ok := pf.f.Schema().Lookup(name)
		if !ok {
			t.Fatalf("no column %s", name)
		}
		return n.Node
	}
	if lt := leaf("amount").Type().LogicalType(); lt == nil || lt.String() != "DECIMAL(18,4)" {
		t.Errorf("amount logical type %v, want DECIMAL(18,4)", lt)
	}
	for _, c := range []string{"time", "recorded_at"} {
		if lt := leaf(c).Type().LogicalType(); lt == nil || lt.String() != "TIMESTAMP(isAdjustedToUTC=true,unit=NANOS)" {
			t.Errorf("%s logical type %v, want TIMESTAMP(isAdjustedToUTC=true,unit=NANOS)", c, lt)
		}
	}
	if !leaf("amount").Optional() || leaf("seq").Optional() {
		t.Error("amount should be optional, seq required")
	}

	var lines []eventstore.StoredEvent
	sc := bufio.NewScanner(strings.NewReader(mustRun(t, nil, "export", "--data", dir, "--what", "events", "--format", "jsonl")))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l eventstore.StoredEvent
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	rows := pf.rows(t)
	if len(rows) != len(lines) || len(rows) < 100 || pf.f.NumRows() != int64(len(rows)) {
		t.Fatalf("%d Parquet rows (file says %d), %d JSONL lines", len(rows), pf.f.NumRows(), len(lines))
	}
	amounts := 0
	for i, l := range lines {
		row := rows[i]
		var env struct {
			ID, Type, Subject, Source string
			Time                      time.Time
			Data                      struct{ Amount, Currency string }
		}
		if err := json.Unmarshal(l.Event, &env); err != nil {
			t.Fatal(err)
		}
		get := func(name string) parquet.Value { v, _ := pf.one(t, row, name); return v }
		if get("seq").Int64() != int64(l.Seq) || get("version").Int64() != int64(l.Version) ||
			get("id").String() != env.ID || get("customer").String() != env.Subject || get("type").String() != env.Type ||
			get("source").String() != env.Source || get("hash").String() != l.Hash || get("event").String() != string(l.Event) {
			t.Fatalf("row %d differs from line %d: seq %d id %s", i, l.Seq, get("seq").Int64(), get("id").String())
		}
		if got := time.Unix(0, get("time").Int64()).UTC(); !got.Equal(env.Time) {
			t.Fatalf("row %d time %v, want %v", i, got, env.Time)
		}
		if got := time.Unix(0, get("recorded_at").Int64()).UTC(); !got.Equal(l.RecordedAt) {
			t.Fatalf("row %d recorded_at %v, want %v", i, got, l.RecordedAt)
		}
		amt, hasAmt := pf.one(t, row, "amount")
		cur, hasCur := pf.one(t, row, "currency")
		if env.Data.Amount == "" {
			if hasAmt || hasCur {
				t.Fatalf("row %d (%s) has an amount", i, env.Type)
			}
			continue
		}
		amounts++
		exp, _ := journey.CurrencyExponent(env.Data.Currency)
		if !hasAmt || !hasCur || cur.String() != env.Data.Currency || decimal4(amt.Int64(), exp) != env.Data.Amount {
			t.Fatalf("row %d amount %v %v, want %s %s", i, amt, cur, env.Data.Amount, env.Data.Currency)
		}
	}
	if amounts == 0 {
		t.Fatal("no event with an amount")
	}

	// Customers: every row as the JSONL answer says, money exact.
	out = filepath.Join(t.TempDir(), "customers.parquet")
	mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "parquet", "--out", out)
	pf = openParquet(t, out)
	type answer struct {
		State struct {
			Customer  string
			Purchases int
			Revenue   map[string]string
		}
		Stage        string
		Satisfaction float64
		Churn        string
		Flags        []string
		RecencyDays  *float64 `json:"recency_days"`
		RFM          *struct{ Segment string }
	}
	var answers []answer
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "jsonl")), "\n") {
		var a answer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		answers = append(answers, a)
	}
	rows = pf.rows(t)
	if len(rows) != len(answers) {
		t.Fatalf("%d customer rows, want %d", len(rows), len(answers))
	}
	clustered := 0
	for i, a := range answers {
		row := rows[i]
		get := func(name string) parquet.Value { v, _ := pf.one(t, row, name); return v }
		if get("customer").String() != a.State.Customer || get("stage").String() != a.Stage || get("churn").String() != a.Churn ||
			get("satisfaction").Double() != a.Satisfaction || get("purchases").Int64() != int64(a.State.Purchases) {
			t.Fatalf("customer row %d differs from %+v", i, a)
		}
		if rec, ok := pf.one(t, row, "recency_days"); ok != (a.RecencyDays != nil) || ok && rec.Double() != *a.RecencyDays {
			t.Fatalf("customer %s recency %v, want %v", a.State.Customer, rec, a.RecencyDays)
		}
		if seg, ok := pf.one(t, row, "rfm_segment"); ok != (a.RFM != nil) || ok && seg.String() != a.RFM.Segment {
			t.Fatalf("customer %s rfm %v", a.State.Customer, seg)
		}
		if _, ok := pf.one(t, row, "cluster"); ok {
			clustered++
		}
		flags := row[pf.cols["flags.list.element"]]
		got := []string{}
		for _, v := range flags {
			if !v.IsNull() {
				got = append(got, v.String())
			}
		}
		if strings.Join(got, " ") != strings.Join(a.Flags, " ") {
			t.Fatalf("customer %s flags %v, want %v", a.State.Customer, got, a.Flags)
		}
		curs, amts := row[pf.cols["revenue.list.element.currency"]], row[pf.cols["revenue.list.element.amount"]]
		rev := map[string]string{}
		for j := range curs {
			if !curs[j].IsNull() {
				exp, _ := journey.CurrencyExponent(curs[j].String())
				rev[curs[j].String()] = decimal4(amts[j].Int64(), exp)
			}
		}
		if fmt.Sprint(rev) != fmt.Sprint(a.State.Revenue) && !(len(rev) == 0 && len(a.State.Revenue) == 0) {
			t.Fatalf("customer %s revenue %v, want %v", a.State.Customer, rev, a.State.Revenue)
		}
	}
	if clustered == 0 {
		t.Error("no customer row carries its cluster")
	}
	// Through a running engine: the server's answers carry the cluster too
	// (they once came without it: the column was null with --server).
	local := map[string]string{}
	for _, row := range rows {
		c, _ := pf.one(t, row, "customer")
		if v, ok := pf.one(t, row, "cluster"); ok {
			local[c.String()] = v.String()
		}
	}
	// The CSV export has the column too.
	recs, err := csv.NewReader(strings.NewReader(mustRun(t, nil, "export", "--data", dir, "--what", "customers", "--format", "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := recs[0]; h[len(h)-1] != "cluster" || h[len(h)-2] != "churn_model" {
		t.Fatalf("CSV header ends %v", h[len(h)-2:])
	}
	csvClusters := map[string]string{}
	for _, r := range recs[1:] {
		if c := r[len(r)-1]; c != "" {
			csvClusters[r[0]] = c
		}
	}
	if fmt.Sprint(csvClusters) != fmt.Sprint(local) {
		t.Errorf("CSV clusters: %d clustered rows, want %d", len(csvClusters), len(local))
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, httpURL, done, _ := startServe(t, ctx, dir)
	viaServer := filepath.Join(t.TempDir(), "customers-server.parquet")
	mustRun(t, nil, "export", "--server", httpURL, "--what", "customers", "--format", "parquet", "--out", viaServer)
	cancel()
	<-done
	sf := openParquet(t, viaServer)
	remote := map[string]string{}
	for _, row := range sf.rows(t) {
		c, _ := sf.one(t, row, "customer")
		if v, ok := sf.one(t, row, "cluster"); ok {
			remote[c.String()] = v.String()
		}
	}
	if fmt.Sprint(remote) != fmt.Sprint(local) {
		t.Errorf("clusters via --server differ: %d clustered rows, want %d", len(remote), len(local))
	}
	if r := runCLI(t, nil, "export", "--data", dir, "--what", "quarantine", "--format", "parquet", "--out", out); r.code != 2 {
		t.Errorf("quarantine as parquet: exit %d, want 2", r.code)
	}
}

var parquetEvents = flag.Int("parquet-events", 60_000, "events of TestExportParquetMemory (the README's measurement: 1000000)")

// TestExportParquetMemory appends N synthetic purchases and exports them
// as Parquet, sampling the heap in use (runtime.ReadMemStats HeapInuse)
// every 2 ms against the bytes written so far: memory is flat, i.e. the
// peak over the second half of the file is no higher than over the first
// half (which already holds whole row groups) give or take GC noise.
// go test ./cmd/journey -run TestExportParquetMemory -v -parquet-events 1000000
// measures the million.
func TestExportParquetMemory(t *testing.T) {
	n := *parquetEvents
	dir := filepath.Join(t.TempDir(), "data")
	store, err := cli.OpenLog(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	reqs := make([]eventstore.Request, 0, 4000)
	for i := range n {
		raw, err := journey.NewEvent("p-"+strconv.Itoa(i), "bench/parquet", journey.KindPurchase, "cust-"+strconv.Itoa(i%50_000),
			base.Add(time.Duration(i)*time.Second+time.Duration(i%1000)*time.Nanosecond),
			map[string]any{"order_id": "o-" + strconv.Itoa(i), "amount": fmt.Sprintf("%d.%02d", i%500, i%100), "currency": "EUR", "items": 1 + i%3})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := journey.Decode(raw, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
		if len(reqs) == cap(reqs) || i == n-1 {
			if _, err := store.Append(ctx, reqs); err != nil {
				t.Fatal(err)
			}
			reqs = reqs[:0]
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	reqs = nil
	runtime.GC()

	type sample struct{ written, heap uint64 }
	var samples []sample
	var stop atomic.Bool
	var wg sync.WaitGroup
	cw := &countWriter{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for !stop.Load() {
			runtime.ReadMemStats(&ms)
			samples = append(samples, sample{uint64(cw.n.Load()), ms.HeapInuse})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	a := newApp(nil, io.Discard, io.Discard)
	a.getenv = func(string) string { return "" }
	a.dataFlag = dir
	start := time.Now()
	rows, err := a.exportEventsParquet(ctx, cw, "")
	took := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if rows != uint64(n) {
		t.Fatalf("exported %d rows, want %d", rows, n)
	}
	total := uint64(cw.n.Load())
	var first, second, peak uint64
	for _, s := range samples {
		peak = max(peak, s.heap)
		if s.written <= total/2 {
			first = max(first, s.heap)
		} else {
			second = max(second, s.heap)
		}
	}
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	t.Logf("Parquet export of %d events: %.1f MiB written in %s; peak heap in use %.1f MiB (first half of the file %.1f MiB, second half %.1f MiB)",
		n, mib(total), took.Round(time.Millisecond), mib(peak), mib(first), mib(second))
	if total < uint64(3*parquetRowGroupBytes/4) {
		t.Fatalf("only %d bytes written: too few events to span row groups", total)
	}
	if float64(second) > 1.25*float64(first)+8<<20 {
		t.Errorf("peak heap grew from %.1f MiB (first half) to %.1f MiB (second half): not flat", mib(first), mib(second))
	}
}

type countWriter struct{ n atomic.Int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}
