package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/journey-cdp/journey/internal/freshwal"
	"github.com/journey-cdp/journey/internal/keyspace"
	"github.com/journey-cdp/journey/projections/customer"

	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

// Errors of the views.
var (
	// ErrNotFound: the customer has no events (at the instant asked).
	ErrNotFound = errors.New("projections: customer not found")
	// ErrClosed is returned by calls on closed Views.
	ErrClosed = errors.New("projections: views closed")
	// ErrUnknownSegmentation: Segments or NPS was asked for an unknown "by".
	ErrUnknownSegmentation = errors.New("projections: unknown segmentation")
)

// Change tells an Options.OnChange subscriber that one event changed one
// customer's answer. The event of a referral changes two customers (the
// referrer and the referred); each gets its own Change with the same Seq.
type Change struct {
	// Seq is the log sequence of the event that caused the change.
	Seq uint64
	// Event is that event (its Raw is a private copy the subscriber may keep).
	Event *journey.Event
	// Customer is the id of the customer whose answer changed.
	Customer string
	// Before is the answer before the event (nil when the customer had no
	// state); After the answer with it. Both are derived at the same
	// instant: the newest event time folded into the customer after the
	// event (for an in-order event, the event's own time), so a change of
	// stage is caused by the event, not by the passing of time.
	Before, After *customer.Answer
	// Refolded is true when the event was late and the customer was
	// re-folded from their history.
	Refolded bool
}

// Options configure Views. A nil *Options means defaults.
type Options struct {
	// Config holds the fold's rules (nil: defaults).
	Config *customer.Config
	// Clock is "now" for answers without an as-of instant (nil: time.Now).
	Clock func() time.Time
	// Workers is the parallelism of rebuilds and as-of population folds
	// (0: GOMAXPROCS).
	Workers int
	// Logger (nil: discard).
	Logger *slog.Logger
	// Progress, when set, is called now and then during a rebuild or an
	// as-of population fold with the events done out of total.
	Progress func(done, total uint64)
	// OnChange, when set, is called by CatchUp for every event applied, after
	// the batch holding it is committed, in log order, on CatchUp's
	// goroutine. It is not called by Rebuild (a rebuild changes no answer).
	OnChange func(Change)
	// FS is the file system of the data directory (nil: the OS file system).
	// Tests may use vfs.NewMem().
	FS vfs.FS
	// MaxStates bounds the customer states a rebuild worker folds at once
	// (0: 60% of the build's memory at 2 KiB a state, shared by the
	// workers; the build's memory is MemoryLimit less the heap in use, or
	// 512 MiB). The events of the customers beyond it wait in a file for
	// the next round (see the package documentation). Lower is flatter.
	MaxStates int
	// BatchEvents is the number of events CatchUp applies per Pebble batch
	// (0: 2048).
	BatchEvents int
	// MemoryLimit is the Go soft memory limit (runtime/debug.SetMemoryLimit)
	// while a rebuild (Rebuild, or CatchUp's parallel fold of fresh views)
	// runs, when none is set (GOMEMLIMIT): 0 means the heap in use at the
	// start plus 512 MiB; negative leaves the limit (and GOGC) alone. Under
	// the limit, GOGC is raised to 400 (fewer collections). It keeps the
	// rebuild's peak memory flat; it applies to the whole process and both
	// are restored afterwards. As-of population folds (answers to
	// requests) never change either: the limit, when set, is for the
	// rebuild only.
	MemoryLimit int64
	// AsOfFolds bounds the as-of population folds (scratch folds of the
	// log up to an instant, for segments, exports and the population
	// snapshot of as-of answers) that run at once; more wait (0: 2).
	AsOfFolds int
	// ReorderWindow is how late (in event time) an event may reach the log
	// and still be put in order by a rebuild worker without re-folding its
	// customer (0: 14 days; negative: none, every late event re-folds).
	ReorderWindow time.Duration
}

