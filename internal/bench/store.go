package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

// StoreConfig sizes Store. Zero fields take the defaults.
type StoreConfig struct {
	Events           int          // events of the batched append and scan pairs; default 200,000
	BatchSize        int          // events per Append call (and per raw batch); default 1,000
	Writers          int          // concurrent single-event appenders; default 64
	ConcurrentEvents int          // events of the concurrent pair; default 30,000
	HistoryEvents    int          // events of the one customer whose history is read; default 1,000
	Customers        int          // other customers; default 20,000
	Rounds           int          // each measurement is taken this many times, the best kept; default 3
	NoSync           bool         // skip fsync on both sides (not the product's setting)
	Logger           *slog.Logger // nil: discard
	Seed             uint64       // event generation seed; 0: 1
}

func (c *StoreConfig) withDefaults() StoreConfig {
	r := *c
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&r.Events, 200_000)
	def(&r.BatchSize, 1000)
	def(&r.Writers, 64)
	def(&r.ConcurrentEvents, 30_000)
	def(&r.HistoryEvents, 1000)
	def(&r.Customers, 20_000)
	def(&r.Rounds, 3)
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Seed == 0 {
		r.Seed = 1
	}
	r.HistoryEvents = min(r.HistoryEvents, r.Events)
	return r
}

// HistoryCustomer is the customer whose history Store reads.
const HistoryCustomer = "bench-history-customer"

// StoreEvents is the decoded stream Store appends: events events over
// customers customers, history of them HistoryCustomer's.
func StoreEvents(events, customers, history int, seed uint64) ([]*journey.Event, error) {
	raws, err := Generate(Spec{Events: events, Customers: customers, Seed: seed, Step: 7 * time.Second,
		History: history, HistoryCustomer: HistoryCustomer})
	if err != nil {
		return nil, err
	}
	return Decoded(raws)
}

// eventSet is pre-generated events with the per-customer versions a raw
// writer needs (computed before any timing).
type eventSet struct {
	evs      []*journey.Event
	versions []uint64 // per-customer version of evs[i] when appended in order
	bytes    int64
}

func newEventSet(evs []*journey.Event) *eventSet {
	s := &eventSet{evs: evs, versions: make([]uint64, len(evs))}
	v := make(map[string]uint64)
	for i, ev := range evs {
		v[ev.Subject]++
		s.versions[i] = v[ev.Subject]
		s.bytes += int64(len(ev.Raw))
	}
	return s
}

// The raw baseline's own key layout: three keys per event, shaped like the
// log's (a sequence key holding the event's bytes, a customer stream entry
// and an id index entry, each of the last two holding the sequence), so
// that raw Pebble writes and reads as many bytes as the log does. It is
// the baseline's layout, not the log's: only eventstore writes the log.
var (
	rawEventPrefix    = []byte("e/")
	rawCustomerPrefix = []byte("c/")
	rawIDPrefix       = []byte("i/")
)

func rawEventKey(dst []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, rawEventPrefix...), seq)
}

func rawCustomerKey(dst []byte, customer string, version uint64) []byte {
	dst = append(append(append(dst, rawCustomerPrefix...), customer...), 0)
	return binary.BigEndian.AppendUint64(dst, version)
}

func rawIDKey(dst []byte, id string) []byte { return append(append(dst, rawIDPrefix...), id...) }

// rawCustomerBounds are the iterator bounds of one customer's raw c/ keys.
func rawCustomerBounds(customer string) (lower, upper []byte) {
	lower = append(append(append([]byte(nil), rawCustomerPrefix...), customer...), 0)
	upper = append(append(append([]byte(nil), rawCustomerPrefix...), customer...), 1)
	return lower, upper
}

