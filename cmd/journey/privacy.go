package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/privacy"
	"github.com/journey-cdp/journey/projections"
)

func (a *app) forgetCommand() *cobra.Command {
	var reason, server string
	var unknownOK bool
	cmd := &cobra.Command{
		Use:   "forget CUSTOMER --reason TEXT [--data DIR | --server URL]",
		Short: "Erase a customer (crypto-shredding): their key destroyed, their data gone, the chain intact",
		Long: `forget erases one customer (GDPR art. 17, PIPL art. 47) from an encrypted data
dir: their data key is destroyed, so their events, still in the hash chain, can
no longer be read by anyone; an erasure record (when, why; no personal data) is
appended; their views rows, referral marks and quarantine entries are deleted and
forced out of the files; with --server (the running engine) their messages are
purged from the JetStream stream too. verify still passes; their history and
answer then say "erased". Events for them that arrive later are refused with
code erased and quarantined without their data. Running it again completes an
erasure cut short. A plaintext data dir (created before encryption) cannot
forget without breaking its chain: forget refuses.`,
		Example: `  journey forget cust-42 --reason "art. 17 request 2026-118"
  journey forget cust-42 --reason "art. 17 request 2026-118" --server http://127.0.0.1:8080 --token $ADMIN_TOKEN`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return usageErrorf("--reason is required: it is kept in the erasure record (no personal data in it)")
			}
			var rep privacy.Report
			if server != "" {
				q := url.Values{"reason": {reason}}
				if unknownOK {
					q.Set("unknown_ok", "true")
				}
				b, err := a.serverDo(cmd.Context(), http.MethodDelete, server, "/v1/customers/"+url.PathEscape(args[0]), q, 5*time.Minute)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, &rep); err != nil {
					return fmt.Errorf("the server's answer: %w", err)
				}
			} else {
				var err error
				if rep, err = a.forgetOffline(cmd.Context(), args[0], reason, unknownOK); err != nil {
					if errors.Is(err, privacy.ErrUnknownCustomer) {
						return fmt.Errorf("customer %s: %w (check the id; --unknown-ok records the erasure anyway, and every later event of that id is refused)", journey.Quote(args[0]), err)
					}
					return err
				}
			}
			if a.jsonOut {
				return a.printJSON(rep)
			}
			again := ""
			if rep.Again {
				again = " (already erased: the rest completed)"
			}
			fmt.Fprintf(a.stdout, "erased %s%s: %d events unreadable, erasure record at seq %d, %d quarantine entries deleted, views row deleted: %v\n",
				args[0], again, rep.Events, rep.Seq, rep.Quarantine, rep.Views)
			if rep.StreamSkipped != "" {
				fmt.Fprintf(a.stdout, "note: %s (forget with --server purges it)\n", rep.StreamSkipped)
			} else {
				fmt.Fprintf(a.stdout, "stream: %d messages purged\n", rep.StreamPurged)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the erasure record; required)")
	cmd.Flags().BoolVar(&unknownOK, "unknown-ok", false, "record the erasure of a customer journey holds nothing of (refuses their later events)")
	cmd.Flags().StringVar(&server, "server", "", "ask a running journey serve at this URL (admin token) instead of opening the data dir")
	return cmd
}

// forgetOffline forgets a customer in the data dir (no serve running).
func (a *app) forgetOffline(ctx context.Context, id, reason string, unknownOK bool) (privacy.Report, error) {
	store, err := a.openLog(false, a.storeOptions())
	if err != nil {
		return privacy.Report{}, err
	}
	defer store.Close()
	v, err := projections.Open(a.dataDir(), store, &projections.Options{Clock: a.now, Logger: a.logger()})
	if err != nil {
		if cli.IsLockError(err) {
			return privacy.Report{}, cli.NewInUseError(a.dataDir(), err)
		}
		return privacy.Report{}, err
	}
	defer v.Close()
	// The views up to date first: what they hold of the customer (a
	// referred prospect's state, a lagging row) is what forget deletes.
	if _, err := v.CatchUp(ctx); err != nil {
		return privacy.Report{}, err
	}
	return privacy.Engine{Store: store, Views: v, Unknown: unknownOK}.Forget(ctx, id, reason)
}

// exportSubject writes everything held about one customer as one JSON
// document (subject access).
func (a *app) exportSubject(ctx context.Context, w *bufio.Writer, id, server string) error {
	var doc any
	if server != "" {
		b, err := a.serverDo(ctx, http.MethodGet, server, "/v1/customers/"+url.PathEscape(id)+"/export", nil, 5*time.Minute)
		if err != nil {
			return err
		}
		doc = json.RawMessage(b)
	} else {
		v, closeAll, err := a.openViews(ctx, "", projections.Options{}, false)
		if err != nil {
			return err
		}
		defer closeAll()
		x, err := privacy.Engine{Store: v.Log(), Views: v}.SubjectAccess(ctx, id, a.now())
		if err != nil {
			return err
		}
		doc = x
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return w.Flush()
}