// withDefaults is a copy of o (nil: the zero Options) with every default
// filled in.
func (o *Options) withDefaults() *Options {
	c := Options{}
	if o != nil {
		c = *o
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.AsOfFolds <= 0 {
		c.AsOfFolds = 2
	}
	if c.BatchEvents <= 0 {
		c.BatchEvents = 2048
	}
	if c.ReorderWindow == 0 {
		c.ReorderWindow = 14 * 24 * time.Hour
	}
	return &c
}

// Views is the views database: customer states folded from the log, kept
// up to date by CatchUp/Follow, rebuilt by Rebuild. It is safe for
// concurrent use.
type Views struct {
	dataDir string
	log     *eventstore.Store
	opts    *Options

	// mu guards cur: readers take it shared just long enough to pin the
	// current database; Rebuild takes it exclusively to swap.
	mu     sync.RWMutex
	cur    *viewsDB
	closed bool

	// applyMu serialises writers of the current database (CatchUp and the
	// final step of Rebuild). Lock order: rebuildMu, applyMu, mu, viewsDB.use.
	applyMu   sync.Mutex
	rebuildMu sync.Mutex

	rfmMu sync.Mutex // guards rfm
	rfm   rfmCache
	// pops are the population snapshots of as-of answers (asof.go).
	pops popCache
	// folds holds a token per as-of scratch fold running (Options.AsOfFolds).
	folds chan struct{}
}

// viewsDB is one views database with the in-memory copy of its metadata.
type viewsDB struct {
	db   *pebble.DB
	name string // directory name under the data dir
	// use is held shared by every reader of db and exclusively to close it.
	use sync.RWMutex

	checkpoint atomic.Uint64
	meta       atomic.Pointer[dbMeta]
	// recent are the states of the last CatchUp batches as committed,
	// decoded (guarded by Views.applyMu; cleared when a batch fails).
	recent map[string]*entry

	spansMu sync.Mutex
	spans   []batchSpan // the last CatchUp batches (see snapshotValid)
}

// dbMeta is the metadata of a views database besides the checkpoint.
type dbMeta struct {
	pop     customer.Population
	gaps    customer.GapHistogram
	maxTime time.Time // newest event time folded in
}

// Key layout; see doc.go.
var (
	keyCheckpoint = []byte("m/checkpoint")
	keyPopulation = []byte("m/population")
	keyGaps       = []byte("m/gaps")
	keyMaxTime    = []byte("m/maxtime")
	keyFormat     = []byte("m/format")
	prefixState   = []byte("c/")
	prefixMark    = []byte("r/")
)

const formatVersion = "1"

// viewsMarker is the name of the data dir's marker naming the current
// views directory (files "marker.views.NNNNNN.<dir>").
const viewsMarker = "views"

// pointerFile is where data dirs written before the marker named it.
const pointerFile = "VIEWS"

// defaultViewsDir is the views directory when there is no pointer file.
const defaultViewsDir = "views"

func stateKey(customer string) []byte {
	k := make([]byte, 0, len(prefixState)+len(customer))
	return append(append(k, prefixState...), customer...)
}

func markKey(customer string, seq uint64) []byte {
	k := make([]byte, 0, len(prefixMark)+len(customer)+9)
	k = append(append(append(k, prefixMark...), customer...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte { return keyspace.PrefixEnd(p) }

// Open opens the views of the data directory dataDir (creating them if
// needed), following log. Views that were deleted, or that belong to
// another log, start empty at checkpoint 0; CatchUp then brings them up to
// date. Leftovers of an interrupted rebuild are removed.
func Open(dataDir string, log *eventstore.Store, opts *Options) (*Views, error) {
	if log == nil {
		return nil, errors.New("projections: Open needs the event log")
	}
	v := &Views{dataDir: dataDir, log: log, opts: opts.withDefaults()}
	v.folds = make(chan struct{}, v.opts.AsOfFolds)
	fs := v.opts.FS
	if err := fs.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	name, err := readPointer(fs, dataDir)
	if err != nil {
		return nil, err
	}
	v.removeStale(name)
	d, err := v.openDB(name, false)
	if err != nil {
		return nil, err
	}
	if err := v.checkLog(d); err != nil {
		_ = d.db.Close()
		return nil, err
	}
	v.cur = d
	return v, nil
}

func readPointer(fs vfs.FS, dataDir string) (string, error) {
	name, err := atomicfs.ReadMarker(fs, dataDir, viewsMarker)
	if err != nil && !oserrorIsNotExist(err) {
		return "", fmt.Errorf("projections: views marker: %w", err)
	}
	if name == "" {
		return readLegacyPointer(fs, dataDir)
	}
	if !validViewsName(name) {
		return "", fmt.Errorf("projections: the views marker names %q, not a views directory", name)
	}
	return name, nil
}

// readLegacyPointer reads the VIEWS file of data dirs written before the
// marker (absent: the default views directory).
func readLegacyPointer(fs vfs.FS, dataDir string) (string, error) {
	f, err := fs.Open(fs.PathJoin(dataDir, pointerFile))
	if err != nil {
		if oserrorIsNotExist(err) {
			return defaultViewsDir, nil
		}
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(b))
	if !validViewsName(name) {
		return "", fmt.Errorf("projections: %s names %q, not a views directory", pointerFile, name)
	}
	return name, nil
}

func oserrorIsNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// validViewsName reports whether name is "views" or "views-NNNNNN".
func validViewsName(name string) bool {
	if name == defaultViewsDir {
		return true
	}
	n, ok := strings.CutPrefix(name, defaultViewsDir+"-")
	if !ok || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 64)
	return err == nil
}

func viewsGeneration(name string) uint64 {
	n, ok := strings.CutPrefix(name, defaultViewsDir+"-")
	if !ok {
		return 0
	}
	g, _ := strconv.ParseUint(n, 10, 64)
	return g
}

// removeStale removes views directories other than current (an interrupted
// rebuild's, or the one a finished rebuild replaced), as-of scratch dirs
// and the defer and states files of a rebuild that was killed.
func (v *Views) removeStale(current string) {
	fs := v.opts.FS
	names, err := fs.List(v.dataDir)
	if err != nil {
		return
	}
	for _, n := range names {
		if n == current || !(validViewsName(n) || strings.HasPrefix(n, asOfDirPrefix) || strings.HasPrefix(n, rebuildFilePrefix)) {
			continue
		}
		v.opts.Logger.Info("projections: removing stale views", "dir", n)
		_ = fs.RemoveAll(fs.PathJoin(v.dataDir, n))
	}
	_ = fs.Remove(fs.PathJoin(v.dataDir, pointerFile+".tmp"))
}

// pebbleOptions are the options of a views database; bulk is for a
// database being built by a rebuild (no WAL: it is flushed before use).
func (v *Views) pebbleOptions(bulk bool) *pebble.Options {
	// freshwal: a reused WAL would keep a forgotten customer's id in its
	// old tail (Forget).
	// MaxManifestFileSize 1: the MANIFEST is rewritten at each change, so
	// the key bounds of tables a Forget compacted away (a customer's id)
	// do not stay in its history.
	o := &pebble.Options{FS: freshwal.FS(v.opts.FS), Logger: quietLogger{v.opts.Logger}, MaxManifestFileSize: 1}
	if bulk {
		o.DisableWAL = true
		o.MemTableSize = 16 << 20
		o.CacheSize = 32 << 20 // marks and states read back by re-folds
		o.L0CompactionThreshold = 8
	} else {
		o.MemTableSize = 16 << 20
		o.CacheSize = 64 << 20 // the index and state blocks of live lookups
	}
	// Bloom filters make the lookups of customers not in the views (new
	// ones) cheap.
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].FilterType = pebble.TableFilter
	}
	return o
}

// openDB opens the views database in dir name and loads its metadata.
func (v *Views) openDB(name string, bulk bool) (*viewsDB, error) {
	fs := v.opts.FS
	path := fs.PathJoin(v.dataDir, name)
	// Views that cannot be opened (damaged, or a path that is no
	// directory) cannot be rebuilt in place either; they are disposable.
	hint := "; the views hold nothing the log does not: delete " + path + " and run journey rebuild"
	db, err := pebble.Open(path, v.pebbleOptions(bulk))
	if err != nil {
		return nil, fmt.Errorf("projections: open views %s: %w%s", path, err, hint)
	}
	d := &viewsDB{db: db, name: name, recent: map[string]*entry{}}
	if err := d.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("projections: views %s: %w%s", path, err, hint)
	}
	return d, nil
}

