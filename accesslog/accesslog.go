// Package accesslog is the engine's append-only access log: one entry for
// every read of one customer's data (the answer, the history, the export of
// that customer) by a named token — when, which token (its name, never its
// text), its role, which customer, which route. It never holds event
// contents.
//
// # Storage
//
// The log is its own small Pebble database under <data>/access, apart from
// the event log. A key is 't' + the entry's time (Unix nanoseconds, big
// endian, sign bit flipped so that order is time order) + a sequence
// number (big endian, unique within the database), so that a scan is in
// time order and pruning is one range deletion of the keys before the
// cutoff (Pebble drops the files it covers without rewriting them). The
// value holds the token name, role, customer and route, each a uvarint
// length and its bytes. An export filtered by customer scans the time range
// asked (Filter.Since, Filter.Until) and skips the other customers' entries:
// exports are rare, reads are not, so no second index is kept.
//
// # Cost and durability
//
// Record only appends the entry to an in-memory buffer; a background
// flusher writes the buffer in one Pebble batch, fsynced (pebble.Sync),
// every Options.FlushEvery (default 200 ms, at most 1 s) or as soon as
// flushBatch entries wait, and on Close. A crash (power loss, kill -9)
// loses at most the entries recorded in the last FlushEvery before it; a
// clean Close loses none.
//
// # A slow or failing disk
//
// An access log that silently drops entries is not trustworthy, and one
// that grows without bound takes the engine down. The buffer holds at most
// Options.MaxPending entries (plus the batch being written); a Record that
// finds it full blocks, up to Options.MaxWait (default 2 s), for the
// flusher to make room. Only past that wait is an entry given up: Record
// returns ErrFull, the entry is counted in journey_access_log_dropped_total
// and logged at error level (rate limited), so that a lost entry is never
// silent. While a batch fails to write it is kept and retried every
// FlushEvery; the failure is logged and counted in
// journey_access_log_write_errors_total.
package accesslog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/journey-cdp/journey/internal/rofs"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultRetention  = 400 * 24 * time.Hour
	DefaultFlushEvery = 200 * time.Millisecond
	DefaultPruneEvery = time.Hour
	DefaultMaxPending = 1 << 16
	DefaultMaxWait    = 2 * time.Second
	// flushBatch is how many waiting entries wake the flusher before its tick.
	flushBatch = 4096
)

// Errors.
var (
	// ErrFull is returned by Record when the buffer stayed full for
	// Options.MaxWait: the entry is not recorded (and is counted).
	ErrFull = errors.New("accesslog: buffer full (the disk is too slow or failing); entry dropped")
	// ErrClosed is returned by Record after Close.
	ErrClosed = errors.New("accesslog: closed")
	// ErrReadOnly is returned by Record on a log opened ReadOnly.
	ErrReadOnly = errors.New("accesslog: opened read-only")
	// ErrNoLog is returned by Open with ReadOnly when dir holds no access log.
	ErrNoLog = errors.New("accesslog: no access log")
)

// Entry is one read of one customer's data.
type Entry struct {
	Time     time.Time `json:"time"`     // when (zero at Record: the log's clock)
	Token    string    `json:"token"`    // the token's name, never its text
	Role     string    `json:"role"`     // the token's role
	Customer string    `json:"customer"` // whose data was read
	Route    string    `json:"route"`    // what read it, e.g. "GET /v1/customers/{id}"
}

// Filter selects entries for Export: a zero field selects all.
type Filter struct {
	Customer string    // only this customer's entries
	Since    time.Time // entries at or after Since
	Until    time.Time // entries before Until
}

