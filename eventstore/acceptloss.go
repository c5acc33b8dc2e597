package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// ErrNothingToAccept is AcceptLoss on a log that is not short of its
// durable head record and has not lost it.
var ErrNothingToAccept = errors.New("eventstore: the log is not short of its durable head record")

// Accepted is what AcceptLoss accepted.
type Accepted struct {
	// MissingFrom..MissingTo are the acknowledged records given up (0, 0
	// when HeadRecordLost: which ones, if any, cannot be known).
	MissingFrom, MissingTo uint64
	// HeadRecordLost: the log had lost its durable head record file.
	HeadRecordLost bool
	// Head is the log's last record, which the durable head record now
	// names; every record up to it verified.
	Head uint64
}

// AcceptLoss is the operator's explicit decision to continue with a log
// that ends before its durable head record (a damaged WAL or MANIFEST lost
// acknowledged records and no backup holds them), or that lost the head
// record's file (HeadFileName) it had, so that whether records after its
// last one were lost cannot be checked: it checks that every record the
// log still has verifies (sequence, hash chain, each record's index
// entries), then writes the durable head record at the log's last record,
// so that Open accepts the log again. It returns what it accepted. It
// refuses (and changes nothing) when the log has any other damage, or
// when there is nothing to accept (ErrNothingToAccept). The files Pebble
// wanted to delete stay in ArchiveDirName as evidence.
func AcceptLoss(ctx context.Context, dir string, opts *Options) (Accepted, error) {
	o := opts.withDefaults()
	o.AllowDamaged = true
	o.ReadOnly = false
	s, err := Open(dir, &o)
	if err != nil {
		return Accepted{}, err
	}
	de, ok := s.failure().(*DamageError)
	lost := ok && s.headLost
	if !ok || (!lost && de.DurableSeq <= de.LastSeq) {
		_ = s.Close()
		if ok {
			return Accepted{}, fmt.Errorf("eventstore: the log is damaged in another way, not accepted: %w", de)
		}
		return Accepted{}, ErrNothingToAccept
	}
	var acc Accepted
	if lost {
		acc.HeadRecordLost = true
	} else {
		acc.MissingFrom, acc.MissingTo = de.MissingRange()
	}
	rep, err := s.Verify(ctx, nil)
	if err != nil {
		_ = s.Close()
		return Accepted{}, err
	}
	// The walk's only finding must be the end of the log: the first
	// missing record, or (head record lost) the one after the last.
	if rep.FirstBadSeq != de.LastSeq+1 || rep.Events != de.LastSeq {
		_ = s.Close()
		return Accepted{}, fmt.Errorf("eventstore: the records the log still has do not verify (first bad %d: %s); not accepted", rep.FirstBadSeq, rep.Reason)
	}
	head, hash := s.Head()
	gen := s.headRec.gen
	if err := s.Close(); err != nil {
		return Accepted{}, err
	}
	acc.Head = head
	hw, err := openHeadWriter(o.FS, s.dir, headRecord{gen: gen, seq: head, hash: hash}, o.NoSync)
	if err != nil {
		return Accepted{}, err
	}
	if err := hw.close(); err != nil {
		return Accepted{}, err
	}
	if lost {
		o.Logger.Warn("eventstore: accepted a log without its durable head record; a new head record names the log's last record",
			"dir", s.dir, "head", head)
	} else {
		o.Logger.Warn("eventstore: accepted the loss of acknowledged records; the durable head record now names the log's last record",
			"dir", s.dir, "missing_from", acc.MissingFrom, "missing_to", acc.MissingTo, "head", head)
	}
	return acc, nil
}
