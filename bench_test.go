package journey

import (
	"fmt"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

func jsonv2Unmarshal(b []byte, v any) error { return jsonv2.Unmarshal(b, v) }

// benchEvents is a mix of kinds in roughly the proportions of a retail
// stream (visits and purchases dominate), built with NewEvent so that the
// bytes are what simulators and importers produce.
func benchEvents(tb testing.TB) [][]byte {
	tb.Helper()
	mix := []struct {
		kind Kind
		n    int
	}{
		{KindVisit, 30}, {KindPurchase, 30}, {KindReturn, 5}, {KindComplaint, 3}, {KindComplaintResolved, 2},
		{KindFeedback, 12}, {KindThankYou, 8}, {KindReferral, 3}, {KindProfile, 7},
	}
	var out [][]byte
	at := time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)
	i := 0
	for _, m := range mix {
		for range m.n {
			i++
			raw, err := NewEvent(fmt.Sprintf("0195f1c2-7d2a-7b3e-9c4d-%012d", i), "pos/store-042/till-3", m.kind,
				fmt.Sprintf("cust-%06d", i*7919%100000), at.Add(time.Duration(i)*time.Second), jsontext.Value(validData[m.kind]))
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, raw)
		}
	}
	return out
}

func BenchmarkDecode(b *testing.B) {
	events := benchEvents(b)
	size := 0
	for _, e := range events {
		size += len(e)
	}
	b.Run("mix", func(b *testing.B) {
		b.SetBytes(int64(size / len(events)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := Decode(events[i%len(events)], clock); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("mix-parallel", func(b *testing.B) {
		b.SetBytes(int64(size / len(events)))
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := Decode(events[i%len(events)], clock); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
	for _, k := range []Kind{KindVisit, KindPurchase, KindProfile} {
		raw, _ := NewEvent("0195f1c2-7d2a-7b3e-9c4d-1a2b3c4d5e6f", "pos/store-042/till-3", k, "cust-42", clock.Add(-time.Minute), jsontext.Value(validData[k]))
		b.Run(string(k), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(raw, clock); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
	b.Run("rejected", func(b *testing.B) {
		raw := event(KindPurchase, `{"order_id":"o","amount":"1.234","currency":"EUR"}`)
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(raw, clock); err == nil {
				b.Fatal("accepted")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkUnmarshalBaseline is the reflection-based json v2 Unmarshal of the
// same events into a struct mirroring the envelope and data, with no
// validation: the cost Decode is compared against.
func BenchmarkUnmarshalBaseline(b *testing.B) {
	events := benchEvents(b)
	type data struct {
		Channel, StoreID, OrderID, Amount, Currency, Discount, Kind, Reason, CaseID, Severity, Category string
		EscalatedTo, Outcome, Comment, MessageID, Referred, Country                                     string
		Items                                                                                           int
		CSAT, NPS                                                                                       *int
		Public                                                                                          bool
		Traits                                                                                          map[string]string
	}
	type envelope struct {
		SpecVersion, ID, Source, Type, Subject, Time, DataContentType string
		Data                                                          data
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var e envelope
		if err := jsonv2Unmarshal(events[i%len(events)], &e); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
