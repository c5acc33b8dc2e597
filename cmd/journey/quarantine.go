package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/spf13/cobra"
)

// quarantineLine is one entry of journey quarantine list --json.
type quarantineLine struct {
	Seq        uint64    `json:"seq"`
	ReceivedAt time.Time `json:"received_at"`
	Code       string    `json:"code"`
	Field      string    `json:"field"`
	Reason     string    `json:"reason"`
	Origin     string    `json:"origin"`
	// Raw is the input when it is valid UTF-8; otherwise RawBase64 holds it
	// (standard base64), so every entry lists and exports whatever its bytes.
	Raw       *string `json:"raw,omitempty"`
	RawBase64 string  `json:"raw_base64,omitempty"`
}

// newQuarantineLine is e as listed and exported. Text fields that echo
// input are made valid UTF-8 (U+FFFD for bad bytes).
func newQuarantineLine(e *eventstore.QuarantineEntry) quarantineLine {
	l := quarantineLine{Seq: e.Seq, ReceivedAt: e.ReceivedAt.UTC(), Code: string(e.Code),
		Field: strings.ToValidUTF8(e.Field, "\uFFFD"), Reason: strings.ToValidUTF8(e.Reason, "\uFFFD"),
		Origin: strings.ToValidUTF8(e.Origin, "\uFFFD")}
	l.Raw, l.RawBase64 = rawFields(e.Raw)
	return l
}

// rawFields is raw as text when it is valid UTF-8, else as base64.
func rawFields(raw []byte) (*string, string) {
	if utf8.Valid(raw) {
		s := string(raw)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(raw)
}

type retrySummary struct {
	Retried      int `json:"retried"`
	Appended     int `json:"appended"`
	Duplicates   int `json:"duplicates"`
	StillInvalid int `json:"still_invalid"`
}

func (a *app) quarantineCommand() *cobra.Command {
	q := &cobra.Command{
		Use:   "quarantine [--data DIR] list|retry",
		Short: "List or retry the rejected input kept in quarantine",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	q.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "Print every quarantined input with its code, field, reason and origin",
		Long: `list prints every quarantine entry, oldest first. With --json one object per
line: {"seq","received_at","code","field","reason","origin","raw"}, raw being
the input exactly as received, as a string.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runQuarantineList(cmd.Context()) },
	})
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

func (a *app) runQuarantineList(ctx context.Context) error {
	store, err := cli.OpenLog(a.dataDir(), false, a.readStoreOptions())
	if err != nil {
		return err
	}
	defer store.Close()
	n := 0
	err = store.QuarantineScan(ctx, func(e *eventstore.QuarantineEntry) error {
		n++
		if a.jsonOut {
			return a.printJSON(newQuarantineLine(e))
		}
		a.printf("%-6d %s  %-16s %-28s %s\n       %s\n", e.Seq, e.ReceivedAt.UTC().Format(time.RFC3339), e.Code, e.Origin, e.Reason, clip(strings.ToValidUTF8(string(e.Raw), "\uFFFD"), 160))
		return nil
	})
	if err != nil {
		return err
	}
	if !a.jsonOut && n == 0 {
		a.printf("quarantine is empty\n")
	}
	return nil
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (a *app) runQuarantineRetry(ctx context.Context) error {
	store, err := cli.OpenLog(a.dataDir(), false, a.storeOptions())
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