// rawSet writes event i of set into batch under the baseline's three keys.
func rawSet(batch *pebble.Batch, set *eventSet, i int, key []byte) []byte {
	ev := set.evs[i]
	seq := uint64(i + 1)
	var sv [8]byte
	binary.BigEndian.PutUint64(sv[:], seq)
	key = rawEventKey(key[:0], seq)
	_ = batch.Set(key, ev.Raw, nil)
	key = rawCustomerKey(key[:0], ev.Subject, set.versions[i])
	_ = batch.Set(key, sv[:], nil)
	key = rawIDKey(key[:0], ev.ID)
	_ = batch.Set(key, sv[:], nil)
	return key
}

// Store measures the event store against raw Pebble on the same
// pre-generated events, under dir (fresh subdirectories, removed after):
//
//  1. append-batch: Append in calls of BatchSize events vs one raw synced
//     Pebble batch of the same events with three keys per event (the
//     event's bytes under a sequence key, a customer stream and an id
//     index entry: the baseline's own layout, shaped like the log's);
//  2. append-concurrent: Writers goroutines each appending one event at a
//     time through the group commit vs Writers goroutines each committing
//     one synced raw batch of one event;
//  3. scan: a full Scan vs a raw Pebble iteration over the baseline's
//     sequence keys;
//  4. history: CustomerEvents of one customer with HistoryEvents events vs
//     a raw iteration of the baseline's customer stream plus point reads.
//
// Both sides use the same Pebble options (eventstore.PebbleOptions).
func Store(ctx context.Context, dir string, cfg StoreConfig) ([]Result, error) {
	c := cfg.withDefaults()
	evs, err := StoreEvents(c.Events, c.Customers, c.HistoryEvents, c.Seed)
	if err != nil {
		return nil, err
	}
	conc, err := StoreEvents(c.ConcurrentEvents, c.Customers, 0, c.Seed+1)
	if err != nil {
		return nil, err
	}
	b := &storeBench{cfg: c, dir: dir, set: newEventSet(evs), conc: newEventSet(conc)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []Result
	for _, run := range []func(context.Context) (Result, error){b.batch, b.concurrent} {
		r, err := run(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	r, err := b.reads(ctx)
	out = append(out, r...)
	if err != nil {
		return out, err
	}
	r, err = b.sealed(ctx) // sealed.go
	return append(out, r...), err
}

type storeBench struct {
	cfg  StoreConfig
	dir  string
	set  *eventSet
	conc *eventSet
	n    int
	keep *eventstore.Store // sealed: the store fill kept open
}

func (b *storeBench) freshDir(name string) (string, error) {
	b.n++
	d := filepath.Join(b.dir, fmt.Sprintf("%s-%d", name, b.n))
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, nil
}

func (b *storeBench) openStore(name string) (*eventstore.Store, string, error) {
	d, err := b.freshDir(name)
	if err != nil {
		return nil, "", err
	}
	s, err := eventstore.Open(d, &eventstore.Options{NoSync: b.cfg.NoSync, Logger: b.cfg.Logger})
	return s, d, err
}

func (b *storeBench) openRaw(name string) (*pebble.DB, string, error) {
	d, err := b.freshDir(name)
	if err != nil {
		return nil, "", err
	}
	db, err := pebble.Open(d, eventstore.PebbleOptions(nil, b.cfg.Logger))
	return db, d, err
}

// onFresh is one timed run of write on a fresh database that open (the
// store's or the raw Pebble's opener) makes under name: the time of write
// alone (not the open, the close or the removal after).
func onFresh[DB io.Closer](open func(name string) (DB, string, error), name string, write func(DB) error) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		db, d, err := open(name)
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(d)
		defer db.Close()
		return timed(func() error { return write(db) })
	}
}

// timed is how long f took, and its error.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func (b *storeBench) syncOpt() *pebble.WriteOptions {
	if b.cfg.NoSync {
		return pebble.NoSync
	}
	return pebble.Sync
}

