package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/spf13/cobra"
)

// verifyResult is journey verify --json's last line.
type verifyResult struct {
	OK          bool    `json:"ok"`
	Events      uint64  `json:"events"`
	Head        string  `json:"head"`
	FirstBadSeq *uint64 `json:"first_bad_seq"`
	Reason      string  `json:"reason,omitempty"`
}

// errVerifyFailed is the failure of journey verify (exit status 1).
var errVerifyFailed = errors.New("the log does not verify")

func (a *app) verifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify [--data DIR]",
		Short: "Walk the hash chain; exit 1 naming the first bad sequence",
		Long: `verify walks the whole log in sequence order and checks every record: no gap
in the sequence, each hash = SHA-256(previous hash || record), and the id and
customer indexes point back to it. On failure, including corruption reported
by Pebble itself, it names the first sequence that does not verify and exits 1.
With --json it ends with {"ok":…,"events":N,"head":"<hex>","first_bad_seq":N|null}.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runVerify(cmd.Context()) },
	}
}

func (a *app) runVerify(ctx context.Context) (err error) {
	res := verifyResult{}
	defer func() {
		// A damaged database must give a report, never a crash.
		if r := recover(); r != nil {
			res.OK = false
			res.Reason = fmt.Sprintf("pebble panicked: %v", r)
			err = a.verifyReport(res)
		}
	}()
	// Read-only (works on a full disk, changes nothing) and open even when
	// damaged, so that the walk names the damage.
	so := a.readStoreOptions()
	so.AllowDamaged = true
	store, oerr := cli.OpenLog(a.dataDir(), false, so)
	if oerr != nil {
		var inUse *cli.InUseError
		var noData *cli.NoDataError
		if errors.As(oerr, &inUse) || errors.As(oerr, &noData) {
			return oerr
		}
		res.Reason = "cannot open the log: " + oerr.Error()
		var de *eventstore.DamageError
		if errors.As(oerr, &de) {
			res.Reason = de.Reason
			if de.Archive != "" {
				res.Reason += "; " + de.Archive
			}
			if from, _ := de.MissingRange(); from > 0 {
				res.FirstBadSeq = &from
				res.Events = de.LastSeq
			}
		}
		return a.verifyReport(res)
	}
	defer store.Close()
	bar := cli.NewProgress(a.stderr, int64(store.DurableSeq()), "verify")
	rep, verr := store.Verify(ctx, func(seq uint64) { bar.Set(int64(seq)) })
	bar.Finish()
	if verr != nil && !errors.Is(verr, eventstore.ErrDamaged) {
		if ctx.Err() != nil {
			return verr
		}
		rep.OK = false
		if rep.Reason == "" {
			rep.Reason = verr.Error()
		}
	}
	res = verifyResult{OK: rep.OK, Events: rep.Events, Head: hex.EncodeToString(rep.Head[:]), Reason: rep.Reason}
	if !rep.OK && rep.FirstBadSeq != 0 {
		s := rep.FirstBadSeq
		res.FirstBadSeq = &s
	}
	return a.verifyReport(res)
}

// verifyReport prints res and returns the command's error.
func (a *app) verifyReport(res verifyResult) error {
	if a.jsonOut {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else if res.OK {
		a.printf("ok: %d events, head %s\n", res.Events, res.Head)
	} else if res.FirstBadSeq != nil {
		a.printf("FAILED at sequence %d: %s (%d events verified before it)\n", *res.FirstBadSeq, res.Reason, res.Events)
	} else {
		a.printf("FAILED: %s\n", res.Reason)
	}
	if res.OK {
		return nil
	}
	if res.FirstBadSeq != nil {
		return fmt.Errorf("%w: first bad sequence %d: %s", errVerifyFailed, *res.FirstBadSeq, res.Reason)
	}
	return fmt.Errorf("%w: %s", errVerifyFailed, res.Reason)
}
