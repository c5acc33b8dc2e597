package eventstore

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
)

// AnyVersion as Request.ExpectedVersion disables the optimistic check.
const AnyVersion int64 = -1

// Options configure a Store. A nil *Options means defaults.
type Options struct {
	FS             vfs.FS           // nil: the OS file system
	Clock          func() time.Time // record time; nil: time.Now
	MaxBatchEvents int              // group-commit cap per Pebble batch; 0: 8192
	NoSync         bool             // benchmarks and tests only: skip fsync
	Logger         *slog.Logger     // nil: discard
	// CacheSize is the Pebble block cache in bytes (0: PebbleOptions'
	// 256 MiB). A bulk reader of the whole log (rebuild, as-of folds)
	// gains little from a large cache, which then only takes memory.
	CacheSize int64
	// ReadOnly opens the log without writing anything (Pebble read-only:
	// the WAL is replayed in memory): Append returns ErrReadOnly. It needs
	// no free space, so verify and the read commands work on a full disk.
	ReadOnly bool
	// AllowDamaged opens a damaged log (see Open) so that Verify can name
	// the damage; Append then refuses with the damage.
	AllowDamaged bool
	// MinFreeBytes is the free space Open needs on the log's file system
	// when opening for writing; 0: DefaultMinFreeBytes, <0: no check.
	MinFreeBytes int64
	// MemTableSize is Pebble's memtable size in bytes; 0: DefaultMemTableSize.
	MemTableSize int64
}

// DefaultMemTableSize is the log's memtable size. Pebble preallocates
// each WAL at 110% of it and recycles up to five WALs.
const DefaultMemTableSize = 16 << 20

// DefaultMinFreeBytes is the free space Open needs to open the log for
// writing: room for a memtable's WAL and its flush.
const DefaultMinFreeBytes = 64 << 20

// Request is one event to append. ExpectedVersion is the customer's
// current version the caller expects (0: no events yet), or AnyVersion.
type Request struct {
	Event           *journey.Event
	ExpectedVersion int64
}

// Result is the outcome of one Request. Err is nil on success and a
// *journey.Error (CodeVersionConflict, CodeIDConflict) when the request was
// refused; a refused request writes nothing.
type Result struct {
	Seq       uint64
	Version   uint64
	Duplicate bool
	Err       error
}

// Record is one stored event with the engine's own record.
type Record struct {
	Seq        uint64
	Version    uint64 // per-customer, from 1
	RecordedAt time.Time
	EventTime  time.Time
	ID         string
	Customer   string
	Type       journey.Kind
	Raw        []byte // the event's bytes exactly as received
	Hash       [32]byte
}

// VerifyReport is the outcome of walking the hash chain.
type VerifyReport struct {
	OK          bool
	Events      uint64
	Head        [32]byte
	FirstBadSeq uint64 // 0 when OK
	Reason      string // why FirstBadSeq failed
}

// QuarantineEntry is rejected raw input kept with its reason.
type QuarantineEntry struct {
	Seq        uint64 // quarantine's own sequence, from 1
	ReceivedAt time.Time
	Code       journey.Code
	Field      string
	Reason     string // the full error message
	Origin     string // where it came from: "import", "nats:<subject>", "http", "request"
	Raw        []byte
}

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
	// not match it, or whose last record cannot be read (a *DamageError
	// carries the details); run Verify to find the damage.
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