// load reads the metadata of d (an empty database gets the format key).
func (d *viewsDB) load() error {
	clear(d.recent)
	d.forgetBatches()
	f, err := getCopy(d.db, keyFormat)
	if err != nil {
		return err
	}
	if f == nil {
		// A fresh (or wiped) database: every state it gets is indexed.
		if err := errors.Join(d.db.Set(keyTraitIndex, nil, pebble.NoSync), d.db.Set(keyFormat, []byte(formatVersion), pebble.Sync)); err != nil {
			return err
		}
	} else if string(f) != formatVersion {
		return fmt.Errorf("format %q, want %q", f, formatVersion)
	}
	m := &dbMeta{gaps: customer.GapHistogram{}}
	cp, err := getCopy(d.db, keyCheckpoint)
	if err != nil {
		return err
	}
	if len(cp) >= 8 {
		d.checkpoint.Store(binary.BigEndian.Uint64(cp))
	} else {
		d.checkpoint.Store(0)
	}
	if b, err := getCopy(d.db, keyPopulation); err != nil {
		return err
	} else if b != nil {
		if err := json.Unmarshal(b, &m.pop); err != nil {
			return fmt.Errorf("population: %w", err)
		}
	}
	if b, err := getCopy(d.db, keyGaps); err != nil {
		return err
	} else if b != nil {
		if m.gaps, err = customer.DecodeGapHistogram(b); err != nil {
			return err
		}
	}
	if b, err := getCopy(d.db, keyMaxTime); err != nil {
		return err
	} else if len(b) == 12 {
		m.maxTime = decodeTime(b)
	}
	d.meta.Store(m)
	return nil
}

