package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/internal/rofs"
	"github.com/spf13/cobra"
)

// verifyResult is journey verify --json's last line: the walk's reply
// (GET /v1/verify answers the same) and its timing.
type verifyResult struct {
	handlers.VerifyReply
	timing
}

// errVerifyFailed is the failure of journey verify (exit status 1).
var errVerifyFailed = errors.New("the log does not verify")

func (a *app) verifyCommand() *cobra.Command {
	var server, since, key string
	var acceptLoss bool
	cmd := &cobra.Command{
		Use:   "verify [--data DIR | --server URL] [--accept-loss | --since CHECKPOINT_FILE [--key PUBKEY]]",
		Short: "Walk the hash chain; exit 1 naming the first bad sequence",
		Long: `verify walks the whole log in sequence order and checks every record: no gap
in the sequence, each hash = SHA-256(previous hash || record), and the id and
customer indexes point back to it. On failure, including corruption reported
by Pebble itself, it names the first sequence that does not verify and exits 1.
With --json it ends with {"ok":…,"events":N,"head":"<hex>","first_bad_seq":N|null,
"duration_s":S,"events_per_s":R}.

With --server URL the running journey serve walks its live log (GET /v1/verify)
and answers the same: an auditor verifies without stopping the engine.

With --accept-loss, on a log that ends before its durable head record (a
damaged WAL or MANIFEST lost acknowledged records and no backup holds them),
verify checks every record the log still has and moves the head record back
to the last one, so that serve and import accept the shorter log again; it
prints the range given up. On a log that lost its head record file
(data/log/JOURNEY-HEAD), it checks every record and writes a new head record
at the last one. With --json: {"accepted":true,"missing_from":N,
"missing_to":M,"head_record_missing":…,"events":K} (0 and 0 when the head
record was missing: what it would have named is unknown). Restore from a
backup instead when you have one, and look in data/log/archive first: it
keeps what Pebble wanted to delete.

With --since CHECKPOINT_FILE (journey checkpoint's output, or JSON lines of
checkpoints) verify also proves that the log extends the log each checkpoint
signed: the signature verifies under --key (the engine's public key as the
auditor kept it: base64, hex, or a file holding it; without --key the key the
file names is used, with a warning, which proves nothing against whoever could
rewrite the file), the record at the checkpoint's sequence and at its anchors
have the signed hashes, and the chain is intact from there to the head. A
rewritten, reordered or truncated history fails naming the first sequence that
differs (or, on a log longer than 65 records at the checkpoint, the range of
its anchors holding it) and exits 1. With --json: one line per checkpoint,
{"ok":…,"checkpoint_seq":N,"checkpoint_time":…,"events":N,"head":"<hex>",
"first_bad_seq":N|null,"last_bad_seq":N,"reason":…}.`,
		Example: `  journey verify --data ./data
  journey verify --server http://127.0.0.1:8080 --json
  journey verify --since cp-2026-03-01.json --key journey-pubkey.txt`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key != "" && since == "" {
				return usageErrorf("--key is the public key of --since CHECKPOINT_FILE's checkpoints; give --since too")
			}
			if since != "" {
				if acceptLoss {
					return usageErrorf("--since and --accept-loss do not go together")
				}
				return a.runVerifySince(cmd.Context(), server, since, key)
			}
			if acceptLoss {
				if server != "" {
					return usageErrorf("--accept-loss works on a stopped engine's --data, not with --server")
				}
				return a.runAcceptLoss(cmd.Context())
			}
			if server != "" {
				return a.runVerifyOnServer(cmd.Context(), server)
			}
			return a.runVerify(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "ask the running journey serve at this URL to walk its live log")
	cmd.Flags().StringVar(&since, "since", "", "also prove the log extends the log the checkpoint(s) in this file signed (journey checkpoint)")
	cmd.Flags().StringVar(&key, "key", "", "the trusted public key of --since's checkpoints (base64, hex, or a file holding it)")
	cmd.Flags().BoolVar(&acceptLoss, "accept-loss", false, "give up the acknowledged records a damaged log lost, so that it opens again (no backup? see --help)")
	return cmd
}

// runVerifyOnServer has a running server walk its log.
func (a *app) runVerifyOnServer(ctx context.Context, server string) error {
	start := a.now()
	body, err := a.serverDo(ctx, http.MethodGet, server, "/v1/verify", nil, 24*time.Hour)
	if err != nil {
		return err
	}
	var res verifyResult
	if err := json.Unmarshal(body, &res.VerifyReply); err != nil {
		return fmt.Errorf("answer of %s: %w", server, err)
	}
	res.timing = a.timed(start, res.Events)
	return a.verifyReport(res)
}

func (a *app) runVerify(ctx context.Context) (err error) {
	start := a.now()
	res := verifyResult{}
	defer func() {
		// A damaged database must give a report, never a crash.
		if r := recover(); r != nil {
			res.OK = false
			res.Reason = fmt.Sprintf("pebble panicked: %v", r)
			res.timing = a.timed(start, res.Events)
			err = a.verifyReport(res)
		}
	}()
	// Read-only (works on a full disk, changes nothing) and open even when
	// damaged, so that the walk names the damage.
	so := a.readStoreOptions()
	so.AllowDamaged = true
	store, oerr := cli.OpenLogKeys(a.dataDir(), false, so, cli.NoKeys) // the chain needs no keys
	if oerr != nil {
		var inUse *cli.InUseError
		var noData *cli.NoDataError
		if errors.As(oerr, &inUse) || errors.As(oerr, &noData) {
			return oerr
		}
		var de *eventstore.DamageError
		if !errors.As(oerr, &de) && !errors.Is(oerr, eventstore.ErrDamaged) && !pebble.IsCorruptionError(oerr) {
			// Not opened (permission, a missing or read-only directory, …):
			// nothing is known of the log, so it did not fail to verify.
			return cannotVerify(a.dataDir(), oerr)
		}
		res.Reason = "cannot open the log: " + oerr.Error()
		if de != nil {
			res.Reason = de.Reason
			if de.Archive != "" {
				res.Reason += "; " + de.Archive
			}
			if from, _ := de.MissingRange(); from > 0 {
				res.FirstBadSeq = &from
				res.Events = de.LastSeq
			}
		}
		res.timing = a.timed(start, res.Events)
		return a.verifyReport(res)
	}
	defer store.Close()
	bar := cli.NewProgress(a.stderr, int64(store.DurableSeq()), "verify")
	rep, verr := store.Verify(ctx, func(seq uint64) { bar.Set(int64(seq)) })
	bar.Finish()
	if verr != nil && ctx.Err() != nil {
		return verr
	}
	res = verifyResult{VerifyReply: handlers.NewVerifyReply(rep, verr)}
	res.timing = a.timed(start, res.Events)
	return a.verifyReport(res)
}

// cannotVerify is the error of a verify that could not open the log of
// dataDir (exit 1, like a log that does not verify, but saying nothing of
// the log's state): "cannot verify the log of DIR: open DIR/log/LOCK:
// permission denied".
func cannotVerify(dataDir string, err error) error {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Error() // the operation, the file and the cause; no package names
	} else {
		for _, p := range []string{"eventstore: ", "pebble: ", "keystore: "} {
			msg = strings.ReplaceAll(msg, p, "")
		}
	}
	return fmt.Errorf("cannot verify the log of %s: %s", dataDir, msg)
}

