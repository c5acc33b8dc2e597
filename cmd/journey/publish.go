package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
)

// publishLine is journey publish --json.
type publishLine struct {
	Published  int                  `json:"published"`
	Duplicates int                  `json:"duplicates"`
	Failed     int                  `json:"failed,omitzero"`
	Errors     []handlers.LineError `json:"errors,omitempty"`
	timing
}

func (a *app) publishCommand() *cobra.Command {
	var (
		nf         natsFlags
		prefix     string
		maxPending int
		batch      int
		partitions int
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

With --batch N, up to N lines go into one message (a JSON array,
Content-Type application/cloudevents-batch+json, the CloudEvents batched
mode), each still validated, quarantined or appended on its own by the
engine; a batch holds the events of one customer partition (--partitions P,
the P of a subject mapping partition(P,1) on the customer token; default 1:
any events) and goes to the subject of its first event's customer. Counts
are per event, batched or not.

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
			if batch < 0 || partitions < 0 {
				return usageErrorf("--batch and --partitions must not be negative")
			}
			return a.runPublish(cmd.Context(), args[0], nf, handlers.PublishOptions{SubjectPrefix: prefix, MaxPending: maxPending,
				Batch: batch, Partitions: partitions})
		},
	}
	nf.add(cmd, "NATS server URL (required)")
	cmd.Flags().StringVar(&prefix, "subject-prefix", "", "subject prefix (default journey.events)")
	cmd.Flags().IntVar(&maxPending, "max-pending", 0, "most publishes awaiting their ack (default 4096)")
	cmd.Flags().IntVar(&batch, "batch", 0, "events per message, as a CloudEvents batch (default 1: one event a message)")
	cmd.Flags().IntVar(&partitions, "partitions", 0, "customer partitions a batch must not mix (NATS partition(P,1) of the customer token; default 1)")
	return cmd
}

func (a *app) runPublish(ctx context.Context, name string, nf natsFlags, po handlers.PublishOptions) error {
	file, size, closeIn, err := a.openInput(ctx, name)
	if err != nil {
		return err
	}
	defer closeIn()
	in, err := skipBOM(file)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	nc, err := a.natsConnect(nf, "journey publish")
	if err != nil {
		return err
	}
	defer nc.Close()
	start := a.now()
	var bar *cli.Progress
	if size > 0 {
		bar = cli.NewByteProgress(a.stderr, size, "publish")
	} else {
		bar = cli.NewProgress(a.stderr, -1, "publish")
	}
	po.Progress = func(p handlers.PublishProgress) {
		if size > 0 {
			bar.Set(p.Bytes)
			bar.Events(int64(p.Published))
		} else {
			bar.Set(int64(p.Published))
		}
	}
	po.ProgressEvery = 200 * time.Millisecond
	sum, err := handlers.Publish(ctx, nc, in, po)
	bar.Finish()
	var denied *handlers.PublishDeniedError
	if errors.As(err, &denied) {
		err = a.publishDenied(denied, nf)
		if !a.jsonOut && sum.Published+sum.Duplicates == 0 {
			return err // nothing went through: the refusal is the whole story
		}
	}
	if perr := a.printPublish(sum, a.timed(start, uint64(sum.Published+sum.Duplicates))); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	if sum.Failed == 1 {
		return errors.New("1 line was not published")
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d lines were not published", sum.Failed)
	}
	return nil
}

// publishDenied says who may not publish, and what to use instead.
func (a *app) publishDenied(e *handlers.PublishDeniedError, nf natsFlags) error {
	what := "publish there"
	if e.Subscribe || e.Reply {
		what = "receive the acknowledgements"
	}
	switch {
	case nf.user != "":
		return fmt.Errorf("%v: NATS user %q may not %s (see examples/nats-permissions.conf)", e, nf.user, what)
	case nf.nkey != "" || nf.creds != "":
		return fmt.Errorf("%v: these NATS credentials may not %s (see examples/nats-permissions.conf)", e, what)
	case nf.token != "" || a.bearerToken() != "":
		if e.Subscribe || e.Reply {
			return fmt.Errorf("%v: the token may not %s", e, what)
		}
		return fmt.Errorf("%v: the token may not publish (use a writer token)", e)
	}
	return fmt.Errorf("%v: a connection without credentials may not %s (pass --token, --nats-user, --nats-nkey or --nats-creds)", e, what)
}

// natsConnect connects to the NATS server of nf as a client. A server
// that is not there is one line saying so, with what to do.
func (a *app) natsConnect(nf natsFlags, name string) (*nats.Conn, error) {
	if nf.token == "" && nf.user == "" && nf.nkey == "" && nf.creds == "" {
		nf.token = a.bearerToken() // --token / $JOURNEY_TOKEN: the embedded NATS of a serve with --auth takes it
	}
	nc, err := natsconn.Connect(natsconn.Client{URL: nf.url, Name: name, User: nf.user, Password: nf.password,
		Token: nf.token, NKeySeedFile: nf.nkey, CredsFile: nf.creds, TLSCA: nf.ca, TLSCert: nf.cert, TLSKey: nf.key, Logger: a.logger()})
	if errors.Is(err, nats.ErrNoServers) {
		return nil, fmt.Errorf("no NATS server answers at %s: start journey serve (its embedded NATS listens on %s) or pass the --nats-url of yours", redactURL(nf.url), natsconn.DefaultListen)
	}
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		return nil, fmt.Errorf("%v: %s", err, refusedCredentials(nf))
	}
	return nc, err
}

// refusedCredentials says which credentials the NATS server refused at
// connect, and the flag that gives them (never their text).
func refusedCredentials(nf natsFlags) string {
	switch {
	case nf.user != "":
		return fmt.Sprintf("the server refused NATS user %q (check --nats-user and --nats-password)", nf.user)
	case nf.nkey != "":
		return "the server refused the nkey of --nats-nkey"
	case nf.creds != "":
		return "the server refused the credentials of --nats-creds"
	case nf.token != "":
		return "the server refused the token (--token, $JOURNEY_TOKEN or --nats-token): not one it knows, expired or revoked"
	}
	return "the server wants credentials: pass --token (a journey token; default $JOURNEY_TOKEN), --nats-user, --nats-nkey or --nats-creds"
}

// lineError is "line N ID: message", without the line or the id when
// they are not known.
func lineError(e handlers.LineError) string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d", e.Line)
	}
	if e.ID != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.ID)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// redactURL hides the password of a URL (nats://user:pw@host).
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

func (a *app) printPublish(s handlers.PublishSummary, t timing) error {
	if a.jsonOut {
		return a.printJSON(publishLine{Published: s.Published, Duplicates: s.Duplicates, Failed: s.Failed, Errors: s.Errors, timing: t})
	}
	a.printf("published %d (%d duplicates) %s", s.Published, s.Duplicates, t)
	if s.Failed > 0 {
		a.printf(", %d failed:", s.Failed)
		for _, e := range s.Errors {
			a.printf("\n  %s", lineError(e))
		}
	}
	a.printf("\n")
	return nil
}