func pair(name, baseline string, n int, bytes int64, engine, raw time.Duration) Result {
	r := Result{Bench: name, Events: n, Baseline: baseline,
		EventsPerS: rate(n, engine), BaselineEventsPerS: rate(n, raw),
		MBPerS: float64(bytes) / 1e6 / engine.Seconds()}
	r.Ratio = r.EventsPerS / r.BaselineEventsPerS
	return r
}

func appendReqs(evs []*journey.Event) []eventstore.Request {
	reqs := make([]eventstore.Request, len(evs))
	for i, ev := range evs {
		reqs[i] = eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion}
	}
	return reqs
}

func (b *storeBench) batch(ctx context.Context) (Result, error) {
	set, bs := b.set, b.cfg.BatchSize
	reqs := appendReqs(set.evs)
	engine := onFresh(b.openStore, "engine-batch", func(s *eventstore.Store) error {
		for i := 0; i < len(reqs); i += bs {
			if _, err := s.Append(ctx, reqs[i:min(i+bs, len(reqs))]); err != nil {
				return err
			}
		}
		return nil
	})
	raw := onFresh(b.openRaw, "raw-batch", func(db *pebble.DB) error {
		var key []byte
		for i := 0; i < len(set.evs); i += bs {
			batch := db.NewBatch()
			for j := i; j < min(i+bs, len(set.evs)); j++ {
				key = rawSet(batch, set, j, key)
			}
			if err := batch.Commit(b.syncOpt()); err != nil {
				return err
			}
			_ = batch.Close()
		}
		return nil
	})
	return b.compare(fmt.Sprintf("append-batch-%d", bs), fmt.Sprintf("raw pebble synced batch of %d, same 3 keys per event", bs),
		set, engine, raw)
}

// compare is the Result named name of engine against raw (the baseline)
// on set, measured by alternate.
func (b *storeBench) compare(name, baseline string, set *eventSet, engine, raw func() (time.Duration, error)) (Result, error) {
	de, dr, err := b.alternate(engine, raw)
	if err != nil {
		return Result{}, err
	}
	return pair(name, baseline, len(set.evs), set.bytes, de, dr), nil
}

// alternate measures engine and raw Rounds times each, interleaved, and
// keeps the shortest of each.
func (b *storeBench) alternate(engine, raw func() (time.Duration, error)) (time.Duration, time.Duration, error) {
	var de, dr time.Duration
	for r := range b.cfg.Rounds {
		first, second := engine, raw
		if r%2 == 1 {
			first, second = raw, engine
		}
		d1, err := first()
		if err != nil {
			return 0, 0, err
		}
		d2, err := second()
		if err != nil {
			return 0, 0, err
		}
		if r%2 == 1 {
			d1, d2 = d2, d1
		}
		if de == 0 || d1 < de {
			de = d1
		}
		if dr == 0 || d2 < dr {
			dr = d2
		}
	}
	return de, dr, nil
}

