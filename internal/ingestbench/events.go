package ingestbench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"

	journey "github.com/journey-cdp/journey"
)

// Events returns n valid touchpoints of every kind for the given number of
// customers, built with journey.NewEvent, deterministic for a seed. Each
// customer's events are in increasing event time. Ids are unique.
func Events(n, customers int, seed uint64) ([][]byte, error) {
	if customers < 1 {
		customers = 1
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	kinds := journey.Kinds()
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		c := rng.IntN(customers)
		customer := fmt.Sprintf("cust-%06d", c)
		k := kinds[i%len(kinds)]
		if i%4 == 3 {
			k = journey.KindPurchase // purchases are the common case
		}
		t := start.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("ev-%016x-%08d", seed, i)
		raw, err := journey.NewEvent(id, fmt.Sprintf("pos/store-%03d/till-%d", c%50, c%4), k, customer, t, data(k, i, c))
		if err != nil {
			return nil, fmt.Errorf("ingestbench: event %d: %w", i, err)
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

// JSONL joins events into JSON Lines.
func JSONL(events [][]byte) []byte {
	return append(bytes.Join(events, []byte("\n")), '\n')
}
