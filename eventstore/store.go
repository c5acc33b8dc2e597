package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is the append-only touchpoint log on Pebble.
//
// Concurrency: every method is safe for concurrent use. One writer
// goroutine owns sequence assignment, the head hash and the customer
// version cache; a syncer goroutine waits for each batch's fsync in commit
// order, then publishes the durable position and completes the callers.
// Readers use Pebble iterators and never go past DurableSeq.
type Store struct {
	db   *pebble.DB
	opts Options

	reqCh   chan *pending  // Append → writer
	stopped chan struct{}  // closed when the writer and syncer have finished
	syncCh  chan *inflight // writer → syncer, in commit order
	slots   chan struct{}  // held by the one batch between handoff and completion
	closing chan struct{}
	closeMu sync.Once
	wg      sync.WaitGroup

	// Readers (and Quarantine) count themselves in rd; Close marks the store
	// closed, then waits for the count to drop to zero before closing
	// Pebble. Reads may nest (a Scan callback may call Get).
	rdMu    sync.Mutex
	rdCond  sync.Cond
	readers int
	closed  bool

	failed atomic.Pointer[error] // set once: the writer refuses appends

	durable  atomic.Uint64 // DurableSeq
	headMu   sync.Mutex    // guards headHash, headWake
	headHash [32]byte
	headWake chan struct{} // closed and replaced when durable advances

	qMu    sync.Mutex // serializes quarantine sequence assignment
	qSeq   uint64
	qCount atomic.Uint64

	w *writer
}

// maxBatchBytes caps the record bytes of one group-commit batch.
const maxBatchBytes = 16 << 20

// reqQueue is how many Append calls may wait for the writer without
// blocking their goroutine.
const reqQueue = 1024

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
		r.Logger = slog.Default()
	}
	return r
}

// PebbleOptions returns the Pebble options the log is opened with, tuned
// for an append-mostly log: a 64 MiB memtable; a 256 MiB block cache
// (Pebble charges memtables to it: with a cache no larger than the
// memtables, no block stays cached and every history read goes to disk);
// bloom filters on every level (the writer probes the id index on every
// append); 4 KiB blocks (a customer's history reads one record per block
// all over the log, so small blocks are cheaper to read cold); no WAL
// bytes-per-sync (every commit that matters is fsynced anyway); a generous
// L0 stop threshold so that bulk imports do not stall on compactions.
// On-disk corruption is logged (not fatal) and surfaces as read errors.
// fs nil means the OS file system, logger nil slog.Default(). The store
// benchmark opens its raw Pebble baseline with the same options.
func PebbleOptions(fs vfs.FS, logger *slog.Logger) *pebble.Options {
	o := &pebble.Options{
		FS:                          fs,
		FormatMajorVersion:          pebble.FormatNewest,
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		LBaseMaxBytes:               256 << 20,
		WALBytesPerSync:             0,
		BytesPerSync:                1 << 20,
		CacheSize:                   256 << 20, // memtables are charged to it
		MaxOpenFiles:                1000,
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if logger == nil {
		logger = slog.Default()
	}
	o.Logger = pebbleLogger{logger}
	// Pebble's default for on-disk corruption is a fatal log; a damaged log
	// must instead surface as read errors that Verify reports.
	o.EventListener = &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
		logger.Error("pebble: data corruption", "info", info.String())
	}}
	for i := range o.Levels {
		o.Levels[i].BlockSize = 4 << 10
		o.Levels[i].IndexBlockSize = 256 << 10
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].FilterType = pebble.TableFilter
	}
	o.CompactionConcurrencyRange = func() (int, int) { return 1, 2 }
	return o
}

// pebbleLogger sends Pebble's chatter to slog: info at debug level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf panics with a pebbleFatal (Pebble's default would exit the
// process). The syncer recovers it around its commit, so that a failed WAL
// write or fsync fails the batch's callers and the store instead of being
// acknowledged; elsewhere it crashes the process, as Pebble intends.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("pebble fatal: " + msg)
	panic(pebbleFatal(msg))
}

// pebbleFatal is the panic value of pebbleLogger.Fatalf.
type pebbleFatal string

func (f pebbleFatal) Error() string { return string(f) }

