package eventstore

import (
	"errors"
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
	Logger         *slog.Logger     // nil: slog.Default()
	// CacheSize is the Pebble block cache in bytes (0: PebbleOptions'
	// 256 MiB). A bulk reader of the whole log (rebuild, as-of folds)
	// gains little from a large cache, which then only takes memory.
	CacheSize int64
}

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
	// ErrDamaged is returned by Append when Open could not read the head of
	// the log; run Verify to find the damage.
	ErrDamaged = errors.New("eventstore: log head unreadable, run verify")
)
