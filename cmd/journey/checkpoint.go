package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/checkpoint"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/spf13/cobra"
)

func (a *app) checkpointCommand() *cobra.Command {
	var out, server string
	cmd := &cobra.Command{
		Use:   "checkpoint [--out FILE] [--data DIR | --server URL]",
		Short: "Print the signed head of the log (an auditor keeps it; verify --since checks it later)",
		Long: `checkpoint signs the head of the log — its sequence, its hash and the time —
with the engine's Ed25519 key (<data>/checkpoint/ed25519.key, made by serve on
its first start or by journey checkpoint key) and prints the checkpoint, one
JSON object, or writes it to --out FILE. The checkpoint also holds the hashes
of up to 64 earlier records (its anchors), so that a later check names where a
rewrite starts.

With --server URL the running journey serve signs its live head (GET
/v1/checkpoint, auditor); without it, a stopped engine's data dir is read
(read-only; the key must exist). serve also signs every 15 minutes
(--checkpoint-every) and keeps the latest in <data>/checkpoint/checkpoints.jsonl.

Keep the checkpoint, and the public key (journey checkpoint key), where the
operator cannot change them; later, journey verify --since FILE --key KEY
proves that the log then extends the one signed now.`,
		Example: `  journey checkpoint --server http://127.0.0.1:8080 --out cp-2026-03-01.json
  journey checkpoint key --server http://127.0.0.1:8080
  journey verify --since cp-2026-03-01.json --key "$(cat journey-pubkey.txt)"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var (
				cp  checkpoint.Checkpoint
				err error
			)
			if out != "" {
				// Before signing: a checkpoint is never written over another.
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("--out %s: the file exists (a checkpoint is never written over another): pick another name", out)
				}
			}
			if server != "" {
				cp, err = a.checkpointFromServer(cmd.Context(), server)
			} else {
				cp, err = a.checkpointOffline(cmd.Context())
			}
			if err != nil {
				return err
			}
			return a.writeCheckpoint(cp, out)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the checkpoint to FILE (refused if FILE exists) instead of stdout")
	cmd.Flags().StringVar(&server, "server", "", "ask the running journey serve at this URL to sign its live head")
	cmd.AddCommand(a.checkpointKeyCommand())
	return cmd
}

func (a *app) checkpointKeyCommand() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:   "key [--data DIR | --server URL]",
		Short: "Print the public key checkpoints are signed with",
		Long: `key prints the engine's public Ed25519 key (standard base64), which verifies
its checkpoints. On a data dir without a key yet it makes one (mode 0600), as
serve does on its first start. Give the public key to the auditor once, by a
way the operator cannot change later.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var text string
			if server != "" {
				var r struct {
					Key string `json:"key"`
				}
				if err := a.serverJSON(cmd.Context(), server, "/v1/checkpoint/key", nil, &r); err != nil {
					return err
				}
				if _, err := checkpoint.ParsePublicKey(r.Key); err != nil {
					return fmt.Errorf("answer of %s: %w", server, err)
				}
				text = r.Key
			} else {
				k, created, err := checkpoint.LoadOrCreateKey(a.dataDir())
				if err != nil {
					return err
				}
				if created {
					fmt.Fprintf(a.stderr, "made a new checkpoint key: %s\n", checkpoint.KeyPath(a.dataDir()))
				}
				text = k.PublicText()
			}
			if a.jsonOut {
				return a.printJSON(map[string]string{"key": text})
			}
			a.printf("%s\n", text)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "ask the running journey serve at this URL")
	return cmd
}

// checkpointOffline signs the head of a stopped engine's log.
func (a *app) checkpointOffline(ctx context.Context) (checkpoint.Checkpoint, error) {
	key, err := checkpoint.LoadKey(a.dataDir())
	if err != nil {
		return checkpoint.Checkpoint{}, err
	}
	store, err := a.openLog(false, a.readStoreOptions())
	if err != nil {
		return checkpoint.Checkpoint{}, err
	}
	defer store.Close()
	return key.Take(ctx, store, a.now())
}

// checkpointFromServer has a running serve sign its head, and checks the
// answer is a checkpoint signed by the key it names.
func (a *app) checkpointFromServer(ctx context.Context, server string) (checkpoint.Checkpoint, error) {
	body, err := a.serverBody(ctx, server, "/v1/checkpoint", nil)
	if err != nil {
		return checkpoint.Checkpoint{}, err
	}
	cps, err := checkpoint.Parse(body)
	if err == nil && len(cps) != 1 {
		err = fmt.Errorf("%d checkpoints, want 1", len(cps))
	}
	if err != nil {
		return checkpoint.Checkpoint{}, fmt.Errorf("answer of %s: %w", server, err)
	}
	pub, err := cps[0].PublicKey()
	if err == nil {
		err = cps[0].Verify(pub)
	}
	if err != nil {
		return checkpoint.Checkpoint{}, fmt.Errorf("answer of %s: %w", server, err)
	}
	return cps[0], nil
}

