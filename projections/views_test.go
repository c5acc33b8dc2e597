package projections

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/simulate"
	"github.com/journey-cdp/journey/projections/customer"
)

// simStart is the first simulated day of the test journeys.
var simStart = simulate.DefaultStart()

// simulated returns the raw events of a simulation, in arrival order.
func simulated(t testing.TB, customers, days int, seed uint64) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := simulate.Run(context.Background(), &buf, simulate.Config{Customers: customers, Days: days, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

// openLog opens an event log in dir/log (no fsync: tests).
func openLog(t testing.TB, dir string) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(filepath.Join(dir, "log"), &eventstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// appendRaw decodes and appends raws (in order), skipping invalid lines.
func appendRaw(t testing.TB, log *eventstore.Store, raws [][]byte) int {
	t.Helper()
	now := time.Now().Add(100 * 365 * 24 * time.Hour)
	var reqs []eventstore.Request
	n := 0
	flush := func() {
		if len(reqs) == 0 {
			return
		}
		res, err := log.Append(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if !r.Duplicate {
				n++
			}
		}
		reqs = reqs[:0]
	}
	for _, raw := range raws {
		ev, err := journey.Decode(raw, now)
		if err != nil {
			continue
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
		if len(reqs) == 512 {
			flush()
		}
	}
	flush()
	return n
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// openViews opens the views of dir, registering Close.
func openViews(t testing.TB, dir string, log *eventstore.Store, opts *Options) *Views {
	t.Helper()
	v, err := Open(dir, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// loadedViews appends raws to a log in a fresh dir and returns the dir,
// the log and views opened with opts and caught up with it.
func loadedViews(t testing.TB, raws [][]byte, opts *Options) (string, *eventstore.Store, *Views) {
	t.Helper()
	dir := t.TempDir()
	log := openLog(t, dir)
	appendRaw(t, log, raws)
	v := openViews(t, dir, log, opts)
	catchUp(t, v)
	return dir, log, v
}

func catchUp(t testing.TB, v *Views) uint64 {
	t.Helper()
	n, err := v.CatchUp(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// answers returns every customer's answer at asOf as JSON, with the
// folded state's binary encoding, keyed by id. With noSeq, log sequences
// (which depend on arrival order) are left out.
func answers(t testing.TB, v *Views, asOf time.Time, noSeq bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := v.Customers(context.Background(), asOf, true, func(c *customer.Answer) error {
		out[c.State.Customer] = render(t, c, noSeq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// render is a Customer's JSON plus its state's full binary encoding.
func render(t testing.TB, c *customer.Answer, noSeq bool) string {
	t.Helper()
	st := *c.State
	if noSeq {
		st.LastSeq, st.ReferredSeq = 0, 0
	}
	c2 := *c
	c2.State = &st
	j, err := json.Marshal(&c2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s\n%x", j, b)
}

// sameAnswers fails when a and b differ, naming a few differences.
func sameAnswers(t testing.TB, what string, a, b map[string]string) {
	t.Helper()
	if len(a) == 0 {
		t.Fatalf("%s: no customers", what)
	}
	bad := 0
	for _, id := range slices.Sorted(mapsKeys(a)) {
		if a[id] != b[id] {
			if bad++; bad <= 3 {
				t.Errorf("%s: customer %s differs:\n%s\n----\n%s", what, id, a[id], b[id])
			}
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			if bad++; bad <= 3 {
				t.Errorf("%s: customer %s only in the second", what, id)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d customers differ", what, bad, len(a))
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// lateCount counts events whose time is older than an earlier-arriving
// event of the same customer.
func lateCount(t testing.TB, raws [][]byte) int {
	t.Helper()
	newest := map[string]time.Time{}
	n := 0
	for _, raw := range raws {
		ev, err := journey.DecodeStored(raw)
		if err != nil {
			continue
		}
		if ev.Time.Before(newest[ev.Subject]) {
			n++
		} else {
			newest[ev.Subject] = ev.Time
		}
	}
	return n
}

func shuffled(raws [][]byte, seed uint64) [][]byte {
	out := slices.Clone(raws)
	r := rand.New(rand.NewPCG(seed, seed))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
