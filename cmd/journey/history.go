package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/spf13/cobra"
)

func (a *app) historyCommand() *cobra.Command {
	var (
		asOf   string
		limit  int
		server string
	)
	cmd := &cobra.Command{
		Use:   "history [--data DIR] CUSTOMER [--as-of T] [--limit N]",
		Short: "The customer's events in event-time order, exactly as stored",
		Long: `history prints the customer's events in event-time order (time, then sequence),
each as stored byte for byte with the engine's record (sequence, per-customer
version, record time). With --as-of only the events whose time is at or before
T (RFC 3339, or a date meaning the end of that day, UTC). With --json, one
object per line: {"seq":…,"version":…,"recorded_at":…,"hash":…,"event":{…}}
(a forgotten customer's event: "event":{"erased":true}).`,
		Example: `  journey history cdnow-00004 --as-of 1997-09-30 --json
  journey history ` + simulatedCustomer + ` --server http://127.0.0.1:8080` + simulatedNote,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := a.optionalAsOf(asOf)
			if err != nil {
				return err
			}
			if limit < 0 {
				return usageErrorf("--limit must be ≥ 0")
			}
			if server != "" {
				recs, err := a.serverHistory(cmd.Context(), server, args[0])
				if err != nil {
					return err
				}
				return a.printHistory(args[0], recs, at, limit)
			}
			return a.runHistory(cmd.Context(), args[0], at, limit)
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "only events with time ≤ T (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most N events, oldest first (0: all)")
	cmd.Flags().StringVar(&server, "server", "", "ask a running journey serve at this URL instead of opening the data dir")
	return cmd
}

func (a *app) runHistory(ctx context.Context, customer string, asOf time.Time, limit int) error {
	store, err := a.openLog(false, a.readStoreOptions())
	if err != nil {
		return err
	}
	defer store.Close()
	recs, err := store.CustomerEvents(ctx, customer, 0, 0)
	if err != nil {
		return err
	}
	return a.printHistory(customer, recs, asOf, limit)
}

// printHistory prints a customer's records in event-time order.
func (a *app) printHistory(customer string, recs []eventstore.Record, asOf time.Time, limit int) error {
	if len(recs) == 0 {
		return fmt.Errorf("customer %s has no events (at that instant)", journey.Quote(customer))
	}
	sortEventTime(recs)
	n := 0
	for i := range recs {
		r := &recs[i]
		if !asOf.IsZero() && r.EventTime.After(asOf) {
			continue
		}
		if limit > 0 && n == limit {
			break
		}
		n++
		if a.jsonOut {
			if err := a.printJSON(r.Stored()); err != nil {
				return err
			}
			continue
		}
		if r.Erased {
			// A forgotten customer: their records stay in the chain, unreadable.
			if r.Type == eventstore.KindCustomerErased {
				a.printf("%s  seq %-8d v%-4d %-19s %s\n", r.EventTime.UTC().Format(time.RFC3339), r.Seq, r.Version, r.Type, r.Raw)
			} else {
				a.printf("%s  seq %-8d v%-4d (erased: its key was destroyed)\n", r.EventTime.UTC().Format(time.RFC3339), r.Seq, r.Version)
			}
			continue
		}
		a.printf("%s  seq %-8d v%-4d %-19s %-24s %s\n", r.EventTime.UTC().Format(time.RFC3339), r.Seq, r.Version, r.Type, sourceOf(r.Raw), dataOf(r.Raw))
	}
	return nil
}

// serverHistory pages through GET /v1/customers/{id}/events of a server.
func (a *app) serverHistory(ctx context.Context, server, customer string) ([]eventstore.Record, error) {
	var recs []eventstore.Record
	after := uint64(0)
	for {
		var page struct {
			Events    []eventstore.StoredEvent `json:"events"`
			NextAfter uint64                   `json:"next_after"`
		}
		q := url.Values{"after": {strconv.FormatUint(after, 10)}, "limit": {"1000"}}
		if err := a.serverJSON(ctx, server, "/v1/customers/"+url.PathEscape(customer)+"/events", q, &page); err != nil {
			return nil, err
		}
		for _, e := range page.Events {
			rec, err := recordOf(&e)
			if err != nil {
				return nil, fmt.Errorf("event %d from %s: %w", e.Seq, server, err)
			}
			recs = append(recs, rec)
		}
		if page.NextAfter == 0 || page.NextAfter <= after || len(page.Events) == 0 {
			return recs, nil
		}
		after = page.NextAfter
	}
}

// recordOf is the record of a stored event a server sent: its envelope
// read for the time, id, subject and type. A forgotten customer's event
// (its stand-in, eventstore.ErasedEvent) is an erased record without
// bytes, with the id, type and time the stand-in keeps; an erasure record
// (its note) is erased at the note's time, as the log reads them.
func recordOf(e *eventstore.StoredEvent) (eventstore.Record, error) {
	rec := eventstore.Record{Seq: e.Seq, Version: e.Version, RecordedAt: e.RecordedAt}
	if _, err := hex.Decode(rec.Hash[:], []byte(e.Hash)); err != nil || len(e.Hash) != 2*len(rec.Hash) {
		return rec, fmt.Errorf("hash %q is not %d hex digits", e.Hash, 2*len(rec.Hash))
	}
	var env struct {
		Time     time.Time    `json:"time"`
		Type     journey.Kind `json:"type"`
		ID       string       `json:"id"`
		Subject  string       `json:"subject"`
		Erased   bool         `json:"erased"`
		ErasedAt time.Time    `json:"erased_at"`
	}
	if err := json.Unmarshal(e.Event, &env); err != nil {
		return rec, err
	}
	rec.EventTime, rec.ID, rec.Type = env.Time, env.ID, env.Type
	switch {
	case env.Erased:
		rec.Erased = true
	case env.Type == eventstore.KindCustomerErased:
		rec.Erased, rec.EventTime, rec.Raw = true, env.ErasedAt, e.Event
	default:
		rec.Customer, rec.Raw = env.Subject, e.Event
	}
	return rec, nil
}

// sortEventTime orders records by event time, then sequence.
func sortEventTime(recs []eventstore.Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].EventTime.Equal(recs[j].EventTime) {
			return recs[i].EventTime.Before(recs[j].EventTime)
		}
		return recs[i].Seq < recs[j].Seq
	})
}

// sourceOf and dataOf pick attributes of a stored event for the human view.
func sourceOf(raw []byte) string {
	var e struct {
		Source string `json:"source"`
	}
	_ = json.Unmarshal(raw, &e)
	return e.Source
}

func dataOf(raw []byte) string {
	var e struct {
		Data jsontext.Value `json:"data"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || len(e.Data) == 0 {
		return ""
	}
	_ = e.Data.Compact()
	return string(e.Data)
}
