package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/journey-cdp/journey/internal/freshwal"
	"github.com/journey-cdp/journey/internal/pebbleguard"
	"github.com/journey-cdp/journey/internal/rofs"
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
	db    *pebble.DB
	opts  Options
	dir   string
	guard *guardFS

	sealed bool     // the log stores events sealed per customer (seal.go)
	sealer Sealer   // nil when sealed but opened without keys: contents unreadable
	carry  *carrier // the sealer is a KeyCarrier: its new keys ride in the log's batches (carry.go)

	// The durable head record: as read at Open (headRec, headKnown: the
	// file existed and was valid) and its writer (nil when read-only or
	// damaged).
	headRec   headRecord
	headKnown bool
	headErr   string // why the log cannot be checked against a head record (unreadable or lost file)
	head      *headWriter
	// headMeta: the log holds metaHeadFile (it had a head record);
	// headLost: yet the head file is missing (a *DamageError at Open).
	headMeta bool
	headLost bool

	noSpace       chan struct{} // closed on the first ENOSPC from Pebble
	noSpaceOnce   sync.Once
	noSpaceLogged atomic.Bool
	damaged       chan struct{} // closed once a background job found a table corrupt
	damagedOnce   sync.Once

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

// PebbleOptions returns the Pebble options the log is opened with, tuned
// for an append-mostly log: a 16 MiB memtable (Pebble preallocates each
// WAL at 110% of it and keeps up to five, so the disk a small log takes
// stays small: about 90 MiB of WALs at most); a 256 MiB block cache
// (Pebble charges memtables to it: with a cache no larger than the
// memtables, no block stays cached and every history read goes to disk);
// bloom filters on every level (the writer probes the id index on every
// append); 4 KiB blocks (a customer's history reads one record per block
// all over the log, so small blocks are cheaper to read cold); no WAL
// bytes-per-sync (every commit that matters is fsynced anyway); a generous
// L0 stop threshold so that bulk imports do not stall on compactions.
// On-disk corruption is logged (not fatal) and surfaces as read errors.
// fs nil means the OS file system, logger nil none. The store
// benchmark opens its raw Pebble baseline with the same options.
func PebbleOptions(fs vfs.FS, logger *slog.Logger) *pebble.Options {
	o := &pebble.Options{
		FS:                          fs,
		FormatMajorVersion:          pebble.FormatNewest,
		MemTableSize:                DefaultMemTableSize,
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
		logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = pebbleLogger{logger}
	// Pebble's default for on-disk corruption is a fatal log; a damaged log
	// must instead surface as read errors that Verify reports.
	// Logged once per file: a retried compaction finds it again and again.
	var seen sync.Map
	o.EventListener = &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
		if _, again := seen.LoadOrStore(info.Path, true); again {
			return
		}
		var detail string
		if info.Details != nil {
			detail = describeFile(info.Details)
		}
		logger.Error("a file of the log is corrupt; what it holds cannot be read (journey verify names the records)", "file", info.Path, "detail", detail)
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

// Fatalf panics with a pebbleguard.Fatal (Pebble's default would exit the
// process). The syncer recovers it around its commit, so that a failed WAL
// write or fsync fails the batch's callers and the store instead of being
// acknowledged; elsewhere it crashes the process, as Pebble intends.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("pebble fatal: " + msg)
	panic(pebbleguard.Fatal(msg))
}

// Open opens (creating if needed) the log in dir.
//
// It recovers the head sequence and hash from the last record and checks
// them against the durable head record (see HeadFileName): a log that ends
// before the head it had fsynced, whose record at that sequence has
// another hash, or whose last record cannot be read is damaged, and so is
// a log whose head record file is missing though the log had one (it
// remembers that in its meta key "m/headfile", written by the first
// writable Open that has the file); Open fails with a *DamageError
// (errors.Is ErrDamaged) naming the problem — unless Options.AllowDamaged
// is set (journey verify), in which case the store opens so that Verify
// can name the damage, and Append refuses with that error. Files Pebble wanted to delete that the store cannot prove
// obsolete are kept under ArchiveDirName.
//
// Opening for writing needs Options.MinFreeBytes free on the file system
// (ErrNoSpace otherwise, at once, instead of Pebble retrying its flush for
// ever); Options.ReadOnly needs none and writes nothing.
func Open(dir string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	dir = filepath.Clean(dir)
	if !o.ReadOnly {
		if err := checkFree(o.FS, dir, o.MinFreeBytes); err != nil {
			return nil, fmt.Errorf("open %s: %w", dir, err) // err names the package
		}
	}
	fs := o.FS
	if o.ReadOnly {
		// Pebble locks the directory even read-only; on a read-only file
		// system nothing can be writing, and the lock cannot be taken.
		fs = rofs.FS(fs)
	}
	if o.Sealer != nil {
		// A reused WAL keeps its old tail on disk: a sealed log, whose
		// quarantine may hold a forgotten customer's bytes, never reuses one.
		fs = freshwal.FS(fs)
	}
	g, err := newGuardFS(fs, dir, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("eventstore: open %s: %w", dir, err)
	}
	s := &Store{
		opts:     o,
		dir:      dir,
		guard:    g,
		reqCh:    make(chan *pending, reqQueue),
		stopped:  make(chan struct{}),
		syncCh:   make(chan *inflight, 1),
		slots:    make(chan struct{}, 1),
		closing:  make(chan struct{}),
		headWake: make(chan struct{}),
		noSpace:  make(chan struct{}),
		damaged:  make(chan struct{}),
	}
	po := PebbleOptions(g, o.Logger)
	if o.CacheSize > 0 {
		po.CacheSize = o.CacheSize
	}
	po.ReadOnly = o.ReadOnly
	if o.MemTableSize > 0 {
		po.MemTableSize = uint64(o.MemTableSize)
	}
	g.listener(po.EventListener)
	po.EventListener.BackgroundError = s.backgroundError
	db, err := pebble.Open(dir, po)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			err = fmt.Errorf("%w: %v", ErrNoSpace, err)
		}
		if isCorruption(err) {
			return nil, &DamageError{Dir: dir, Reason: "Pebble cannot open it: " + describe(err), Archive: g.archivedSummary()}
		}
		return nil, fmt.Errorf("eventstore: open %s: %w", dir, err)
	}
	s.db = db
	s.rdCond.L = &s.rdMu
	head, hash, damage := s.checkHead()
	if damage != nil {
		if !o.AllowDamaged {
			_ = db.Close()
			return nil, damage
		}
		o.Logger.Error("eventstore: the log is damaged; appends refused", "dir", dir, "err", damage)
		var err error = damage
		s.failed.Store(&err)
	} else if !o.ReadOnly {
		g.trust()
		if sum := g.archivedSummary(); sum != "" {
			o.Logger.Warn("eventstore: "+sum+"; the log matches its durable head record, run journey verify to check the rest", "dir", dir)
		}
	}
	s.durable.Store(head)
	s.headHash = hash
	if err := s.initSealed(head); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("eventstore: open %s: %w", dir, err)
	}
	if kc, ok := s.sealer.(KeyCarrier); ok {
		s.carry = &carrier{kc: kc, wake: make(chan struct{}, 1), done: make(chan struct{})}
		if err := s.restoreCarried(); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("eventstore: open %s: %w", dir, err)
		}
	}
	if err := s.recoverQuarantine(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("eventstore: open %s: %w", dir, err)
	}
	if o.ReadOnly {
		err := error(ErrReadOnly)
		if s.failed.Load() == nil {
			s.failed.Store(&err)
		}
	} else if damage == nil {
		hw, err := openHeadWriter(o.FS, dir, headRecord{gen: s.headRec.gen, seq: head, hash: hash}, o.NoSync)
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("eventstore: open %s: %w", dir, err)
		}
		s.head = hw
		if !s.headMeta {
			// From now on the log remembers that it has a head record, so
			// that losing the file is damage, not an older log.
			if err := s.db.Set(metaHeadFile, []byte{1}, s.writeOpts()); err != nil {
				_ = hw.close()
				_ = db.Close()
				return nil, fmt.Errorf("eventstore: open %s: record that the log has a durable head record: %w", dir, err)
			}
			s.headMeta = true
		}
	}
	s.w = newWriter(s, head, hash)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.w.run() }()
	go func() { defer s.wg.Done(); s.syncLoop() }()
	if s.carry != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.settle() }()
	}
	go func() { s.wg.Wait(); close(s.stopped) }()
	return s, nil
}

