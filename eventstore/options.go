package eventstore

import (
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

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
	// when opening for writing; 0: DefaultMinFreeBytes or twice
	// MemTableSize if that is more, <0: no check.
	MinFreeBytes int64
	// MemTableSize is Pebble's memtable size in bytes; 0: DefaultMemTableSize.
	MemTableSize int64
	// Sealer encrypts each customer's events under their own key (see
	// Sealer). A log created with one is sealed for good; a log created
	// without one stays plaintext even when opened with one.
	Sealer Sealer
	// CloseSealer makes Close close the Sealer too (when it has a Close
	// method): for a Sealer opened only for this store.
	CloseSealer bool
}

// DefaultMemTableSize is the log's memtable size. Pebble preallocates
// each WAL at 110% of it and recycles up to five WALs.
const DefaultMemTableSize = 16 << 20

// DefaultMinFreeBytes is the free space Open needs to open the log for
// writing: room for a memtable's WAL and its flush.
const DefaultMinFreeBytes = 64 << 20

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Clock == nil {
		r.Clock = time.Now
	}
	if r.MaxBatchEvents <= 0 {
		r.MaxBatchEvents = 8192
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.FS == nil {
		r.FS = vfs.Default
	}
	if r.MinFreeBytes == 0 {
		// Room for a memtable's WAL and its flush.
		r.MinFreeBytes = max(DefaultMinFreeBytes, 2*r.MemTableSize)
	}
	return r
}
