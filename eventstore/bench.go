package eventstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	journey "github.com/journey-cdp/journey"
)

// BenchConfig sizes BenchStore. Zero fields take the defaults.
type BenchConfig struct {
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

// BenchResult is one engine measurement beside its raw-Pebble baseline,
// measured in the same run on the same event bytes.
type BenchResult struct {
	Bench              string  `json:"bench"`
	Events             int     `json:"events"`
	EventsPerS         float64 `json:"events_per_s"`
	MBPerS             float64 `json:"mb_per_s"`
	Baseline           string  `json:"baseline"`
	BaselineEventsPerS float64 `json:"baseline_events_per_s"`
	Ratio              float64 `json:"ratio"` // EventsPerS / BaselineEventsPerS
	// LatencyMS and BaselineLatencyMS are the median time of one operation
	// where the bench is about latency (the customer history read).
	LatencyMS         float64 `json:"latency_ms,omitempty"`
	BaselineLatencyMS float64 `json:"baseline_latency_ms,omitempty"`
}

func (c *BenchConfig) withDefaults() BenchConfig {
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

// benchHistoryCustomer is the customer whose history bench 4 reads.
const benchHistoryCustomer = "bench-history-customer"

// benchSet is pre-generated events with the index values a raw writer
// needs (computed before any timing).
type benchSet struct {
	evs      []*journey.Event
	versions []uint64 // per-customer version of evs[i] when appended in order
	bytes    int64
}

func newBenchSet(evs []*journey.Event) *benchSet {
	s := &benchSet{evs: evs, versions: make([]uint64, len(evs))}
	v := make(map[string]uint64)
	for i, ev := range evs {
		v[ev.Subject]++
		s.versions[i] = v[ev.Subject]
		s.bytes += int64(len(ev.Raw))
	}
	return s
}

// GenerateBenchEvents builds n valid, decoded events (visits, purchases
// and feedback with UUIDv7 ids) over customers customers, with history of
// them spread evenly for one extra customer. The same seed gives the same
// customers, kinds and times (ids are fresh UUIDv7s).
func GenerateBenchEvents(n, customers, history int, seed uint64) ([]*journey.Event, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6a6f75726e6579))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	every := 0
	if history > 0 {
		every = max(1, n/history)
	}
	evs := make([]*journey.Event, 0, n)
	hist := 0
	for i := range n {
		cust := fmt.Sprintf("cust-%06d", rng.IntN(max(1, customers)))
		if every > 0 && i%every == 0 && hist < history {
			cust, hist = benchHistoryCustomer, hist+1
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		at := base.Add(time.Duration(i) * 7 * time.Second)
		store := fmt.Sprintf("pos/store-%03d/till-%d", rng.IntN(200), rng.IntN(8))
		var raw []byte
		switch k := rng.IntN(10); {
		case k < 5:
			raw, err = journey.NewEvent(id.String(), store, journey.KindVisit, cust, at,
				map[string]any{"channel": "store", "store_id": store[4:13]})
		case k < 9:
			raw, err = journey.NewEvent(id.String(), store, journey.KindPurchase, cust, at,
				map[string]any{"order_id": fmt.Sprintf("ord-%d", i), "amount": fmt.Sprintf("%d.%02d", rng.IntN(300), rng.IntN(100)),
					"currency": "EUR", "items": 1 + rng.IntN(6), "channel": "store"})
		default:
			raw, err = journey.NewEvent(id.String(), store, journey.KindFeedback, cust, at,
				map[string]any{"csat": 1 + rng.IntN(5), "comment": "friendly staff, long queue at the till"})
		}
		if err != nil {
			return nil, err
		}
		ev, err := journey.DecodeStored(raw)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// BenchStore measures the engine against raw Pebble on the same
// pre-generated events, under dir (fresh subdirectories, removed after):
//
//  1. append-batch: Append in calls of BatchSize events vs one raw synced
//     Pebble batch of the same events with the same three keys per event
//     (e/ record = the raw bytes, c/ and i/ index entries);
//  2. append-concurrent: Writers goroutines each appending one event at a
//     time through the group commit vs Writers goroutines each committing
//     one synced raw batch of one event;
//  3. scan: a full Scan vs a raw Pebble iteration over e/;
//  4. history: CustomerEvents of one customer with HistoryEvents events vs
//     a raw c/ prefix iteration plus point reads of e/.
//
// Both sides use the same Pebble options (PebbleOptions).
func BenchStore(ctx context.Context, dir string, cfg BenchConfig) ([]BenchResult, error) {
	c := cfg.withDefaults()
	evs, err := GenerateBenchEvents(c.Events, c.Customers, c.HistoryEvents, c.Seed)
	if err != nil {
		return nil, err
	}
	conc, err := GenerateBenchEvents(c.ConcurrentEvents, c.Customers, 0, c.Seed+1)
	if err != nil {
		return nil, err
	}
	b := &bencher{cfg: c, dir: dir, set: newBenchSet(evs), conc: newBenchSet(conc)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []BenchResult
	for _, run := range []func(context.Context) (BenchResult, error){b.batch, b.concurrent} {
		r, err := run(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	r, err := b.reads(ctx)
	out = append(out, r...)
	return out, err
}

type bencher struct {
	cfg  BenchConfig
	dir  string
	set  *benchSet
	conc *benchSet
	n    int
}

func (b *bencher) freshDir(name string) (string, error) {
	b.n++
	d := filepath.Join(b.dir, fmt.Sprintf("%s-%d", name, b.n))
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, nil
}

func (b *bencher) openStore(name string) (*Store, string, error) {
	d, err := b.freshDir(name)
	if err != nil {
		return nil, "", err
	}
	s, err := Open(d, &Options{NoSync: b.cfg.NoSync, Logger: b.cfg.Logger})
	return s, d, err
}

func (b *bencher) openRaw(name string) (*pebble.DB, string, error) {
	d, err := b.freshDir(name)
	if err != nil {
		return nil, "", err
	}
	db, err := pebble.Open(d, PebbleOptions(nil, b.cfg.Logger))
	return db, d, err
}

func (b *bencher) syncOpt() *pebble.WriteOptions {
	if b.cfg.NoSync {
		return pebble.NoSync
	}
	return pebble.Sync
}

// rawSet writes event i of set into batch with the engine's three keys.
func rawSet(batch *pebble.Batch, set *benchSet, i int, key []byte) []byte {
	ev := set.evs[i]
	seq := uint64(i + 1)
	var sv [8]byte
	binary.BigEndian.PutUint64(sv[:], seq)
	key = eventKey(key[:0], seq)
	_ = batch.Set(key, ev.Raw, nil)
	key = customerKey(key[:0], ev.Subject, set.versions[i])
	_ = batch.Set(key, sv[:], nil)
	key = idKey(key[:0], ev.ID)
	_ = batch.Set(key, sv[:], nil)
	return key
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

func pair(name, baseline string, n int, bytes int64, engine, raw time.Duration) BenchResult {
	r := BenchResult{Bench: name, Events: n, Baseline: baseline,
		EventsPerS: rate(n, engine), BaselineEventsPerS: rate(n, raw),
		MBPerS: float64(bytes) / 1e6 / engine.Seconds()}
	r.Ratio = r.EventsPerS / r.BaselineEventsPerS
	return r
}

// best runs f Rounds times and keeps the shortest duration.
func (b *bencher) best(f func() (time.Duration, error)) (time.Duration, error) {
	var best time.Duration
	for range b.cfg.Rounds {
		d, err := f()
		if err != nil {
			return 0, err
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return best, nil
}

func (b *bencher) batch(ctx context.Context) (BenchResult, error) {
	set, bs := b.set, b.cfg.BatchSize
	reqs := make([]Request, len(set.evs))
	for i, ev := range set.evs {
		reqs[i] = Request{Event: ev, ExpectedVersion: AnyVersion}
	}
	engine := func() (time.Duration, error) {
		s, d, err := b.openStore("engine-batch")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(d)
		defer s.Close()
		start := time.Now()
		for i := 0; i < len(reqs); i += bs {
			if _, err := s.Append(ctx, reqs[i:min(i+bs, len(reqs))]); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	raw := func() (time.Duration, error) {
		db, d, err := b.openRaw("raw-batch")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(d)
		defer db.Close()
		var key []byte
		start := time.Now()
		for i := 0; i < len(set.evs); i += bs {
			batch := db.NewBatch()
			for j := i; j < min(i+bs, len(set.evs)); j++ {
				key = rawSet(batch, set, j, key)
			}
			if err := batch.Commit(b.syncOpt()); err != nil {
				return 0, err
			}
			_ = batch.Close()
		}
		return time.Since(start), nil
	}
	de, dr, err := b.alternate(engine, raw)
	if err != nil {
		return BenchResult{}, err
	}
	return pair(fmt.Sprintf("append-batch-%d", bs), fmt.Sprintf("raw pebble synced batch of %d, same 3 keys per event", bs),
		len(set.evs), set.bytes, de, dr), nil
}

// alternate measures engine and raw Rounds times each, interleaved.
func (b *bencher) alternate(engine, raw func() (time.Duration, error)) (time.Duration, time.Duration, error) {
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

func (b *bencher) concurrent(ctx context.Context) (BenchResult, error) {
	set, w := b.conc, b.cfg.Writers
	engine := func() (time.Duration, error) {
		s, d, err := b.openStore("engine-conc")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(d)
		defer s.Close()
		start := time.Now()
		err = fanOut(len(set.evs), w, func(i int) error {
			res, err := s.Append(ctx, []Request{{Event: set.evs[i], ExpectedVersion: AnyVersion}})
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			return err
		})
		return time.Since(start), err
	}
	raw := func() (time.Duration, error) {
		db, d, err := b.openRaw("raw-conc")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(d)
		defer db.Close()
		start := time.Now()
		err = fanOut(len(set.evs), w, func(i int) error {
			batch := db.NewBatch()
			rawSet(batch, set, i, nil)
			err := batch.Commit(b.syncOpt())
			_ = batch.Close()
			return err
		})
		return time.Since(start), err
	}
	de, dr, err := b.alternate(engine, raw)
	if err != nil {
		return BenchResult{}, err
	}
	return pair(fmt.Sprintf("append-concurrent-%d", w), fmt.Sprintf("raw pebble, %d writers each committing one synced event", w),
		len(set.evs), set.bytes, de, dr), nil
}

// reads fills one engine store and one raw database with the batched set,
// then measures the scan and history pairs on them.
func (b *bencher) reads(ctx context.Context) ([]BenchResult, error) {
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
	var key []byte
	for i := 0; i < len(set.evs); i += bs {
		reqs := make([]Request, 0, bs)
		batch := db.NewBatch()
		for j := i; j < min(i+bs, len(set.evs)); j++ {
			reqs = append(reqs, Request{Event: set.evs[j], ExpectedVersion: AnyVersion})
			key = rawSet(batch, set, j, key)
		}
		if _, err := s.Append(ctx, reqs); err != nil {
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
		err := s.Scan(ctx, 1, 0, func(rec *Record) error { n++; sink += len(rec.Raw); return nil })
		if err == nil && n != len(set.evs) {
			err = fmt.Errorf("scan saw %d of %d events", n, len(set.evs))
		}
		return time.Since(start), err
	}
	rawScan := func() (time.Duration, error) {
		start := time.Now()
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefixEvent, UpperBound: prefixEnd(prefixEvent)})
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
	de, dr, err := b.alternate(engineScan, rawScan)
	if err != nil {
		return nil, err
	}
	out := []BenchResult{pair("scan", "raw pebble iteration over e/ values", len(set.evs), set.bytes, de, dr)}

	// 4. One customer's history.
	hist := b.cfg.HistoryEvents
	engineHist := func() (time.Duration, error) {
		start := time.Now()
		recs, err := s.CustomerEvents(ctx, benchHistoryCustomer, 0, 0)
		if err == nil && len(recs) != hist {
			err = fmt.Errorf("history has %d of %d events", len(recs), hist)
		}
		return time.Since(start), err
	}
	rawHist := func() (time.Duration, error) {
		start := time.Now()
		lower, upper := customerBounds(benchHistoryCustomer)
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
			v, closer, err := db.Get(eventKey(key[:0], seq))
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
	const reps = 21
	median := func(f func() (time.Duration, error)) (time.Duration, error) {
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
	he, err := median(engineHist)
	if err != nil {
		return out, err
	}
	hr, err := median(rawHist)
	if err != nil {
		return out, err
	}
	var histBytes int64
	for _, ev := range set.evs {
		if ev.Subject == benchHistoryCustomer {
			histBytes += int64(len(ev.Raw))
		}
	}
	r := pair(fmt.Sprintf("history-%d", hist), "raw pebble c/ prefix iteration + e/ point reads", hist, histBytes, he, hr)
	r.LatencyMS = float64(he.Microseconds()) / 1000
	r.BaselineLatencyMS = float64(hr.Microseconds()) / 1000
	out = append(out, r)
	_ = sink
	return out, nil
}