// Open opens (creating if needed) the log in dir.
//
// It recovers the head sequence and hash from the last record. When that
// record cannot be read (the log is damaged), Open still succeeds so that
// Verify can name the damage, but Append returns ErrDamaged.
func Open(dir string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	po := PebbleOptions(o.FS, o.Logger)
	if o.CacheSize > 0 {
		po.CacheSize = o.CacheSize
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("eventstore: open %s: %w", dir, err)
	}
	s := &Store{
		db:       db,
		opts:     o,
		reqCh:    make(chan *pending, reqQueue),
		stopped:  make(chan struct{}),
		syncCh:   make(chan *inflight, 1),
		slots:    make(chan struct{}, 1),
		closing:  make(chan struct{}),
		headWake: make(chan struct{}),
	}
	s.rdCond.L = &s.rdMu
	head, hash, herr := s.recoverHead()
	if herr != nil {
		o.Logger.Error("eventstore: cannot read the head of the log; appends refused until it is repaired", "dir", dir, "err", herr)
		damaged := fmt.Errorf("%w: %v", ErrDamaged, herr)
		s.failed.Store(&damaged)
	}
	s.durable.Store(head)
	s.headHash = hash
	if err := s.recoverQuarantine(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("eventstore: open %s: %w", dir, err)
	}
	s.w = newWriter(s, head, hash)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.w.run() }()
	go func() { defer s.wg.Done(); s.syncLoop() }()
	go func() { s.wg.Wait(); close(s.stopped) }()
	return s, nil
}

// recoverHead reads the last record of the log.
func (s *Store) recoverHead() (uint64, [32]byte, error) {
	var hash [32]byte
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixEvent, UpperBound: prefixEnd(prefixEvent)})
	if err != nil {
		return 0, hash, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, hash, it.Error()
	}
	seq, ok := seqFromEventKey(it.Key())
	if !ok {
		return 0, hash, fmt.Errorf("bad event key %x", it.Key())
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return 0, hash, fmt.Errorf("read record %d: %w", seq, err)
	}
	var r recordView
	if err := parseRecord(v, &r); err != nil || r.seq != seq {
		return 0, hash, fmt.Errorf("record %d: %w", seq, errMalformed)
	}
	copy(hash[:], r.hash)
	return seq, hash, nil
}

// Close stops the writer after the batch in flight and closes Pebble.
func (s *Store) Close() error {
	first := false
	s.closeMu.Do(func() { first = true; close(s.closing) })
	if !first {
		return ErrClosed
	}
	s.wg.Wait()
	s.rdMu.Lock()
	s.closed = true
	for s.readers > 0 {
		s.rdCond.Wait()
	}
	s.rdMu.Unlock()
	s.headMu.Lock()
	close(s.headWake)
	s.headWake = nil
	s.headMu.Unlock()
	return s.db.Close()
}

// readLock holds the store open for a read; release with readUnlock.
func (s *Store) readLock() error {
	s.rdMu.Lock()
	defer s.rdMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.readers++
	return nil
}

func (s *Store) readUnlock() {
	s.rdMu.Lock()
	s.readers--
	if s.readers == 0 {
		s.rdCond.Broadcast()
	}
	s.rdMu.Unlock()
}

// DurableSeq is the highest sequence known to be fsynced.
func (s *Store) DurableSeq() uint64 { return s.durable.Load() }

// Head returns the durable head sequence and its hash.
func (s *Store) Head() (uint64, [32]byte) {
	s.headMu.Lock()
	defer s.headMu.Unlock()
	return s.durable.Load(), s.headHash
}

// WaitDurable blocks until DurableSeq() > after or ctx ends, returning DurableSeq().
func (s *Store) WaitDurable(ctx context.Context, after uint64) (uint64, error) {
	for {
		s.headMu.Lock()
		seq, wake := s.durable.Load(), s.headWake
		s.headMu.Unlock()
		if seq > after {
			return seq, nil
		}
		if wake == nil {
			return seq, ErrClosed
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return s.durable.Load(), ctx.Err()
		}
	}
}

// publish makes seq (with hash) the durable head and wakes waiters.
func (s *Store) publish(seq uint64, hash [32]byte) {
	s.headMu.Lock()
	s.headHash = hash
	s.durable.Store(seq)
	if s.headWake != nil {
		close(s.headWake)
		s.headWake = make(chan struct{})
	}
	s.headMu.Unlock()
}

// fail records the first store failure; later appends return it.
func (s *Store) fail(err error) error {
	wrapped := fmt.Errorf("%w: %v", ErrFailed, err)
	if s.failed.CompareAndSwap(nil, &wrapped) {
		s.opts.Logger.Error("eventstore: commit failed; appends refused until reopen", "err", err)
		return wrapped
	}
	return *s.failed.Load()
}

func (s *Store) failure() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// isCorruption reports whether err carries Pebble's corruption mark (a
// cockroachdb/errors mark, which the standard errors.Is does not see).
func isCorruption(err error) bool { return err != nil && pebble.IsCorruptionError(err) }

// WALFsyncLatency is Pebble's histogram of the log's WAL fsync durations,
// in nanoseconds (for metrics); ErrClosed once the store is closed.
func (s *Store) WALFsyncLatency() (prometheus.Histogram, error) {
	if err := s.readLock(); err != nil {
		return nil, err
	}
	defer s.readUnlock()
	h := s.db.Metrics().LogWriter.FsyncLatency
	if h == nil {
		return nil, errors.New("eventstore: Pebble keeps no WAL fsync histogram")
	}
	return h, nil
}