// checkpointHash returns the log hash stored with d's checkpoint.
func (d *viewsDB) checkpointHash() ([32]byte, error) {
	var h [32]byte
	cp, err := getCopy(d.db, keyCheckpoint)
	if err != nil || len(cp) < 40 {
		return h, err
	}
	copy(h[:], cp[8:40])
	return h, nil
}

// checkLog makes sure d was folded from this log: its checkpoint is at
// most the log's durable position and the record there has the hash
// stored with the checkpoint. Views of another log are wiped.
func (v *Views) checkLog(d *viewsDB) error {
	cp := d.checkpoint.Load()
	if cp == 0 {
		return nil
	}
	want, err := d.checkpointHash()
	if err != nil {
		return err
	}
	ok := false
	if cp <= v.log.DurableSeq() {
		err := v.log.Scan(context.Background(), cp, cp, func(rec *eventstore.Record) error {
			ok = rec.Seq == cp && rec.Hash == want
			return nil
		})
		if err != nil {
			return err
		}
	}
	if ok {
		return nil
	}
	v.opts.Logger.Warn("projections: views do not match the log; starting them afresh", "dir", d.name, "checkpoint", cp)
	if err := d.db.DeleteRange([]byte{0}, []byte{0xff}, pebble.Sync); err != nil {
		return err
	}
	return d.load()
}

// getCopy returns a copy of key's value, nil when absent.
func getCopy(r pebble.Reader, key []byte) ([]byte, error) {
	b, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(b)
	if out == nil {
		out = []byte{}
	}
	return out, c.Close()
}

// acquire pins the current database for reading; release it with
// d.use.RUnlock().
func (v *Views) acquire() (*viewsDB, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.closed {
		return nil, ErrClosed
	}
	d := v.cur
	d.use.RLock()
	return d, nil
}

// Checkpoint is the highest log sequence folded into the current views.
func (v *Views) Checkpoint() uint64 {
	d, err := v.acquire()
	if err != nil {
		return 0
	}
	defer d.use.RUnlock()
	return d.checkpoint.Load()
}

