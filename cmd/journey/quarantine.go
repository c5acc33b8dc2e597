package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/spf13/cobra"
)

type retrySummary struct {
	Retried      int `json:"retried"`
	Appended     int `json:"appended"`
	Duplicates   int `json:"duplicates"`
	StillInvalid int `json:"still_invalid"`
}

func (a *app) quarantineCommand() *cobra.Command {
	q := groupCommand("quarantine [--data DIR] list|retry", "List or retry the rejected input kept in quarantine")
	var server string
	list := &cobra.Command{
		Use:   "list [--server URL]",
		Short: "Print every quarantined input with its code, field, reason and origin",
		Long: `list prints every quarantine entry, oldest first. With --json one object per
line: {"seq","received_at","code","field","reason","origin","raw"}, raw being
the input exactly as received, as a string (raw_base64 instead when it is not
UTF-8). With --server URL a running journey serve answers (GET /v1/quarantine).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runQuarantineList(cmd.Context(), server) },
	}
	list.Flags().StringVar(&server, "server", "", "ask a running journey serve at this URL instead of opening the data dir")
	q.AddCommand(list)
	q.AddCommand(&cobra.Command{
		Use:   "retry",
		Short: "Decode every entry again and append the ones now valid",
		Long: `retry decodes each entry's raw input again (with the rules and clock of now);
the ones now valid are appended and removed from the quarantine, the others stay.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runQuarantineRetry(cmd.Context()) },
	})
	return q
}

func (a *app) runQuarantineList(ctx context.Context, server string) error {
	n := 0
	each := func(l *eventstore.QuarantineLine) error {
		n++
		if a.jsonOut {
			return a.printJSON(l)
		}
		a.printf("%-6d %s  %-16s %-28s %s\n       %s\n", l.Seq, l.ReceivedAt.UTC().Format(time.RFC3339), l.Code, l.Origin, l.Reason, clip(l.RawText(), 160))
		return nil
	}
	var err error
	if server != "" {
		err = a.serverQuarantine(ctx, server, each)
	} else {
		err = a.localQuarantine(ctx, each)
	}
	if err != nil {
		return err
	}
	if !a.jsonOut && n == 0 {
		a.printf("quarantine is empty\n")
	}
	return nil
}

// localQuarantine calls fn with each entry of the data dir's quarantine.
func (a *app) localQuarantine(ctx context.Context, fn func(l *eventstore.QuarantineLine) error) error {
	store, err := a.openLog(false, a.readStoreOptions())
	if err != nil {
		return err
	}
	defer store.Close()
	return store.QuarantineScan(ctx, func(e *eventstore.QuarantineEntry) error {
		l := e.Line()
		return fn(&l)
	})
}

// serverQuarantine calls fn with each entry of a running server's quarantine.
func (a *app) serverQuarantine(ctx context.Context, server string, fn func(l *eventstore.QuarantineLine) error) error {
	return a.serverLines(ctx, server, "/v1/quarantine", nil, func(b []byte) error {
		var l eventstore.QuarantineLine
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("quarantine entry from %s: %w", server, err)
		}
		return fn(&l)
	})
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (a *app) runQuarantineRetry(ctx context.Context) error {
	store, err := a.openLog(false, a.storeOptions())
	if err != nil {
		return err
	}
	defer store.Close()
	var entries []eventstore.QuarantineEntry
	err = store.QuarantineScan(ctx, func(e *eventstore.QuarantineEntry) error {
		c := *e
		c.Raw = append([]byte(nil), e.Raw...)
		entries = append(entries, c)
		return nil
	})
	if err != nil {
		return err
	}
	var sum retrySummary
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		sum.Retried++
		ev, err := journey.Decode(e.Raw, a.now())
		if err != nil {
			sum.StillInvalid++
			continue
		}
		res, err := store.Append(ctx, []eventstore.Request{{Event: ev, ExpectedVersion: eventstore.AnyVersion}})
		if err != nil {
			return fmt.Errorf("append quarantine entry %d: %w", e.Seq, err)
		}
		if res[0].Err != nil {
			sum.StillInvalid++
			continue
		}
		if res[0].Duplicate {
			sum.Duplicates++
		} else {
			sum.Appended++
		}
		if err := store.QuarantineDelete(e.Seq); err != nil {
			return fmt.Errorf("delete quarantine entry %d: %w", e.Seq, err)
		}
	}
	if a.jsonOut {
		return a.printJSON(sum)
	}
	a.printf("retried %d: appended %d, duplicates %d, still invalid %d\n", sum.Retried, sum.Appended, sum.Duplicates, sum.StillInvalid)
	return nil
}