// Options configure Open. Zero fields take their defaults.
type Options struct {
	// Retention is how long entries are kept (0: DefaultRetention): older
	// ones are pruned at Open and every PruneEvery.
	Retention time.Duration
	// FlushEvery is the longest an entry waits in memory before its batch
	// is written and fsynced (0: DefaultFlushEvery; more than 1 s: 1 s).
	FlushEvery time.Duration
	// PruneEvery is how often entries past Retention are pruned (0: DefaultPruneEvery).
	PruneEvery time.Duration
	// MaxPending bounds the buffered entries; MaxWait is how long a Record
	// waits for room before it gives up with ErrFull (0: defaults).
	MaxPending int
	MaxWait    time.Duration
	// ReadOnly opens an existing log for Export only (no flusher, no
	// pruning, nothing written).
	ReadOnly bool
	// FS is the file system (nil: the OS's); tests give a crashable one.
	FS     vfs.FS
	Clock  func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	// Registerer gets the log's metrics (nil: none): entries written,
	// dropped, write errors, entries waiting.
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	o.FlushEvery = min(o.FlushEvery, time.Second)
	if o.PruneEvery <= 0 {
		o.PruneEvery = DefaultPruneEvery
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Log is an open access log. Its methods are safe for concurrent use.
type Log struct {
	o  Options
	db *pebble.DB

	mu      sync.Mutex
	pending []keyed       // recorded, not yet being written
	room    chan struct{} // closed when the flusher takes pending
	seq     uint64        // last sequence number given
	closed  bool
	dropped uint64 // entries given up (ErrFull), for the rate-limited log line
	lastLog time.Time

	flushMu  sync.Mutex // one flush at a time
	inflight []keyed    // taken from pending, not yet written (kept on a failed write)

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	written, droppedC, writeErrs prometheus.Counter
}

type keyed struct {
	seq uint64
	e   Entry
}

// Open opens (creating unless ReadOnly) the access log in dir.
func Open(dir string, o Options) (*Log, error) {
	o = o.withDefaults()
	if o.ReadOnly {
		// Readable on a read-only file system too (a snapshot, a
		// restored backup): nothing can be writing it there.
		o.FS = rofs.FS(o.FS)
		names, _ := o.FS.List(dir)
		if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "MANIFEST-") }) {
			return nil, fmt.Errorf("%w in %s (no read of a customer has been recorded there yet)", ErrNoLog, dir)
		}
	} else if err := o.FS.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("accesslog: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{
		ReadOnly:           o.ReadOnly,
		FS:                 o.FS,
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       4 << 20,
		CacheSize:          8 << 20,
		Logger:             pebbleLogger{o.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("accesslog: open %s: %w", dir, err)
	}
	l := &Log{o: o, db: db, room: make(chan struct{}), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	if l.seq, err = l.lastSeq(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := l.metrics(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if o.ReadOnly {
		close(l.done)
		return l, nil
	}
	if err := l.Prune(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go l.run()
	return l, nil
}

func (l *Log) metrics() error {
	l.written = prometheus.NewCounter(prometheus.CounterOpts{Name: "journey_access_log_entries_total",
		Help: "Access-log entries (reads of one customer's data by a named token) written and fsynced."})
	l.droppedC = prometheus.NewCounter(prometheus.CounterOpts{Name: "journey_access_log_dropped_total",
		Help: "Access-log entries given up because the buffer stayed full (slow or failing disk); should stay 0."})
	l.writeErrs = prometheus.NewCounter(prometheus.CounterOpts{Name: "journey_access_log_write_errors_total",
		Help: "Failed writes of an access-log batch (kept and retried)."})
	if r := l.o.Registerer; r != nil && !l.o.ReadOnly {
		for _, c := range []prometheus.Collector{l.written, l.droppedC, l.writeErrs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "journey_access_log_pending", Help: "Access-log entries recorded but not yet written."},
			func() float64 { l.mu.Lock(); defer l.mu.Unlock(); return float64(len(l.pending)) })} {
			if err := r.Register(c); err != nil {
				return fmt.Errorf("accesslog: metrics: %w", err)
			}
		}
	}
	return nil
}

// Record adds e to the log (e.Time zero: now by the log's clock). It does
// not wait for the disk: the entry is written with its batch within
// Options.FlushEvery. It blocks only while the buffer is full, at most
// Options.MaxWait, then gives up with ErrFull (the entry counted as dropped).
func (l *Log) Record(e Entry) error {
	if l.o.ReadOnly {
		return ErrReadOnly
	}
	if e.Time.IsZero() {
		e.Time = l.o.Clock()
	}
	var deadline *time.Timer
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	l.mu.Lock()
	for {
		if l.closed {
			l.mu.Unlock()
			return ErrClosed
		}
		if len(l.pending) < l.o.MaxPending {
			break
		}
		room := l.room
		l.mu.Unlock()
		l.wake()
		if deadline == nil {
			deadline = time.NewTimer(l.o.MaxWait)
		}
		select {
		case <-room:
			l.mu.Lock()
		case <-deadline.C:
			l.drop()
			return ErrFull
		}
	}
	l.seq++
	l.pending = append(l.pending, keyed{l.seq, e})
	n := len(l.pending)
	l.mu.Unlock()
	if n == flushBatch {
		l.wake()
	}
	return nil
}

func (l *Log) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// drop counts an entry given up and says so, at most once a second.
func (l *Log) drop() {
	l.droppedC.Inc()
	l.mu.Lock()
	l.dropped++
	now := time.Now()
	say := now.Sub(l.lastLog) >= time.Second
	n := l.dropped
	if say {
		l.lastLog = now
	}
	l.mu.Unlock()
	if say {
		l.o.Logger.Error("access log: entries dropped, the buffer stayed full (slow or failing disk)",
			"dropped_total", n, "max_pending", l.o.MaxPending, "max_wait", l.o.MaxWait)
	}
}

func (l *Log) run() {
	defer close(l.done)
	flush := time.NewTicker(l.o.FlushEvery)
	defer flush.Stop()
	prune := time.NewTicker(l.o.PruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-prune.C:
			if err := l.Prune(); err != nil {
				l.o.Logger.Error("access log: prune failed", "err", err)
			}
			continue
		case <-flush.C:
		case <-l.kick:
		}
		if err := l.Flush(); err != nil {
			l.o.Logger.Error("access log: write failed, the batch is kept and retried", "err", err)
		}
	}
}

// Flush writes and fsyncs every entry recorded before it. Export calls it,
// so that an export sees every read recorded before it began.
func (l *Log) Flush() error {
	if l.o.ReadOnly {
		return nil
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if len(l.inflight) == 0 {
		l.mu.Lock()
		if len(l.pending) > 0 {
			l.inflight, l.pending = l.pending, l.inflight[:0]
			close(l.room) // wake the Records waiting for room
			l.room = make(chan struct{})
		}
		l.mu.Unlock()
	}
	if len(l.inflight) == 0 {
		return nil
	}
	b := l.db.NewBatch()
	defer b.Close()
	var key [17]byte
	var val []byte
	for i := range l.inflight {
		k := &l.inflight[i]
		val = encodeValue(val[:0], &k.e)
		if err := b.Set(putKey(key[:], k.e.Time, k.seq), val, nil); err != nil {
			l.writeErrs.Inc()
			return fmt.Errorf("accesslog: %w", err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		l.writeErrs.Inc()
		return fmt.Errorf("accesslog: write %d entries: %w", len(l.inflight), err)
	}
	l.written.Add(float64(len(l.inflight)))
	clear(l.inflight) // drop the strings' references
	l.inflight = l.inflight[:0]
	return nil
}

// Prune deletes the entries older than Options.Retention (by the log's
// clock). Open and the flusher (every Options.PruneEvery) call it.
func (l *Log) Prune() error {
	if l.o.ReadOnly {
		return ErrReadOnly
	}
	cutoff := l.o.Clock().Add(-l.o.Retention)
	var lo, hi [17]byte
	if err := l.db.DeleteRange(putKey(lo[:], minTime, 0), putKey(hi[:], cutoff, 0), pebble.Sync); err != nil {
		return fmt.Errorf("accesslog: prune before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// Export calls fn with every entry that f selects, in time order (entries
// of the same instant in the order recorded), after writing what was
// recorded before the call. An error of fn stops it and is returned.
func (l *Log) Export(ctx context.Context, f Filter, fn func(Entry) error) error {
	if err := l.Flush(); err != nil {
		return err
	}
	var lo, hi [17]byte
	io := &pebble.IterOptions{LowerBound: []byte{'t'}, UpperBound: []byte{'u'}}
	if !f.Since.IsZero() {
		io.LowerBound = putKey(lo[:], f.Since, 0)
	}
	if !f.Until.IsZero() {
		io.UpperBound = putKey(hi[:], f.Until, 0)
	}
	it, err := l.db.NewIterWithContext(ctx, io)
	if err != nil {
		return fmt.Errorf("accesslog: %w", err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		e, err := decode(it.Key(), it.Value())
		if err != nil {
			return err
		}
		if f.Customer != "" && e.Customer != f.Customer {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("accesslog: %w", err)
	}
	return nil
}

// Close writes what is buffered (fsynced), stops the flusher and closes
// the database. Record after Close returns ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	var err error
	if !l.o.ReadOnly {
		close(l.stop)
		<-l.done
		if err = l.Flush(); err != nil {
			l.mu.Lock()
			n := len(l.pending) + len(l.inflight)
			l.mu.Unlock()
			l.o.Logger.Error("access log: entries lost at close", "entries", n, "err", err)
		}
	}
	if cerr := l.db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("accesslog: %w", cerr)
	}
	return err
}

// lastSeq is the highest sequence number in the database (0: none).
func (l *Log) lastSeq() (uint64, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'t'}, UpperBound: []byte{'u'}})
	if err != nil {
		return 0, fmt.Errorf("accesslog: %w", err)
	}
	defer it.Close()
	// Keys are in time order and sequence numbers in record order; a clock
	// set back breaks the match, so take the largest of the last entries.
	// A new key can then only collide with an old one that has both its
	// instant (to the nanosecond) and its sequence number.
	var last uint64
	n := 0
	for ok := it.Last(); ok && n < 1024; ok = it.Prev() {
		if k := it.Key(); len(k) == 17 {
			last = max(last, binary.BigEndian.Uint64(k[9:]))
		}
		n++
	}
	return last, it.Error()
}

// The instants a key can hold (those of Unix nanoseconds in an int64,
// years 1678 to 2262); others are clamped to them.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// putKey writes 't' + time + seq into dst (17 bytes) and returns it.
func putKey(dst []byte, t time.Time, seq uint64) []byte {
	if t.Before(minTime) {
		t = minTime
	} else if t.After(maxTime) {
		t = maxTime
	}
	dst[0] = 't'
	binary.BigEndian.PutUint64(dst[1:], uint64(t.UnixNano())^(1<<63))
	binary.BigEndian.PutUint64(dst[9:], seq)
	return dst[:17]
}

func encodeValue(dst []byte, e *Entry) []byte {
	for _, s := range [...]string{e.Token, e.Role, e.Customer, e.Route} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

func decode(key, val []byte) (Entry, error) {
	if len(key) != 17 || key[0] != 't' {
		return Entry{}, fmt.Errorf("accesslog: damaged key %x", key)
	}
	e := Entry{Time: time.Unix(0, int64(binary.BigEndian.Uint64(key[1:])^(1<<63))).UTC()}
	for _, p := range [...]*string{&e.Token, &e.Role, &e.Customer, &e.Route} {
		n, w := binary.Uvarint(val)
		if w <= 0 || n > uint64(len(val)-w) {
			return Entry{}, fmt.Errorf("accesslog: damaged entry at key %x", key)
		}
		*p = string(val[w : w+int(n)])
		val = val[w+int(n):]
	}
	return e, nil
}

// pebbleLogger sends Pebble's chatter to slog: info at debug level; a
// fatal error is logged, then panics (Pebble's Fatalf must not return).
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("accesslog pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("accesslog pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "accesslog pebble: " + fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic(msg)
}

// Dir is the access log's directory in a data directory: <data>/access.
func Dir(dataDir string) string { return filepath.Join(dataDir, "access") }