// checkHead recovers the head from the last record and compares it with
// the durable head record. It returns the head to continue from and, for
// a damaged log, a *DamageError.
func (s *Store) checkHead() (uint64, [32]byte, error) {
	head, hash, herr := s.recoverHead()
	rec, exists, rerr := readHead(s.opts.FS, s.dir)
	meta, merr := s.hasHeadMeta()
	s.headMeta = meta
	s.headRec, s.headKnown = rec, exists && rerr == nil
	if rerr != nil {
		s.headErr = fmt.Sprintf("the durable head record %s cannot be read (%v): the log's length cannot be checked", HeadFileName, rerr)
	}
	damaged := func(last uint64, reason string) (uint64, [32]byte, error) {
		return head, hash, &DamageError{Dir: s.dir, LastSeq: last, DurableSeq: rec.seq, Reason: reason, Archive: s.guard.archivedSummary()}
	}
	switch {
	case herr != nil:
		return damaged(0, "the last record of the log cannot be read: "+describe(herr))
	case rerr != nil:
		return damaged(head, fmt.Sprintf("the durable head record %s cannot be read: %v", HeadFileName, rerr))
	case merr != nil && !exists:
		s.headErr = fmt.Sprintf("the durable head record %s is missing, and whether this log had one cannot be read (%s): the log's length cannot be checked", HeadFileName, describe(merr))
		return damaged(head, s.headErr)
	case !exists && meta:
		s.headLost = true
		s.headErr = headLostReason(head)
		return damaged(head, s.headErr)
	case !exists:
		if head > 0 {
			s.opts.Logger.Warn("eventstore: the log has no durable head record yet (written by an older journey); starting one at its last record", "dir", s.dir, "seq", head)
		}
		return head, hash, nil
	case head < rec.seq:
		return damaged(head, fmt.Sprintf("the log ends at sequence %d but %d were fsynced and acknowledged (durable head record %s): records %d..%d are missing",
			head, rec.seq, HeadFileName, head+1, rec.seq))
	case rec.seq == 0:
		return head, hash, nil
	}
	got, err := s.recordHash(rec.seq)
	if err != nil {
		return damaged(head, fmt.Sprintf("record %d (the durable head) cannot be read: %v", rec.seq, err))
	}
	if got != rec.hash {
		return damaged(head, fmt.Sprintf("record %d has hash %x, but the durable head record says %x: the log was rewritten or damaged",
			rec.seq, got[:8], rec.hash[:8]))
	}
	return head, hash, nil
}

