package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"

	journey "github.com/journey-cdp/journey"
)

// Spec describes a stream of synthetic events. Zero fields take defaults.
type Spec struct {
	Events    int    // events in the stream
	Customers int    // customers cust-000000 … they are spread over (min 1)
	Seed      uint64 // the same seed gives the same events
	// Start is the first event's time (zero: 2025-03-01 09:00 UTC) and
	// Step the time between consecutive events (0: one second).
	Start time.Time
	Step  time.Duration
	// History events, every Events/History-th from the first, belong to
	// HistoryCustomer instead: one customer with a long history spread
	// over the stream.
	History         int
	HistoryCustomer string
}

// Events returns n valid touchpoints of every kind for the given number of
// customers (Generate with the defaults).
func Events(n, customers int, seed uint64) ([][]byte, error) {
	return Generate(Spec{Events: n, Customers: customers, Seed: seed})
}

// Generate returns s.Events valid touchpoints of every kind (a quarter of
// them purchases), built with journey.NewEvent, deterministic for a seed:
// event i is at Start + i·Step, so each customer's events are in
// increasing event time; ids ("ev-<seed>-<i>") are unique per seed.
func Generate(s Spec) ([][]byte, error) {
	customers := max(1, s.Customers)
	start := s.Start
	if start.IsZero() {
		start = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	}
	step := s.Step
	if step <= 0 {
		step = time.Second
	}
	every, hist := 0, 0
	if s.History > 0 {
		every = max(1, s.Events/s.History)
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	kinds := journey.Kinds()
	out := make([][]byte, 0, s.Events)
	for i := range s.Events {
		c := rng.IntN(customers)
		customer := fmt.Sprintf("cust-%06d", c)
		if every > 0 && i%every == 0 && hist < s.History {
			customer, hist = s.HistoryCustomer, hist+1
		}
		k := kinds[i%len(kinds)]
		if i%4 == 3 {
			k = journey.KindPurchase // purchases are the common case
		}
		id := fmt.Sprintf("ev-%016x-%08d", s.Seed, i)
		raw, err := journey.NewEvent(id, fmt.Sprintf("pos/store-%03d/till-%d", c%50, c%4), k, customer,
			start.Add(time.Duration(i)*step), data(k, i, c))
		if err != nil {
			return nil, fmt.Errorf("bench: event %d: %w", i, err)
		}
		out = append(out, raw)
	}
	return out, nil
}

func data(k journey.Kind, i, c int) map[string]any {
	switch k {
	case journey.KindVisit:
		return map[string]any{"channel": "store", "store_id": fmt.Sprintf("store-%03d", c%50)}
	case journey.KindPurchase:
		return map[string]any{"order_id": fmt.Sprintf("o-%d", i), "amount": fmt.Sprintf("%d.%02d", 5+i%200, i%100),
			"currency": "EUR", "items": 1 + i%5, "channel": "store"}
	case journey.KindReturn:
		return map[string]any{"order_id": fmt.Sprintf("o-%d", i-1), "amount": "9.99", "currency": "EUR", "kind": "refund"}
	case journey.KindComplaint:
		return map[string]any{"case_id": fmt.Sprintf("case-%d", c), "severity": []string{"low", "medium", "high"}[i%3]}
	case journey.KindComplaintResolved:
		return map[string]any{"case_id": fmt.Sprintf("case-%d", c), "outcome": "resolved"}
	case journey.KindFeedback:
		return map[string]any{"csat": 1 + i%5, "nps": i % 11, "comment": "ok"}
	case journey.KindThankYou:
		return map[string]any{"message_id": fmt.Sprintf("m-%d", i), "reason": "feedback", "channel": "email"}
	case journey.KindReferral:
		return map[string]any{"referred": fmt.Sprintf("cust-%06d", c+1)}
	default: // profile
		return map[string]any{"kind": "individual", "country": "DE", "traits": map[string]string{"tier": "gold"}}
	}
}

// Decoded decodes generated events (as the log stores them).
func Decoded(raws [][]byte) ([]*journey.Event, error) {
	out := make([]*journey.Event, len(raws))
	for i, raw := range raws {
		ev, err := journey.DecodeStored(raw)
		if err != nil {
			return nil, fmt.Errorf("bench: event %d: %w", i, err)
		}
		out[i] = ev
	}
	return out, nil
}

// JSONL joins events into JSON Lines.
func JSONL(events [][]byte) []byte {
	return append(bytes.Join(events, []byte("\n")), '\n')
}
