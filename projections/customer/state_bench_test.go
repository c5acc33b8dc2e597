package customer

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchJourneys returns n customers' random journeys of about perCustomer
// events each, sorted in event-time order.
func benchJourneys(b *testing.B, n, perCustomer int) ([]string, [][]foldEvent) {
	b.Helper()
	rng := rand.New(rand.NewPCG(42, 42))
	ids := make([]string, n)
	js := make([][]foldEvent, n)
	for i := range n {
		ids[i] = fmt.Sprintf("cust-%05d", i)
		js[i] = randomJourney(b, rng, ids[i], 1+rng.IntN(2*perCustomer))
		sortFold(js[i])
	}
	return ids, js
}

// BenchmarkApply folds every customer's journey into a fresh state, as a
// rebuild does: events/s on one core, allocations included.
func BenchmarkApply(b *testing.B) {
	ids, js := benchJourneys(b, 500, 40)
	events := 0
	for _, j := range js {
		events += len(j)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, j := range js {
			s := NewState(ids[i])
			for _, e := range j {
				s.Apply(e.ev, e.seq)
			}
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events), "ns/event")
}

// BenchmarkApplyWarm applies events to an existing state (live projection
// of a known customer: load, apply one, store).
func BenchmarkApplyWarm(b *testing.B) {
	ids, js := benchJourneys(b, 200, 40)
	states := make([]*State, len(js))
	for i := range js {
		states[i] = NewState(ids[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	i, k := 0, 0
	for b.Loop() {
		j := js[i]
		e := j[k%len(j)]
		states[i].Apply(e.ev, e.seq)
		i++
		if i == len(js) {
			i, k = 0, k+1
		}
	}
}

func benchStates(b *testing.B) []*State {
	ids, js := benchJourneys(b, 500, 40)
	states := make([]*State, len(js))
	for i, j := range js {
		states[i] = fold(ids[i], j)
	}
	return states
}

func BenchmarkMarshalBinary(b *testing.B) {
	states := benchStates(b)
	total := 0
	for _, s := range states {
		p, _ := s.MarshalBinary()
		total += len(p)
	}
	b.ReportAllocs()
	b.SetBytes(int64(total / len(states)))
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := states[i%len(states)].MarshalBinary(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(total)/float64(len(states)), "bytes/state")
}

func BenchmarkAppendBinary(b *testing.B) {
	states := benchStates(b)
	buf := make([]byte, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var err error
		if buf, err = states[i%len(states)].AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	states := benchStates(b)
	enc := make([][]byte, len(states))
	total := 0
	for i, s := range states {
		enc[i], _ = s.MarshalBinary()
		total += len(enc[i])
	}
	b.ReportAllocs()
	b.SetBytes(int64(total / len(states)))
	b.ResetTimer()
	i := 0
	for b.Loop() {
		var s State
		if err := s.UnmarshalBinary(enc[i%len(enc)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkDerive(b *testing.B) {
	states := benchStates(b)
	asOf := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	b.Run("default", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			(*Config)(nil).Derive(states[i%len(states)], asOf, nil)
			i++
		}
	})
	b.Run("rules=3", func(b *testing.B) {
		c := &Config{Rules: map[string]string{
			"vip":    `customer.revenue["GBP"] > 10000 && customer.satisfaction > 60.0`,
			"lapsed": `customer.highest_stage == "loyal" && customer.stage in ["at_risk", "churned"]`,
			"angry":  `"angry" in customer.types`,
		}}
		if err := c.Compile(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Derive(states[i%len(states)], asOf, nil)
			i++
		}
	})
}