// fanOut runs n events through w goroutines, each taking the next index.
func fanOut(n, w int, f func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	for range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

func (b *storeBench) concurrent(ctx context.Context) (Result, error) {
	set, w := b.conc, b.cfg.Writers
	engine := onFresh(b.openStore, "engine-conc", func(s *eventstore.Store) error {
		return fanOut(len(set.evs), w, func(i int) error {
			res, err := s.Append(ctx, []eventstore.Request{{Event: set.evs[i], ExpectedVersion: eventstore.AnyVersion}})
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			return err
		})
	})
	raw := onFresh(b.openRaw, "raw-conc", func(db *pebble.DB) error {
		return fanOut(len(set.evs), w, func(i int) error {
			batch := db.NewBatch()
			rawSet(batch, set, i, nil)
			err := batch.Commit(b.syncOpt())
			_ = batch.Close()
			return err
		})
	})
	return b.compare(fmt.Sprintf("append-concurrent-%d", w), fmt.Sprintf("raw pebble, %d writers each committing one synced event", w),
		set, engine, raw)
}

// reads fills one store and one raw database with the batched set, then
// measures the scan and history pairs on them.
func (b *storeBench) reads(ctx context.Context) ([]Result, error) {
	set, bs := b.set, b.cfg.BatchSize
	s, sd, err := b.openStore("engine-read")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(sd)
	defer s.Close()
	db, rd, err := b.openRaw("raw-read")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(rd)
	defer db.Close()
	reqs := appendReqs(set.evs)
	var key []byte
	for i := 0; i < len(set.evs); i += bs {
		batch := db.NewBatch()
		for j := i; j < min(i+bs, len(set.evs)); j++ {
			key = rawSet(batch, set, j, key)
		}
		if _, err := s.Append(ctx, reqs[i:min(i+bs, len(reqs))]); err != nil {
			return nil, err
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			return nil, err
		}
		_ = batch.Close()
	}

	// 3. Full scan.
	var sink int
	engineScan := func() (time.Duration, error) {
		start := time.Now()
		n := 0
		err := s.Scan(ctx, 1, 0, func(rec *eventstore.Record) error { n++; sink += len(rec.Raw); return nil })
		if err == nil && n != len(set.evs) {
			err = fmt.Errorf("scan saw %d of %d events", n, len(set.evs))
		}
		return time.Since(start), err
	}
	rawScan := func() (time.Duration, error) {
		start := time.Now()
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: rawEventPrefix, UpperBound: []byte("e0")})
		if err != nil {
			return 0, err
		}
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return 0, err
			}
			n++
			sink += len(v)
		}
		err = it.Close()
		if err == nil && n != len(set.evs) {
			err = fmt.Errorf("raw scan saw %d of %d events", n, len(set.evs))
		}
		return time.Since(start), err
	}
	r, err := b.compare("scan", "raw pebble iteration over e/ values", set, engineScan, rawScan)
	if err != nil {
		return nil, err
	}
	out := []Result{r}

	// 4. One customer's history.
	hist := b.cfg.HistoryEvents
	engineHist := func() (time.Duration, error) {
		start := time.Now()
		recs, err := s.CustomerEvents(ctx, HistoryCustomer, 0, 0)
		if err == nil && len(recs) != hist {
			err = fmt.Errorf("history has %d of %d events", len(recs), hist)
		}
		return time.Since(start), err
	}
	rawHist := func() (time.Duration, error) {
		start := time.Now()
		lower, upper := rawCustomerBounds(HistoryCustomer)
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return 0, err
		}
		var seqs []uint64
		for ok := it.First(); ok; ok = it.Next() {
			seqs = append(seqs, binary.BigEndian.Uint64(it.Value()))
		}
		if err := it.Close(); err != nil {
			return 0, err
		}
		raws := make([][]byte, 0, len(seqs))
		for _, seq := range seqs {
			v, closer, err := db.Get(rawEventKey(key[:0], seq))
			if err != nil {
				return 0, err
			}
			raws = append(raws, bytes.Clone(v))
			closer.Close()
		}
		if len(raws) != hist {
			return 0, fmt.Errorf("raw history has %d of %d events", len(raws), hist)
		}
		return time.Since(start), nil
	}
	he, err := median(21, engineHist)
	if err != nil {
		return out, err
	}
	hr, err := median(21, rawHist)
	if err != nil {
		return out, err
	}
	var histBytes int64
	for _, ev := range set.evs {
		if ev.Subject == HistoryCustomer {
			histBytes += int64(len(ev.Raw))
		}
	}
	r = pair(fmt.Sprintf("history-%d", hist), "raw pebble c/ prefix iteration + e/ point reads", hist, histBytes, he, hr)
	r.LatencyMS = float64(he.Microseconds()) / 1000
	r.BaselineLatencyMS = float64(hr.Microseconds()) / 1000
	out = append(out, r)
	_ = sink
	return out, nil
}

// median runs f reps times and returns the median duration.
func median(reps int, f func() (time.Duration, error)) (time.Duration, error) {
	ds := make([]time.Duration, 0, reps)
	for range reps {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[reps/2], nil
}
