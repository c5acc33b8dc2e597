package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/accesslog"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func (a *app) exportCommand() *cobra.Command {
	var what, format, out, asOf, config, server string
	var access accessFlags
	cmd := &cobra.Command{
		Use:   "export [--data DIR | --server URL] --what events|customers|quarantine|access --format jsonl|csv|parquet",
		Short: "Export the log, the customers' answers, the quarantine or the access log as JSONL or CSV",
		Long: `export writes to stdout (or --out FILE):
  events      every stored event in sequence order with its record (seq, version,
              recorded_at, hash) and the event exactly as received
  customers   every customer's answer (stage, flags, types, satisfaction, churn,
              RFM segment and r, f, m scores…) now or --as-of T; JSONL has the
              full state. Money is as the events carry it: CSV revenue
              "1370.56 EUR" (several currencies: "1370.56 EUR, 12.00 USD"),
              JSON {"EUR":"1370.56"}
  quarantine  every quarantined input with its code, field, reason and origin
  access      the access log: every read of one customer's data by a named token
              (time, token name, role, customer, route) in time order; --customer ID,
              --since T, --until T (RFC 3339 or YYYY-MM-DD; until exclusive, a date
              up to its end). Over --server it needs an auditor token

With --server URL a running journey serve streams them (GET /v1/export/events,
/v1/export/customers, /v1/quarantine, /v1/export/access): the same lines, while
it runs. A summary
with the count, duration and rate goes to stderr (JSON with --json).`,
		Example: `  journey export --what events --format jsonl > log.jsonl
  journey export --what customers --format csv --as-of 1997-09-30 > customers.csv
  journey export --what events --server http://127.0.0.1:8080 > log.jsonl
  journey export --what access --customer cust-42 --since 2026-01-01 --server http://127.0.0.1:8080
  journey export --customer cust-42 > cust-42.json    (subject access: everything held about them)`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "jsonl" && format != "csv" && format != "parquet" {
				return usageErrorf("--format %q: want jsonl, csv or parquet", format)
			}
			if a.rawCSV && format != "csv" {
				return usageErrorf("--raw-csv applies to --format csv")
			}
			at, err := a.optionalAsOf(asOf)
			if err != nil {
				return err
			}
			// Everything held about one person (subject access): privacy.go.
			subject := !cmd.Flags().Changed("what") && cmd.Flags().Changed("customer")
			// Every flag is checked before --out is touched.
			if err := checkExportFlags(cmd, what, format, at, subject, access); err != nil {
				return err
			}
			start := a.now()
			var n uint64
			err = writeOut(a.stdout, "--out", out, func(w io.Writer) error {
				bw := bufio.NewWriterSize(w, 256<<10)
				if subject {
					return a.exportSubject(cmd.Context(), bw, access.customer, server)
				}
				var err error
				switch {
				case format == "parquet": // export_parquet.go
					n, err = a.exportParquet(cmd.Context(), bw, what, at, config, server)
				case what == "events":
					n, err = a.exportEvents(cmd.Context(), bw, format, server)
				case what == "customers":
					n, err = a.exportCustomers(cmd.Context(), bw, format, at, config, server)
				case what == "quarantine":
					n, err = a.exportQuarantine(cmd.Context(), bw, format, server)
				case what == "access":
					n, err = a.exportAccess(cmd.Context(), bw, format, server, access)
				}
				if ferr := bw.Flush(); err == nil {
					err = ferr
				}
				return err
			})
			if err != nil || subject {
				return err
			}
			return a.exportSummary(what, n, a.timed(start, n))
		},
	}
	f := cmd.Flags()
	f.StringVar(&what, "what", "events", "events, customers, quarantine or access")
	f.StringVar(&format, "format", "jsonl", "jsonl, csv or parquet (events, customers, actions; see README)")
	f.BoolVar(&a.rawCSV, "raw-csv", false, "csv: write every cell as stored, also one starting with = + - @ that a spreadsheet would evaluate (default: a leading ')")
	f.StringVar(&out, "out", "", "write to this file instead of stdout")
	f.StringVar(&asOf, "as-of", "", "customers and actions: answers as of T (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&server, "server", "", "stream from a running journey serve at this URL instead of opening the data dir")
	access.add(f)
	configFlag(cmd, &config)
	return cmd
}

