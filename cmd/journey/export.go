package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/projections"
	"github.com/spf13/cobra"
)

func init() {
	extraCommands = append(extraCommands, (*app).exportCommand)
}

// exportEvent is one line of export --what events --format jsonl.
type exportEvent struct {
	Seq        uint64         `json:"seq"`
	Version    uint64         `json:"version"`
	RecordedAt time.Time      `json:"recorded_at"`
	Hash       string         `json:"hash"`
	Event      jsontext.Value `json:"event"`
}

func (a *app) exportCommand() *cobra.Command {
	var what, format, out, asOf, config string
	cmd := &cobra.Command{
		Use:   "export [--data DIR] --what events|customers|quarantine --format jsonl|csv",
		Short: "Export the log, the customers' answers or the quarantine as JSONL or CSV",
		Long: `export writes to stdout (or --out FILE):
  events      every stored event in sequence order with its record (seq, version,
              recorded_at, hash) and the event exactly as received
  customers   every customer's answer (stage, flags, types, satisfaction, churn,
              RFM segment and r, f, m scores…) now or --as-of T; JSONL has the
              full state. Money is as the events carry it: CSV revenue
              "1370.56 EUR" (several currencies: "1370.56 EUR, 12.00 USD"),
              JSON {"EUR":"1370.56"}
  quarantine  every quarantined input with its code, field, reason and origin`,
		Example: `  journey export --what events --format jsonl > log.jsonl
  journey export --what customers --format csv --as-of 1997-09-30 > customers.csv`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "jsonl" && format != "csv" {
				return usageErrorf("--format %q: want jsonl or csv", format)
			}
			at, err := a.optionalAsOf(asOf)
			if err != nil {
				return err
			}
			var w io.Writer = a.stdout
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriterSize(w, 256<<10)
			switch what {
			case "events":
				err = a.exportEvents(cmd.Context(), bw, format)
			case "customers":
				err = a.exportCustomers(cmd.Context(), bw, format, at, config)
			case "quarantine":
				err = a.exportQuarantine(cmd.Context(), bw, format)
			default:
				return usageErrorf("--what %q: want events, customers or quarantine", what)
			}
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&what, "what", "events", "events, customers or quarantine")
	f.StringVar(&format, "format", "jsonl", "jsonl or csv")
	f.StringVar(&out, "out", "", "write to this file instead of stdout")
	f.StringVar(&asOf, "as-of", "", "customers: answers as of T (RFC 3339 or YYYY-MM-DD)")
	configFlag(cmd, &config)
	return cmd
}

func (a *app) exportEvents(ctx context.Context, w io.Writer, format string) error {
	store, err := cli.OpenLog(a.dataDir(), false, a.readStoreOptions())
	if err != nil {
		return err
	}
	defer store.Close()
	cw := csv.NewWriter(w)
	if format == "csv" {
		_ = cw.Write([]string{"seq", "version", "recorded_at", "time", "id", "customer", "type", "hash", "event"})
	}
	err = store.Scan(ctx, 1, 0, func(r *eventstore.Record) error {
		if format == "csv" {
			return cw.Write([]string{strconv.FormatUint(r.Seq, 10), strconv.FormatUint(r.Version, 10),
				r.RecordedAt.UTC().Format(time.RFC3339Nano), r.EventTime.UTC().Format(time.RFC3339Nano), r.ID, r.Customer,
				string(r.Type), hex.EncodeToString(r.Hash[:]), string(r.Raw)})
		}
		return cli.WriteJSON(w, exportEvent{Seq: r.Seq, Version: r.Version, RecordedAt: r.RecordedAt.UTC(),
			Hash: hex.EncodeToString(r.Hash[:]), Event: jsontext.Value(r.Raw)})
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}

func (a *app) exportCustomers(ctx context.Context, w io.Writer, format string, asOf time.Time, config string) error {
	v, closeAll, err := a.openViews(ctx, config, projections.Options{}, false)
	if err != nil {
		return err
	}
	defer closeAll()
	cw := csv.NewWriter(w)
	if format == "csv" {
		_ = cw.Write([]string{"customer", "as_of", "stage", "highest_stage", "flags", "types", "satisfaction", "churn",
			"p_alive", "recency_days", "rfm_segment", "r", "f", "m", "first_seen", "last_seen", "visits", "purchases", "revenue", "returns",
			"complaints", "complaints_resolved", "feedbacks", "referrals_made", "segments"})
	}
	err = v.Customers(ctx, asOf, true, func(c *projections.Customer) error {
		if format == "jsonl" {
			return cli.WriteJSON(w, c)
		}
		s := c.State
		var rfm, r, f, m string
		if c.RFM != nil {
			rfm, r, f, m = c.RFM.Segment, strconv.Itoa(c.RFM.R), strconv.Itoa(c.RFM.F), strconv.Itoa(c.RFM.M)
		}
		return cw.Write([]string{s.Customer, c.AsOf.UTC().Format(time.RFC3339), c.Stage, c.HighestStage,
			strings.Join(c.Flags, " "), strings.Join(c.Types, " "), strconv.FormatFloat(c.Satisfaction, 'f', 2, 64), c.Churn,
			optFloat(c.PAlive, 4), optFloat(c.RecencyDays, 1), rfm, r, f, m, timeOrEmpty(s.FirstSeen), timeOrEmpty(s.LastSeen),
			strconv.Itoa(s.Visits), strconv.Itoa(s.Purchases), s.Revenue.String(), strconv.Itoa(s.Returns),
			strconv.Itoa(s.Complaints), strconv.Itoa(s.ComplaintsResolved), strconv.Itoa(s.Feedbacks),
			strconv.Itoa(s.ReferralsMade), strings.Join(c.Segments, " ")})
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
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

func (a *app) exportQuarantine(ctx context.Context, w io.Writer, format string) error {
	store, err := cli.OpenLog(a.dataDir(), false, a.readStoreOptions())
	if err != nil {
		return err
	}
	defer store.Close()
	cw := csv.NewWriter(w)
	if format == "csv" {
		_ = cw.Write([]string{"seq", "received_at", "code", "field", "reason", "origin", "raw", "raw_base64"})
	}
	err = store.QuarantineScan(ctx, func(e *eventstore.QuarantineEntry) error {
		l := newQuarantineLine(e)
		if format == "csv" {
			raw := ""
			if l.Raw != nil {
				raw = *l.Raw
			}
			return cw.Write([]string{strconv.FormatUint(l.Seq, 10), l.ReceivedAt.Format(time.RFC3339Nano), l.Code,
				l.Field, l.Reason, l.Origin, raw, l.RawBase64})
		}
		return cli.WriteJSON(w, l)
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}