// verifyReport prints res and returns the command's error.
func (a *app) verifyReport(res verifyResult) error {
	if a.jsonOut {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else if res.OK {
		enc := ""
		if res.Encrypted {
			enc = " (encrypted; verified without keys)"
		}
		a.printf("ok: %d events%s, head %s, verified %s\n", res.Events, enc, res.Head, res.timing)
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

// acceptLossResult is journey verify --accept-loss --json's line:
// missing_from..missing_to the acknowledged records given up (0 and 0
// when head_record_missing: the log had lost its durable head record, so
// which records after its last, if any, were lost is unknown), events the
// records the log now has (all verified; the head record names the last).
type acceptLossResult struct {
	Accepted          bool   `json:"accepted"`
	MissingFrom       uint64 `json:"missing_from"`
	MissingTo         uint64 `json:"missing_to"`
	HeadRecordMissing bool   `json:"head_record_missing"`
	Events            uint64 `json:"events"`
}

// runAcceptLoss moves the durable head record back to the log's last
// record after checking what the log still has.
func (a *app) runAcceptLoss(ctx context.Context) error {
	dir := cli.LogDir(a.dataDir())
	if err := cli.CheckFree(a.dataDir(), dir); err != nil {
		return err
	}
	acc, err := eventstore.AcceptLoss(ctx, dir, a.storeOptions())
	if rofs.IsReadOnly(err) {
		return &cli.ReadOnlyError{Dir: a.dataDir(), Command: "verify --accept-loss", Err: err}
	}
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(acceptLossResult{Accepted: true, MissingFrom: acc.MissingFrom, MissingTo: acc.MissingTo,
			HeadRecordMissing: acc.HeadRecordLost, Events: acc.Head})
	}
	if acc.HeadRecordLost {
		a.printf("accepted a log without its durable head record: its %d records verify; a new head record names record %d, and the log opens again\n",
			acc.Head, acc.Head)
		return nil
	}
	a.printf("accepted the loss of records %d..%d (%d acknowledged events); the log now ends at %d and opens again\n",
		acc.MissingFrom, acc.MissingTo, acc.MissingTo-acc.MissingFrom+1, acc.Head)
	return nil
}
