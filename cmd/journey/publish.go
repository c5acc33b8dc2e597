package main

import (
	"context"
	"fmt"
	"time"

	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/spf13/cobra"
)

// publishLine is journey publish --json.
type publishLine struct {
	Published  int                  `json:"published"`
	Duplicates int                  `json:"duplicates"`
	Failed     int                  `json:"failed,omitzero"`
	Errors     []handlers.LineError `json:"errors,omitempty"`
}

func (a *app) publishCommand() *cobra.Command {
	var (
		nf         natsFlags
		prefix     string
		maxPending int
	)
	cmd := &cobra.Command{
		Use:   "publish --nats-url URL FILE.jsonl|-",
		Short: "Publish touchpoints to JetStream and wait for every acknowledgement",
		Long: `publish reads JSONL events (a file, or stdin for -) and publishes each to
journey.events.<subject> with Nats-Msg-Id = <id>:<digest of the line's bytes>
(a SHA-256 prefix), asynchronously with a bounded window, and waits for every
JetStream acknowledgement. It ends with {"published":N,"duplicates":N}
(duplicates: the same id with the same bytes, which JetStream already had in
its dedupe window). Validation happens in the engine, which quarantines invalid
events, and an id reused with other bytes (id_conflict, as POST /v1/events
answers 409); lines without a usable id or subject are counted as failed.

A JetStream ack means the stream holds the message (under its fsync policy),
not yet that the engine has written it to the log: see "Durability" in the
README.`,
		Example: `  journey simulate --customers 200 --days 90 --seed 1 | journey publish --nats-url nats://127.0.0.1:4222 -`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if nf.url == "" {
				return usageErrorf("publish needs --nats-url (e.g. nats://127.0.0.1:4222, where journey serve listens)")
			}
			if err := nf.validate(); err != nil {
				return err
			}
			return a.runPublish(cmd.Context(), args[0], nf, prefix, maxPending)
		},
	}
	nf.add(cmd, "NATS server URL (required)")
	cmd.Flags().StringVar(&prefix, "subject-prefix", "", "subject prefix (default journey.events)")
	cmd.Flags().IntVar(&maxPending, "max-pending", 0, "most publishes awaiting their ack (default 4096)")
	return cmd
}

func (a *app) runPublish(ctx context.Context, name string, nf natsFlags, prefix string, maxPending int) error {
	in, size, closeIn, err := a.openInput(name)
	if err != nil {
		return err
	}
	defer closeIn()
	nc, err := natsconn.Connect(natsconn.Client{URL: nf.url, Name: "journey publish", User: nf.user, Password: nf.password,
		Token: nf.token, NKeySeedFile: nf.nkey, CredsFile: nf.creds, TLSCA: nf.ca, TLSCert: nf.cert, TLSKey: nf.key, Logger: a.logger()})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", nf.url, err)
	}
	defer nc.Close()
	bar := cli.NewProgress(a.stderr, size, "publish")
	sum, err := handlers.Publish(ctx, nc, in, handlers.PublishOptions{
		SubjectPrefix: prefix,
		MaxPending:    maxPending,
		Progress: func(p handlers.PublishProgress) {
			if size > 0 {
				bar.Set(p.Bytes)
			} else {
				bar.Set(int64(p.Published))
			}
		},
		ProgressEvery: 200 * time.Millisecond,
	})
	bar.Finish()
	if perr := a.printPublish(sum); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d lines were not published", sum.Failed)
	}
	return nil
}

func (a *app) printPublish(s handlers.PublishSummary) error {
	if a.jsonOut {
		return a.printJSON(publishLine{Published: s.Published, Duplicates: s.Duplicates, Failed: s.Failed, Errors: s.Errors})
	}
	a.printf("published %d (%d duplicates)", s.Published, s.Duplicates)
	if s.Failed > 0 {
		a.printf(", %d failed:", s.Failed)
		for _, e := range s.Errors {
			a.printf("\n  line %d %s: %s", e.Line, e.ID, e.Message)
		}
	}
	a.printf("\n")
	return nil
}