func (a *app) writeCheckpoint(cp checkpoint.Checkpoint, out string) error {
	b, err := cp.Marshal()
	if err != nil {
		return err
	}
	if out == "" {
		_, err := a.stdout.Write(b)
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("--out %s: %v", out, err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return werr
	}
	if a.jsonOut {
		_, err := a.stdout.Write(b)
		return err
	}
	a.printf("checkpoint of sequence %d (hash %s, %s) signed by %s written to %s\n",
		cp.Seq, cp.Hash, cp.Time.Format(time.RFC3339), cp.Key, out)
	return nil
}

// trustedKey reads --key: a public key, or a file holding one.
func trustedKey(s string) (ed25519.PublicKey, error) {
	if s == "" {
		return nil, nil
	}
	k, err := checkpoint.ParsePublicKey(s)
	if err == nil {
		return k, nil
	}
	if b, ferr := os.ReadFile(s); ferr == nil {
		if k, kerr := checkpoint.ParsePublicKey(string(b)); kerr == nil {
			return k, nil
		}
		return nil, usageErrorf("--key: the file %s holds no Ed25519 public key (base64 or hex)", s)
	}
	return nil, usageErrorf("--key: %v, nor a file holding one", err)
}

// runVerifySince checks that the log extends every checkpoint of file.
func (a *app) runVerifySince(ctx context.Context, server, file, keyFlag string) error {
	cps, err := checkpoint.ReadFile(file)
	if err != nil {
		return usageErrorf("--since: %v", err)
	}
	trusted, err := trustedKey(keyFlag)
	if err != nil {
		return err
	}
	var replies []checkpoint.Reply
	if server != "" {
		replies, err = a.verifySinceOnServer(ctx, server, cps, keyFlag, trusted)
	} else {
		replies, err = a.verifySinceOffline(ctx, cps, trusted)
	}
	if err != nil {
		return err
	}
	return a.verifySinceReport(replies)
}

func (a *app) verifySinceOffline(ctx context.Context, cps []checkpoint.Checkpoint, trusted ed25519.PublicKey) ([]checkpoint.Reply, error) {
	so := a.readStoreOptions()
	so.AllowDamaged = true
	store, err := a.openLog(false, so)
	if err != nil {
		var de *eventstore.DamageError
		if errors.As(err, &de) {
			return nil, fmt.Errorf("%w: %s (run journey verify)", errVerifyFailed, de.Reason)
		}
		return nil, err
	}
	defer store.Close()
	reps, err := checkpoint.VerifySinceAll(ctx, store, cps, trusted)
	if err != nil {
		return nil, err
	}
	replies := make([]checkpoint.Reply, len(reps))
	for i, r := range reps {
		replies[i] = r.Reply()
	}
	return replies, nil
}

// sinceQueryBytes bounds the checkpoints sent in one request's query.
const sinceQueryBytes = 24 << 10

func (a *app) verifySinceOnServer(ctx context.Context, server string, cps []checkpoint.Checkpoint, keyFlag string, trusted ed25519.PublicKey) ([]checkpoint.Reply, error) {
	var replies []checkpoint.Reply
	var batch bytes.Buffer
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		q := url.Values{"since": {batch.String()}}
		if trusted != nil {
			q.Set("key", checkpoint.EncodePublicKey(trusted))
		}
		batch.Reset()
		body, err := a.serverDo(ctx, "GET", server, "/v1/checkpoint/verify", q, 24*time.Hour)
		if err != nil {
			return err
		}
		for l := range strings.SplitSeq(strings.TrimSpace(string(body)), "\n") {
			var r checkpoint.Reply
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				return fmt.Errorf("answer of %s: %w", server, err)
			}
			replies = append(replies, r)
		}
		return nil
	}
	for i := range cps {
		b, err := cps[i].Marshal()
		if err != nil {
			return nil, err
		}
		if batch.Len() > 0 && batch.Len()+len(b) > sinceQueryBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		batch.Write(b)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(replies) != len(cps) {
		return nil, fmt.Errorf("answer of %s: %d results for %d checkpoints", server, len(replies), len(cps))
	}
	return replies, nil
}

// verifySinceReport prints the replies and returns the command's error:
// the failure with the lowest first bad sequence, if any.
func (a *app) verifySinceReport(replies []checkpoint.Reply) error {
	var worst *checkpoint.Reply
	warned := false
	for i := range replies {
		r := &replies[i]
		if r.Warning != "" && !warned {
			fmt.Fprintf(a.stderr, "warning: %s (--key)\n", r.Warning)
			warned = true
		}
		if a.jsonOut {
			if err := a.printJSON(r); err != nil {
				return err
			}
		}
		if r.OK {
			continue
		}
		if worst == nil || r.FirstBadSeq != nil && (worst.FirstBadSeq == nil || *r.FirstBadSeq < *worst.FirstBadSeq) {
			worst = r
		}
	}
	if worst == nil {
		if !a.jsonOut {
			last := replies[len(replies)-1]
			what := fmt.Sprintf("the checkpoint of %s (sequence %d)", last.CheckpointTime.Format(time.RFC3339), last.CheckpointSeq)
			if len(replies) > 1 {
				what = fmt.Sprintf("all %d checkpoints, the last of %s (sequence %d)", len(replies), last.CheckpointTime.Format(time.RFC3339), last.CheckpointSeq)
			}
			a.printf("ok: the log (%d events, head %s) extends %s\n", last.Events, last.Head, what)
		}
		return nil
	}
	when := fmt.Sprintf("since the checkpoint of %s (sequence %d)", worst.CheckpointTime.Format(time.RFC3339), worst.CheckpointSeq)
	if worst.FirstBadSeq == nil {
		if !a.jsonOut {
			a.printf("FAILED %s: %s\n", when, worst.Reason)
		}
		return fmt.Errorf("%w %s: %s", errVerifyFailed, when, worst.Reason)
	}
	if !a.jsonOut {
		a.printf("FAILED %s at sequence %d: %s\n", when, *worst.FirstBadSeq, worst.Reason)
	}
	return fmt.Errorf("%w %s: first bad sequence %d: %s", errVerifyFailed, when, *worst.FirstBadSeq, worst.Reason)
}
