package eventstore

import (
	"errors"
	"fmt"
)

// Errors of the store. Check them with errors.Is.
var (
	// ErrClosed is returned by calls on a closed Store.
	ErrClosed = errors.New("eventstore: closed")
	// ErrInvalidRequest marks a Request that no caller should send (nil or
	// incomplete Event, ExpectedVersion below AnyVersion): a programming
	// error, reported in Result.Err.
	ErrInvalidRequest = errors.New("eventstore: invalid request")
	// ErrFailed marks the error of every Append after a commit failed: the
	// writer's state may be out of step with the log, so the store refuses
	// appends until it is reopened.
	ErrFailed = errors.New("eventstore: store failed, reopen it")
	// ErrDamaged marks a log that ends before its durable head record, does
	// not match it, lost it, or whose last record cannot be read (a
	// *DamageError carries the details); run Verify to find the damage.
	ErrDamaged = errors.New("eventstore: the log is damaged")
	// ErrNoSpace marks a failure for want of disk space: Open refusing to
	// start below Options.MinFreeBytes, or Pebble failing to write.
	ErrNoSpace = errors.New("eventstore: no space left on the log's file system")
	// ErrReadOnly is returned by Append on a store opened ReadOnly.
	ErrReadOnly = errors.New("eventstore: opened read-only")
)

// DamageError is a log that lost or changed records it had acknowledged.
type DamageError struct {
	Dir        string
	LastSeq    uint64 // the last record found
	DurableSeq uint64 // the durable head record's sequence (0: unknown)
	Reason     string
	Archive    string // what Pebble wanted to delete and was kept, if anything
}

func (e *DamageError) Error() string {
	msg := fmt.Sprintf("eventstore: the log in %s is damaged: %s", e.Dir, e.Reason)
	if e.Archive != "" {
		msg += "; " + e.Archive
	}
	return msg + ". Nothing was deleted; restore the data dir from a backup (journey verify names the damage)"
}

func (e *DamageError) Unwrap() error { return ErrDamaged }

// MissingRange is the range of acknowledged records the log no longer
// has (0, 0 when none).
func (e *DamageError) MissingRange() (from, to uint64) {
	if e.DurableSeq > e.LastSeq {
		return e.LastSeq + 1, e.DurableSeq
	}
	return 0, 0
}
