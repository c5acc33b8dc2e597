package eventstore

// PROVISIONAL CONTRACT: signatures other packages build against. The
// eventstore work replaces the bodies (and may move them to other files),
// keeping these names and meanings.

import (
	"context"
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

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("eventstore: closed")

// Store is the append-only touchpoint log on Pebble.
type Store struct{}

// Open opens (creating if needed) the log in dir.
func Open(dir string, opts *Options) (*Store, error) { panic("TODO") }

// Close stops the writer after the batch in flight and closes Pebble.
func (s *Store) Close() error { panic("TODO") }

// Append appends reqs in order; concurrent calls are merged by one writer
// into one Pebble batch and one fsync. It returns after the fsync. A
// non-nil error means the store failed and nothing in reqs is acknowledged.
func (s *Store) Append(ctx context.Context, reqs []Request) ([]Result, error) { panic("TODO") }

// DurableSeq is the highest sequence known to be fsynced.
func (s *Store) DurableSeq() uint64 { panic("TODO") }

// Head returns the durable head sequence and its hash.
func (s *Store) Head() (uint64, [32]byte) { panic("TODO") }

// WaitDurable blocks until DurableSeq() > after or ctx ends, returning DurableSeq().
func (s *Store) WaitDurable(ctx context.Context, after uint64) (uint64, error) { panic("TODO") }

// Scan calls fn for records from..to inclusive (to 0: up to DurableSeq) in
// sequence order. rec and its slices are valid only during the call.
func (s *Store) Scan(ctx context.Context, from, to uint64, fn func(rec *Record) error) error {
	panic("TODO")
}

// CustomerEvents returns up to limit (0: all) of the customer's records
// with version > afterVersion, oldest first.
func (s *Store) CustomerEvents(ctx context.Context, customer string, afterVersion uint64, limit int) ([]Record, error) {
	panic("TODO")
}

// CustomerVersion is the customer's current version (0: no events).
func (s *Store) CustomerVersion(customer string) (uint64, error) { panic("TODO") }

// Get returns the record with event id, found false when none.
func (s *Store) Get(id string) (rec Record, found bool, err error) { panic("TODO") }

// Verify walks the whole hash chain; progress (may be nil) is called now and then.
func (s *Store) Verify(ctx context.Context, progress func(seq uint64)) (VerifyReport, error) {
	panic("TODO")
}

// Quarantine keeps rejected input durably (fsynced) and returns its sequence.
func (s *Store) Quarantine(ctx context.Context, e QuarantineEntry) (uint64, error) { panic("TODO") }

// QuarantineScan calls fn for each entry, oldest first.
func (s *Store) QuarantineScan(ctx context.Context, fn func(e *QuarantineEntry) error) error {
	panic("TODO")
}

// QuarantineCount is the number of entries in quarantine.
func (s *Store) QuarantineCount() uint64 { panic("TODO") }

// QuarantineDelete removes an entry (after a successful retry).
func (s *Store) QuarantineDelete(seq uint64) error { panic("TODO") }