// metaHeadFile in the log marks a log that has had a durable head record
// (HeadFileName): written once its head file exists, never removed. A
// log with the mark and without the file lost the file; a log without
// either was written by an older journey.
var metaHeadFile = []byte("m/headfile")

// hasHeadMeta reports whether the log holds metaHeadFile.
func (s *Store) hasHeadMeta() (bool, error) {
	_, closer, err := s.db.Get(metaHeadFile)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// headLostReason is the damage of a log, ending at head, that had a
// durable head record and no longer has its file.
func headLostReason(head uint64) string {
	return fmt.Sprintf("the durable head record %s is missing, though this log had one: whether acknowledged records after sequence %d were lost cannot be checked", HeadFileName, head)
}

// recordHash reads the stored hash of record seq.
func (s *Store) recordHash(seq uint64) ([32]byte, error) {
	var h [32]byte
	v, closer, err := s.db.Get(eventKey(nil, seq))
	if err != nil {
		return h, err
	}
	defer closer.Close()
	var r recordView
	if err := parseRecord(v, &r); err != nil || r.seq != seq {
		return h, fmt.Errorf("record %d: %w", seq, errMalformed)
	}
	copy(h[:], r.hash)
	return h, nil
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
	var herr error
	if s.head != nil {
		herr = s.head.close()
	}
	if c, ok := s.opts.Sealer.(interface{ Close() error }); ok && s.opts.CloseSealer {
		herr = errors.Join(herr, c.Close())
	}
	// Pebble's Close waits for its background flush, which on a full disk
	// retries for ever: do not wait for it then. Everything acknowledged
	// is in the fsynced WAL; the process is expected to exit.
	done := make(chan error, 1)
	go func() { done <- s.db.Close() }()
	select {
	case err := <-done:
		return errors.Join(herr, err)
	case <-s.noSpace:
		select {
		case err := <-done:
			return errors.Join(herr, err)
		case <-time.After(closeNoSpaceWait):
			return fmt.Errorf("eventstore: close %s: Pebble cannot flush for want of disk space; left open (every acknowledged event is in the fsynced WAL): %w", s.dir, ErrNoSpace)
		}
	}
}

// closeNoSpaceWait is how long Close waits for Pebble after an ENOSPC.
var closeNoSpaceWait = 2 * time.Second

// backgroundError is Pebble's EventListener.BackgroundError. A flush or
// compaction that fails for want of space is retried by Pebble at once and
// for ever; the store then refuses appends (ErrNoSpace), signals NoSpace,
// and slows the retry loop down (the callback runs inside it).
func (s *Store) backgroundError(err error) {
	if isCorruption(err) {
		// Pebble retries a compaction that read a corrupt table at once
		// and for ever (and a manual compaction waits behind it): the log
		// is damaged, so refuse appends naming it, and slow the retries.
		s.corrupt(err, "a background compaction")
		time.Sleep(corruptBackoff)
		return
	}
	if !errors.Is(err, syscall.ENOSPC) {
		s.opts.Logger.Error("pebble: background error", "err", err)
		return
	}
	if s.noSpaceLogged.CompareAndSwap(false, true) {
		s.opts.Logger.Error("eventstore: no space left on the log's file system; appends refused until space is freed and the store reopened", "dir", s.dir, "err", err)
	}
	s.fail(fmt.Errorf("%w: %v", ErrNoSpace, err))
	time.Sleep(noSpaceBackoff)
}

// noSpaceBackoff slows Pebble's flush retries on a full disk.
var noSpaceBackoff = 100 * time.Millisecond

// corruptBackoff slows Pebble's retries of a compaction that reads a
// corrupt table (they cannot succeed).
var corruptBackoff = time.Second

// corrupt records that Pebble found a table of the log corrupt while
// doing what (a compaction): appends are refused from then on with a
// *DamageError (also ErrFailed, so that an ingester stops), logged once,
// and Damaged is closed. It returns the store's failure.
func (s *Store) corrupt(err error, what string) error {
	s.damagedOnce.Do(func() {
		de := &DamageError{Dir: s.dir, Reason: what + " found a table of the log corrupt: " + describeFile(err)}
		var f error = damagedFailure{de}
		if s.failed.CompareAndSwap(nil, &f) {
			s.opts.Logger.Error("eventstore: the log is damaged; appends refused", "dir", s.dir, "reason", de.Reason)
		}
		close(s.damaged)
	})
	return s.failure()
}

// damagedFailure is the store's failure once a table was found corrupt:
// a *DamageError that is also ErrFailed.
type damagedFailure struct{ *DamageError }

func (e damagedFailure) Unwrap() []error { return []error{ErrFailed, e.DamageError} }

// NoSpace is closed once Pebble failed to write for want of disk space.
func (s *Store) NoSpace() <-chan struct{} { return s.noSpace }

// checkFree fails with ErrNoSpace when dir's file system has less than
// min bytes available (min < 0: no check).
func checkFree(fs vfs.FS, dir string, min int64) error {
	if min < 0 {
		return nil
	}
	path := dir
	for {
		if _, err := fs.Stat(path); err == nil {
			break
		}
		parent := filepath.Dir(path)
		if parent == path {
			return nil
		}
		path = parent
	}
	du, err := fs.GetDiskUsage(path)
	if err != nil {
		return nil // not every file system tells; Pebble will report a failed write
	}
	if int64(du.AvailBytes) < min {
		return fmt.Errorf("%w: %s free, need at least %s to open the log for writing (free space and retry; verify and the read commands need none)",
			ErrNoSpace, mib(du.AvailBytes), mib(uint64(min)))
	}
	return nil
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

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
	wrapped := fmt.Errorf("%w: %w", ErrFailed, err)
	if errors.Is(err, ErrNoSpace) {
		s.noSpaceOnce.Do(func() { close(s.noSpace) })
	}
	if s.failed.CompareAndSwap(nil, &wrapped) {
		s.opts.Logger.Error("eventstore: commit failed; appends refused until reopen", "err", err)
		return wrapped
	}
	return *s.failed.Load()
}

// Failure is why the store refuses appends (failed commit, no space,
// damaged, read-only), or nil.
func (s *Store) Failure() error { return s.failure() }

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