// Population returns the population facts of the current views (median
// inter-purchase gap, the stored churn fit).
func (v *Views) Population() (customer.Population, error) {
	d, err := v.acquire()
	if err != nil {
		return customer.Population{}, err
	}
	defer d.use.RUnlock()
	return d.meta.Load().pop, nil
}

// Dir is the directory of the current views database.
func (v *Views) Dir() string {
	d, err := v.acquire()
	if err != nil {
		return ""
	}
	defer d.use.RUnlock()
	return v.opts.FS.PathJoin(v.dataDir, d.name)
}

// Close waits for the calls in flight and closes the views database. It
// does not close the log.
func (v *Views) Close() error {
	v.rebuildMu.Lock()
	defer v.rebuildMu.Unlock()
	v.applyMu.Lock()
	defer v.applyMu.Unlock()
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	d := v.cur
	v.mu.Unlock()
	d.use.Lock()
	defer d.use.Unlock()
	return d.db.Close()
}

func (v *Views) now() time.Time { return v.opts.Clock() }

// --- value encodings ---

// A stored state is a header followed by State.MarshalBinary:
//
//	[0]      header version (1)
//	[1:13]   newest item time folded in (encodeTime)
//	[13:17]  gap bucket of the state (int32 BE, -1: fewer than 2 purchase days)
//	[17:]    State.MarshalBinary()
const stateHeader = 17

func encodeTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func decodeTime(b []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint32(b[8:12]))).UTC()
}

// entry is a customer's state as the projector handles it.
type entry struct {
	st   *customer.State
	last time.Time // newest item (event or referral mark) time folded in
	// stored is the gap bucket of the version stored in the database
	// (customer.NoGap when none), so a write can move the histogram.
	stored int32
	dirty  bool
	inDB   bool   // a version is stored in the database
	h      uint64 // rebuild: the scanner's hash of the customer id
	// traits is traitsSum of the stored version's traits (inDB): the
	// trait index keys are written again only when they changed.
	traits uint64
}

func encodeEntry(e *entry, gap int32) ([]byte, error) {
	b, err := appendEntry(make([]byte, 0, stateHeader+e.st.EncodedSizeHint()), e, gap)
	if err != nil {
		return nil, err
	}
	if cap(b) > len(b)+len(b)/4 {
		b = bytes.Clone(b) // no slack
	}
	return b, nil
}

// appendEntry appends the stored form of e (see encodeEntry) to b.
func appendEntry(b []byte, e *entry, gap int32) ([]byte, error) {
	b = append(b, 1)
	b = encodeTime(b, e.last)
	b = binary.BigEndian.AppendUint32(b, uint32(gap))
	return e.st.AppendBinary(b)
}

func decodeEntry(id string, b []byte) (*entry, error) {
	if len(b) < stateHeader || b[0] != 1 {
		return nil, fmt.Errorf("projections: bad stored state of %q", id)
	}
	st := customer.NewState(id)
	if err := st.UnmarshalBinary(b[stateHeader:]); err != nil {
		return nil, fmt.Errorf("projections: state of %q: %w", id, err)
	}
	return &entry{st: st, last: decodeTime(b[1:13]), stored: int32(binary.BigEndian.Uint32(b[13:17])), inDB: true, traits: traitsSum(st.Traits)}, nil
}

// loadEntry reads a customer's entry from r, nil when absent.
func loadEntry(r pebble.Reader, customer string) (*entry, error) {
	b, c, err := r.Get(stateKey(customer))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return decodeEntry(customer, b)
}

// putEntry writes e into w and moves the gap histogram h accordingly.
func putEntry(w *pebble.Batch, id string, e *entry, h customer.GapHistogram) error {
	g := customer.GapBucket(e.st)
	b, err := encodeEntry(e, g)
	if err != nil {
		return err
	}
	if err := w.Set(stateKey(id), b, nil); err != nil {
		return err
	}
	if sum := traitsSum(e.st.Traits); !e.inDB || sum != e.traits { // the trait index (traits.go)
		if err := putTraits(w, id, e.st); err != nil {
			return err
		}
		e.traits = sum
	}
	h.Move(e.stored, g)
	e.stored = g
	e.dirty = false
	e.inDB = true
	return nil
}

