package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// ErrNothingToAccept is AcceptLoss on a log that is not short of its
// durable head record.
var ErrNothingToAccept = errors.New("eventstore: the log is not short of its durable head record")

// AcceptLoss is the operator's explicit decision to continue with a log
// that ends before its durable head record (a damaged WAL or MANIFEST lost
// acknowledged records and no backup holds them): it checks that every
// record the log still has verifies (sequence, hash chain, indexes), then
// moves the durable head record back to the log's last record, so that Open
// accepts the log again. It returns the range of records given up. It
// refuses (and changes nothing) when the log has any other damage, or
// when nothing is missing (ErrNothingToAccept). The files Pebble wanted to
// delete stay in ArchiveDirName as evidence.
func AcceptLoss(ctx context.Context, dir string, opts *Options) (from, to uint64, err error) {
	o := opts.withDefaults()
	o.AllowDamaged = true
	o.ReadOnly = false
	s, err := Open(dir, &o)
	if err != nil {
		return 0, 0, err
	}
	de, ok := s.failure().(*DamageError)
	if !ok || de.DurableSeq <= de.LastSeq {
		_ = s.Close()
		if ok {
			return 0, 0, fmt.Errorf("eventstore: the log is damaged in another way, not accepted: %w", de)
		}
		return 0, 0, ErrNothingToAccept
	}
	from, to = de.MissingRange()
	rep, err := s.Verify(ctx, nil)
	if err != nil {
		_ = s.Close()
		return 0, 0, err
	}
	if rep.FirstBadSeq != from || rep.Events != de.LastSeq {
		_ = s.Close()
		return 0, 0, fmt.Errorf("eventstore: the records the log still has do not verify (first bad %d: %s); not accepted", rep.FirstBadSeq, rep.Reason)
	}
	head, hash := s.Head()
	gen := s.headRec.gen
	if err := s.Close(); err != nil {
		return 0, 0, err
	}
	hw, err := openHeadWriter(o.FS, s.dir, headRecord{gen: gen, seq: head, hash: hash}, o.NoSync)
	if err != nil {
		return 0, 0, err
	}
	if err := hw.close(); err != nil {
		return 0, 0, err
	}
	o.Logger.Warn("eventstore: accepted the loss of acknowledged records; the durable head record now names the log's last record",
		"dir", s.dir, "missing_from", from, "missing_to", to, "head", head)
	return from, to, nil
}
