package ingestbench

import (
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
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