// asOfIgnored says, for each export that has no as-of, why.
var asOfIgnored = map[string]string{
	"events":     "the log's export is always the whole log",
	"quarantine": "the quarantine's export is what it holds now",
	"access":     "the access log's export takes --since and --until",
}

// checkExportFlags refuses (a usage error) a combination of export's flags
// that does not go together, before anything is opened or written.
func checkExportFlags(cmd *cobra.Command, what, format string, at time.Time, subject bool, access accessFlags) error {
	asOfSet := cmd.Flags().Changed("as-of")
	if subject {
		if asOfSet {
			return usageErrorf("--as-of applies to --what customers and actions (subject access is everything held now)")
		}
		return nil
	}
	if format == "parquet" {
		if what != "events" && what != "customers" && what != "actions" {
			return usageErrorf("--what %q: --format parquet exports events, customers or actions", what)
		}
	} else if what != "events" && what != "customers" && what != "quarantine" && what != "access" {
		if what == "actions" {
			return usageErrorf("--what actions: --format %s exports events, customers, quarantine or access; actions go with --format parquet", format)
		}
		return usageErrorf("--what %q: want events, customers, quarantine or access", what)
	}
	if what != "access" && access.set(cmd) {
		return usageErrorf("--customer, --since and --until go with --what access (or --customer alone: everything held about that customer)")
	}
	if asOfSet && what != "customers" && what != "actions" {
		return usageErrorf("--as-of applies to --what customers and actions (%s)", asOfIgnored[what])
	}
	if what == "access" {
		if _, err := handlers.AccessFilter(access.customer, access.since, access.until, "--"); err != nil {
			return &usageError{err}
		}
	}
	if format == "parquet" && !at.IsZero() && !parquetInRange(at) {
		// The as_of column of every row.
		return usageErrorf("--as-of %s (the as_of column) %s", at.UTC().Format(time.RFC3339Nano), parquetTimeRule)
	}
	return nil
}

