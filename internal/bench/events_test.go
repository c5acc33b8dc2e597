package bench

import (
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/internal/simulate"
)

func TestEventsValid(t *testing.T) {
	evs, err := Events(900, 40, 1)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[journey.Kind]int{}
	ids := map[string]bool{}
	for i, raw := range evs {
		ev, err := journey.Decode(raw, time.Now())
		if err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, raw)
		}
		kinds[ev.Type]++
		if ids[ev.ID] {
			t.Fatalf("id %s twice", ev.ID)
		}
		ids[ev.ID] = true
	}
	if got, want := len(kinds), len(journey.Kinds()); got != want {
		t.Fatalf("kinds=%d, want %d: %v", got, want, kinds)
	}
}

// TestStoreEventsHistory: the store bench's stream holds exactly the
// history customer's events it reads back, spread over the stream, and
// every customer's events are in time order.
func TestStoreEventsHistory(t *testing.T) {
	evs, err := StoreEvents(5000, 30, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]time.Time{}
	first, final, hist := -1, -1, 0
	for i, ev := range evs {
		if ev.Time.Before(last[ev.Subject]) {
			t.Fatalf("event %d of %s at %v before %v", i, ev.Subject, ev.Time, last[ev.Subject])
		}
		last[ev.Subject] = ev.Time
		if ev.Subject == HistoryCustomer {
			hist++
			if first < 0 {
				first = i
			}
			final = i
		}
	}
	if hist != 100 || first != 0 || final < 4900 {
		t.Fatalf("history customer has %d events at %d…%d, want 100 spread over 5000", hist, first, final)
	}
	if len(last) != 31 {
		t.Fatalf("%d customers, want 31", len(last))
	}
}

// TestAsOfHistoryInOrder: the history `journey bench asof` asks about
// spans the year in time order (it once wrapped around from event 293 on,
// a Duration overflow, so most of it was late and re-folded).
func TestAsOfHistoryInOrder(t *testing.T) {
	start := simulate.DefaultStart()
	reqs, err := asOfHistory(1, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != AsOfHistory {
		t.Fatalf("%d events, want %d", len(reqs), AsOfHistory)
	}
	prev := start
	for i, r := range reqs {
		if r.Event.Subject != AsOfCustomer || r.Event.Time.Before(prev) || r.Event.Time.After(start.Add(366*24*time.Hour)) {
			t.Fatalf("event %d of %s at %v: not %s's after %v within the year from %v", i, r.Event.Subject, r.Event.Time, AsOfCustomer, prev, start)
		}
		prev = r.Event.Time
	}
	if end := start.Add(300 * 24 * time.Hour); prev.Before(end) {
		t.Fatalf("the history ends at %v, before %v", prev, end)
	}
}
