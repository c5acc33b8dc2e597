package checkpoint

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/errtext"
)

// Report is the outcome of VerifySince for one checkpoint.
type Report struct {
	OK bool
	// Seq and Time are the checkpoint's.
	Seq  uint64
	Time time.Time
	// Events is how many records of the current log verified (from 1), Head
	// the chain hash after the last of them.
	Events uint64
	Head   [32]byte
	// FirstBadSeq is the first sequence at which the current log is not
	// the one the checkpoint signed (0 when OK, or when the checkpoint
	// itself does not verify). LastBadSeq is the end of the range where the
	// difference starts when the anchors cannot pin it to one record
	// (equal to FirstBadSeq when they can; for a truncated log, the
	// checkpoint's sequence: the missing range).
	FirstBadSeq, LastBadSeq uint64
	Reason                  string
	// KeyFromFile: no trusted key was given, the key named in the file was
	// used (Warning says what that does not prove).
	KeyFromFile bool
	Warning     string
}

// WarnUntrustedKey is the warning of a check made with the checkpoint's own key.
const WarnUntrustedKey = "no trusted public key given: the signature was checked with the key the checkpoint file names, " +
	"which proves nothing against whoever could rewrite the file; pass the public key you kept"

// VerifySince proves that the current log of store extends the log cp
// signed: the signature verifies under trusted (nil: the key the file
// names, with a warning), the chain of the log is intact from sequence 1
// to its head (store.Verify), the records at the checkpoint's anchors and
// at its sequence have the hashes it signed, and the log is not shorter
// than the checkpoint. The first failure is reported (Report.OK false)
// with the sequence where the log stops being the signed one; the error is
// for the walk itself (ctx, a closed store).
func VerifySince(ctx context.Context, store *eventstore.Store, cp Checkpoint, trusted ed25519.PublicKey) (Report, error) {
	reps, err := VerifySinceAll(ctx, store, []Checkpoint{cp}, trusted)
	if len(reps) == 0 {
		return Report{Seq: cp.Seq, Time: cp.Time}, err
	}
	return reps[0], err
}

// VerifySinceAll is VerifySince for several checkpoints (a kept history),
// walking the log once.
func VerifySinceAll(ctx context.Context, store *eventstore.Store, cps []Checkpoint, trusted ed25519.PublicKey) ([]Report, error) {
	vr, err := store.Verify(ctx, nil)
	if err != nil && !errors.Is(err, eventstore.ErrDamaged) {
		return nil, err
	}
	reps := make([]Report, len(cps))
	for i := range cps {
		reps[i], err = check(ctx, store, &cps[i], trusted, vr)
		if err != nil {
			return nil, err
		}
	}
	return reps, nil
}

var errStop = errors.New("stop")

// reasonOf is err as a Report's Reason: without Go package prefixes (the
// Reason is shown to people as it is).
func reasonOf(err error) string { return errtext.WithoutPackages(err.Error()) }

func check(ctx context.Context, store *eventstore.Store, cp *Checkpoint, trusted ed25519.PublicKey, vr eventstore.VerifyReport) (Report, error) {
	rep := Report{Seq: cp.Seq, Time: cp.Time, Events: vr.Events, Head: vr.Head}
	pub := trusted
	if pub == nil {
		k, err := cp.PublicKey()
		if err != nil {
			rep.Reason = reasonOf(err)
			return rep, nil
		}
		pub, rep.KeyFromFile, rep.Warning = k, true, WarnUntrustedKey
	} else if cp.Key != "" {
		k, err := cp.PublicKey()
		if err != nil {
			rep.Reason = reasonOf(err)
			return rep, nil
		}
		if !k.Equal(trusted) {
			rep.Reason = fmt.Sprintf("the checkpoint names the signing key %s, not the trusted key %s", EncodePublicKey(k), EncodePublicKey(trusted))
			return rep, nil
		}
	}
	if err := cp.Verify(pub); err != nil {
		rep.Reason = reasonOf(err)
		if errors.Is(err, ErrBadSignature) {
			rep.Reason += " under the trusted key: the checkpoint was altered or signed by another key"
			if rep.KeyFromFile {
				rep.Reason = reasonOf(err) + " under the key it names: the checkpoint was altered"
			}
		}
		return rep, nil
	}
	hash, _ := cp.HeadHash()
	seqs, hashes, _ := cp.anchors()
	seqs, hashes = append(seqs, cp.Seq), append(hashes, hash)
	// Compare the signed hashes with the records that verified.
	n := 0
	for n < len(seqs) && seqs[n] <= vr.Events && seqs[n] > 0 {
		n++
	}
	var lastMatch uint64
	bad := -1
	i := 0
	err := store.RecordHashes(ctx, seqs[:n], func(seq uint64, h [32]byte) error {
		if h != hashes[i] {
			bad = i
			return errStop
		}
		lastMatch = seq
		i++
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return rep, err
	}
	switch {
	case bad >= 0:
		b := seqs[bad]
		rep.FirstBadSeq, rep.LastBadSeq = lastMatch+1, b
		if b == lastMatch+1 {
			rep.Reason = fmt.Sprintf("record %d is not the one the checkpoint of %s signed (another hash, the chain recomputed after it): history was rewritten or reordered from sequence %d",
				b, cp.Time.UTC().Format(time.RFC3339), b)
		} else if lastMatch == 0 {
			// No signed record matched: there is no "record 0" that is.
			rep.Reason = fmt.Sprintf("record %d is not the one the checkpoint of %s signed: history was rewritten or reordered from a sequence in 1..%d",
				b, cp.Time.UTC().Format(time.RFC3339), b)
		} else {
			rep.Reason = fmt.Sprintf("record %d is not the one the checkpoint of %s signed, record %d is: history was rewritten or reordered from a sequence in %d..%d",
				b, cp.Time.UTC().Format(time.RFC3339), lastMatch, lastMatch+1, b)
		}
	case !vr.OK:
		rep.FirstBadSeq, rep.LastBadSeq = vr.FirstBadSeq, vr.FirstBadSeq
		rep.Reason = "the log's own chain does not verify: " + vr.Reason
	case vr.Events < cp.Seq:
		rep.FirstBadSeq, rep.LastBadSeq = vr.Events+1, cp.Seq
		rep.Reason = fmt.Sprintf("the log ends at sequence %d, but the checkpoint of %s signed %d records: records %d..%d are missing (history truncated)",
			vr.Events, cp.Time.UTC().Format(time.RFC3339), cp.Seq, vr.Events+1, cp.Seq)
	default:
		rep.OK = true
	}
	return rep, nil
}