// writeOut runs fill on stdout, or with path (the value of flag, which
// errors name) on a new file beside path
// that replaces path only once fill succeeded and the file is synced: a
// failed export leaves an existing path as it was. The new file has the
// mode of the one it replaces, else 0644 (less the umask). A path that is
// not a regular file (/dev/stdout, a named pipe) is written in place.
func writeOut(stdout io.Writer, flag, path string, fill func(w io.Writer) error) error {
	if path == "" {
		return fill(stdout)
	}
	target := path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		target = p // a link is kept; its file is replaced
	}
	perm, keepMode := os.FileMode(0o644), false
	switch fi, err := os.Stat(target); {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s %s is a directory", flag, path)
	case err == nil && !fi.Mode().IsRegular():
		f, err := os.OpenFile(target, os.O_WRONLY, 0)
		if err != nil {
			return outError(flag, path, err)
		}
		err = fill(f)
		if cerr := f.Close(); err == nil && cerr != nil {
			err = outError(flag, path, cerr)
		}
		return err
	case err == nil:
		perm, keepMode = fi.Mode().Perm(), true
	}
	dir := filepath.Dir(target)
	f, tmp, err := createBeside(dir, filepath.Base(target), perm)
	if err != nil {
		return fmt.Errorf("%s %s: cannot create a file in %s: %w", flag, path, dir, pathErr(err))
	}
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if keepMode {
		if err := f.Chmod(perm); err != nil {
			return outError(flag, path, err)
		}
	}
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return outError(flag, path, err)
	}
	if err := f.Close(); err != nil {
		return outError(flag, path, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return outError(flag, path, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil { // the rename itself, on disk
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// createBeside creates a new file, mode perm less the umask, in dir with a
// name that starts with "."+base and is no other file's.
func createBeside(dir, base string, perm os.FileMode) (*os.File, string, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("no free temporary name")
}

// outError is err of writing --out path, without the temporary file's name.
func outError(flag, path string, err error) error {
	return fmt.Errorf("%s %s: %w", flag, path, pathErr(err))
}

func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// exportSummary ends an export on stderr (stdout holds the data):
// "exported 1207 events in 15ms (80467 events/s)", or JSON with --json.
func (a *app) exportSummary(what string, n uint64, t timing) error {
	noun := map[string]string{"events": "events", "customers": "customers", "quarantine": "quarantine entries", "access": "access entries", "actions": "actions"}[what]
	if a.jsonOut {
		return cli.WriteJSON(a.stderr, map[string]any{"what": what, "exported": n, "duration_s": t.DurationS, "events_per_s": t.EventsPerS})
	}
	d := time.Duration(t.DurationS * float64(time.Second)).Round(time.Millisecond)
	_, err := fmt.Fprintf(a.stderr, "exported %d %s in %s (%.0f %s/s)\n", n, noun, d, t.EventsPerS, strings.Fields(noun)[len(strings.Fields(noun))-1])
	return err
}

var eventsCSVHeader = []string{"seq", "version", "recorded_at", "time", "id", "customer", "type", "hash", "event"}

// exportEvents writes the log (of the data dir, or of server) and returns
// how many events.
func (a *app) exportEvents(ctx context.Context, w io.Writer, format, server string) (uint64, error) {
	var n uint64
	err := a.writeExport(w, format, eventsCSVHeader, func(cw *csvRows) error {
		if server != "" && format == "jsonl" {
			// The server's lines are the JSON lines: passed through as they are.
			return a.serverLines(ctx, server, "/v1/export/events", nil, func(line []byte) error {
				n++
				_, err := w.Write(line)
				return err
			})
		}
		return a.eachExportEvent(ctx, server, func(r *eventstore.Record, hash string) error {
			n++
			if format == "csv" {
				return cw.Write(eventCSVRow(r, hash))
			}
			return cli.WriteJSON(w, r.Stored())
		})
	})
	return n, err
}

// eachExportEvent calls each with every event of the log, in order, and its
// hash (hex): read from the data dir, or from server's /v1/export/events.
func (a *app) eachExportEvent(ctx context.Context, server string, each func(r *eventstore.Record, hash string) error) error {
	if server != "" {
		return a.serverLines(ctx, server, "/v1/export/events", nil, func(line []byte) error {
			var l eventstore.StoredEvent
			if err := json.Unmarshal(line, &l); err != nil {
				return fmt.Errorf("event from %s: %w", server, err)
			}
			rec, err := recordOf(&l)
			if err != nil {
				return fmt.Errorf("event %d from %s: %w", l.Seq, server, err)
			}
			return each(&rec, l.Hash)
		})
	}
	store, err := a.openLog(false, a.readStoreOptions())
	if err != nil {
		return err
	}
	defer store.Close()
	return store.Scan(ctx, 1, 0, func(r *eventstore.Record) error {
		return each(r, hex.EncodeToString(r.Hash[:]))
	})
}

func eventCSVRow(r *eventstore.Record, hash string) []string {
	raw := string(r.Raw)
	if r.Erased && len(r.Raw) == 0 {
		raw = string(r.Stored().Event)
	}
	return []string{strconv.FormatUint(r.Seq, 10), strconv.FormatUint(r.Version, 10),
		r.RecordedAt.UTC().Format(time.RFC3339Nano), r.EventTime.UTC().Format(time.RFC3339Nano), r.ID, r.Customer,
		string(r.Type), hash, raw}
}

var customersCSVHeader = []string{"customer", "as_of", "stage", "highest_stage", "flags", "types", "satisfaction", "churn",
	"p_alive", "recency_days", "rfm_segment", "r", "f", "m", "first_seen", "last_seen", "visits", "purchases", "revenue", "returns",
	"complaints", "complaints_resolved", "feedbacks", "referrals_made", "segments", "clv", "expected_order_value", "churn_model", "cluster"}

// exportCustomers writes every customer's answer (from the data dir, or
// from server) and returns how many customers.
func (a *app) exportCustomers(ctx context.Context, w io.Writer, format string, asOf time.Time, config, server string) (uint64, error) {
	var n uint64
	err := a.writeExport(w, format, customersCSVHeader, func(cw *csvRows) error {
		if server != "" && format == "jsonl" {
			// The server's lines are the JSON lines: passed through as they are.
			return a.serverLines(ctx, server, "/v1/export/customers", withAsOf(nil, asOf), func(line []byte) error {
				n++
				_, err := w.Write(line)
				return err
			})
		}
		return a.eachExportCustomer(ctx, asOf, config, server, func(c *customer.Answer) error {
			n++
			if format == "jsonl" {
				return cli.WriteJSON(w, c)
			}
			return cw.Write(customerCSVRow(c))
		})
	})
	return n, err
}

// eachExportCustomer calls each with every customer's answer at asOf (zero:
// now): from the views of the data dir, or from server's
// /v1/export/customers; either way with its cluster under a stored
// cluster model.
func (a *app) eachExportCustomer(ctx context.Context, asOf time.Time, config, server string, each func(c *customer.Answer) error) error {
	if server != "" {
		return a.serverLines(ctx, server, "/v1/export/customers", withAsOf(nil, asOf), func(line []byte) error {
			var c customer.Answer
			if err := json.Unmarshal(line, &c); err != nil {
				return fmt.Errorf("customer from %s: %w", server, err)
			}
			return each(&c)
		})
	}
	v, closeAll, err := a.openViews(ctx, config, projections.Options{}, false)
	if err != nil {
		return err
	}
	defer closeAll()
	return v.Customers(ctx, asOf, true, each)
}

func customerCSVRow(c *customer.Answer) []string {
	s := c.State
	var rfm, r, f, m string
	if c.RFM != nil {
		rfm, r, f, m = c.RFM.Segment, strconv.Itoa(c.RFM.R), strconv.Itoa(c.RFM.F), strconv.Itoa(c.RFM.M)
	}
	return []string{s.Customer, c.AsOf.UTC().Format(time.RFC3339), c.Stage, c.HighestStage,
		strings.Join(c.Flags, " "), strings.Join(c.Types, " "), strconv.FormatFloat(c.Satisfaction, 'f', 2, 64), c.Churn,
		optFloat(c.PAlive, 4), optFloat(c.RecencyDays, 1), rfm, r, f, m, timeOrEmpty(s.FirstSeen), timeOrEmpty(s.LastSeen),
		strconv.Itoa(s.Visits), strconv.Itoa(s.Purchases), s.Revenue.String(), strconv.Itoa(s.Returns),
		strconv.Itoa(s.Complaints), strconv.Itoa(s.ComplaintsResolved), strconv.Itoa(s.Feedbacks),
		strconv.Itoa(s.ReferralsMade), strings.Join(c.Segments, " "), clvCell(c.CLV, false), clvCell(c.CLV, true), c.ChurnModel, c.Cluster}
}

// clvCell is the clv (or expected_order_value) column: "123.45 USD", empty
// without a CLV model or a purchase in its currency.
func clvCell(v *customer.CLVAnswer, order bool) string {
	if v == nil {
		return ""
	}
	if order {
		return v.ExpectedOrderValue + " " + v.Currency
	}
	return v.CLV + " " + v.Currency
}

func optFloat(p *float64, prec int) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', prec, 64)
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// exportQuarantine writes the quarantine (of the data dir, or of server)
// and returns how many entries.
func (a *app) exportQuarantine(ctx context.Context, w io.Writer, format, server string) (uint64, error) {
	var n uint64
	err := a.writeExport(w, format, quarantineCSVHeader, func(cw *csvRows) error {
		each := func(l *eventstore.QuarantineLine) error {
			n++
			if format == "csv" {
				raw := ""
				if l.Raw != nil {
					raw = *l.Raw
				}
				return cw.Write([]string{strconv.FormatUint(l.Seq, 10), l.ReceivedAt.Format(time.RFC3339Nano), l.Code,
					l.Field, l.Reason, l.Origin, raw, l.RawBase64})
			}
			return cli.WriteJSON(w, l)
		}
		if server != "" {
			return a.serverQuarantine(ctx, server, each)
		}
		return a.localQuarantine(ctx, each)
	})
	return n, err
}

var quarantineCSVHeader = []string{"seq", "received_at", "code", "field", "reason", "origin", "raw", "raw_base64"}

// writeExport is the frame of every export: with format csv the header,
// then what fill writes (CSV rows to cw, or JSONL straight to w), then the
// flush; the error is fill's, else the CSV writer's. The CSV cells are
// spreadsheetSafe unless --raw-csv.
func (a *app) writeExport(w io.Writer, format string, header []string, fill func(cw *csvRows) error) error {
	cw := &csvRows{Writer: csv.NewWriter(w), raw: a.rawCSV}
	for i, h := range header {
		if strings.HasSuffix(h, "_base64") {
			// Base64 cannot spell a formula, and its readers need it exact.
			cw.exact = append(cw.exact, i)
		}
	}
	if format == "csv" {
		_ = cw.Writer.Write(header)
	}
	err := fill(cw)
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}

// csvRows writes an export's CSV rows, each cell spreadsheetSafe unless
// raw.
type csvRows struct {
	*csv.Writer
	raw   bool
	exact []int // columns written as they are
	buf   []string
}

func (c *csvRows) Write(row []string) error {
	if c.raw {
		return c.Writer.Write(row)
	}
	c.buf = c.buf[:0]
	for i, v := range row {
		if !slices.Contains(c.exact, i) {
			v = spreadsheetSafe(v)
		}
		c.buf = append(c.buf, v)
	}
	return c.Writer.Write(c.buf)
}

// spreadsheetSafe is a CSV cell as a spreadsheet shows it and never
// evaluates (CSV injection): a text that starts with = + - @, a tab or a
// carriage return gets a leading ' (a value from a touchpoint —
// "=HYPERLINK(…)" in a comment, "@SUM(…)" as an id — is shown, not run);
// a number ("-12.50", "+3") stays as it is.
func spreadsheetSafe(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if _, err := strconv.ParseFloat(cell, 64); err == nil {
			return cell
		}
		return "'" + cell
	}
	return cell
}

// accessFlags are export --what access's filter flags.
type accessFlags struct{ customer, since, until string }

func (af *accessFlags) add(f *pflag.FlagSet) {
	f.StringVar(&af.customer, "customer", "", "access: only the reads of this customer")
	f.StringVar(&af.since, "since", "", "access: reads at or after T (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&af.until, "until", "", "access: reads before T (RFC 3339, or YYYY-MM-DD: up to the end of that day)")
}

// set reports whether any of the flags was given.
func (af *accessFlags) set(cmd *cobra.Command) bool {
	f := cmd.Flags()
	return f.Changed("customer") || f.Changed("since") || f.Changed("until")
}

var accessCSVHeader = []string{"time", "token", "role", "customer", "route"}

// exportAccess writes the access log (of the data dir, opened read-only,
// or of server) and returns how many entries.
func (a *app) exportAccess(ctx context.Context, w io.Writer, format, server string, af accessFlags) (uint64, error) {
	filter, err := handlers.AccessFilter(af.customer, af.since, af.until, "--")
	if err != nil {
		return 0, &usageError{err}
	}
	var n uint64
	err = a.writeExport(w, format, accessCSVHeader, func(cw *csvRows) error {
		each := func(e accesslog.Entry) error {
			n++
			if format == "csv" {
				return cw.Write([]string{e.Time.UTC().Format(time.RFC3339Nano), e.Token, e.Role, e.Customer, e.Route})
			}
			return cli.WriteJSON(w, e)
		}
		if server != "" {
			q := url.Values{}
			for k, v := range map[string]string{"customer": af.customer, "since": af.since, "until": af.until} {
				if v != "" {
					q.Set(k, v)
				}
			}
			return a.serverLines(ctx, server, "/v1/export/access", q, func(line []byte) error {
				var e accesslog.Entry
				if err := json.Unmarshal(line, &e); err != nil {
					return fmt.Errorf("access entry from %s: %w", server, err)
				}
				return each(e)
			})
		}
		l, err := accesslog.Open(accesslog.Dir(a.dataDir()), accesslog.Options{ReadOnly: true})
		if err != nil {
			if errors.Is(err, accesslog.ErrNoLog) {
				return fmt.Errorf("no access log in %s: no read of a customer through the engine's API has been recorded there yet", a.dataDir())
			}
			if cli.IsLockError(err) {
				return cli.NewInUseError(a.dataDir(), err)
			}
			return err
		}
		defer l.Close()
		return l.Export(ctx, filter, each)
	})
	return n, err
}