// mark is a referral naming a customer: event Seq of customer By, at Time.
type mark struct {
	By   string
	Time time.Time
	Seq  uint64
}

func encodeMark(m mark) []byte {
	return append(encodeTime(make([]byte, 0, 12+len(m.By)), m.Time), m.By...)
}

// readMarks returns the referral marks of customer with seq ≤ maxSeq and,
// when asOf is not zero, time ≤ asOf, in seq order.
func readMarks(r pebble.Reader, customer string, maxSeq uint64, asOf time.Time) ([]mark, error) {
	lo := markKey(customer, 0)
	hi := markKey(customer, maxSeq)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: append(hi, 0)})
	if err != nil {
		return nil, err
	}
	var out []mark
	for it.First(); it.Valid(); it.Next() {
		k, val := it.Key(), it.Value()
		if len(k) != len(lo) || len(val) < 12 {
			continue
		}
		m := mark{Seq: binary.BigEndian.Uint64(k[len(k)-8:]), Time: decodeTime(val), By: string(val[12:])}
		if !asOf.IsZero() && m.Time.After(asOf) {
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(it.Error(), it.Close())
}

// writeMeta writes checkpoint (with the log hash at it), gaps, population
// and max time into w.
func writeMeta(w *pebble.Batch, cp uint64, hash [32]byte, m *dbMeta) error {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 40), cp)
	b = append(b, hash[:]...)
	pj, err := json.Marshal(m.pop)
	if err != nil {
		return err
	}
	return errors.Join(
		w.Set(keyCheckpoint, b, nil),
		w.Set(keyPopulation, pj, nil),
		w.Set(keyGaps, m.gaps.Encode(), nil),
		w.Set(keyMaxTime, encodeTime(nil, m.maxTime), nil),
	)
}

// forEachState calls fn for every stored customer state of r, in key order.
func forEachState(ctx context.Context, r pebble.Reader, fn func(customer string, e *entry) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefixState, UpperBound: prefixEnd(prefixState)})
	if err != nil {
		return err
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				_ = it.Close()
				return err
			}
		}
		customer := string(it.Key()[len(prefixState):])
		e, err := decodeEntry(customer, it.Value())
		if err == nil {
			err = fn(customer, e)
		}
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// writePointer atomically makes name the current views directory: it
// moves the data dir's views marker (Pebble's atomicfs.Marker: a new
// marker file per value, synced, then the old ones removed) and drops the
// VIEWS file of older data dirs.
func writePointer(fs vfs.FS, dataDir, name string) error {
	m, _, err := atomicfs.LocateMarker(fs, dataDir, viewsMarker)
	if err != nil {
		return err
	}
	if err := m.Move(name); err != nil {
		_ = m.Close()
		return err
	}
	if err := errors.Join(m.RemoveObsolete(), m.Close()); err != nil {
		return err
	}
	if err := fs.Remove(fs.PathJoin(dataDir, pointerFile)); err != nil && !oserrorIsNotExist(err) {
		return err
	}
	return nil
}

// nextViewsName is the directory name of the rebuild after current.
func nextViewsName(current string) string {
	return fmt.Sprintf("%s-%06d", defaultViewsDir, viewsGeneration(current)+1)
}

// quietLogger drops Pebble's informational logging but keeps errors, on
// the views' logger. A fatal error panics (Pebble's Fatalf must not
// return; a library does not exit the process): the views are disposable,
// the log is untouched, and a restart rebuilds what is missing.
type quietLogger struct{ l *slog.Logger }

func (quietLogger) Infof(string, ...any) {}
func (q quietLogger) Errorf(format string, args ...any) {
	q.logger().Error("pebble: " + fmt.Sprintf(format, args...))
}
func (q quietLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	q.logger().Error(msg)
	panic(msg)
}

func (q quietLogger) logger() *slog.Logger {
	if q.l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return q.l
}
