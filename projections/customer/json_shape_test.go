package customer

import (
	"bufio"
	stdjson "encoding/json"
	"os"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	journey "github.com/journey-cdp/journey"
)

// An answer has one JSON shape: the HTTP answers encode it with
// encoding/json, the CLI and the exports with go-json-experiment, and
// both give the same bytes — for a customer of the nine example events,
// for one of them alone (most counters zero) and for a prospect.
func TestAnswerOneJSONShape(t *testing.T) {
	f, err := os.Open("../../examples/touchpoints.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []*journey.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ev, err := journey.DecodeStored(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	cfg := DefaultConfig()
	asOf := time.Date(2025, 3, 10, 23, 59, 59, 0, time.UTC)
	all, one := NewState("cust-0042"), NewState("cust-0042")
	for i, ev := range evs {
		all.Apply(ev, uint64(i+1))
	}
	one.Apply(evs[1], 2)
	for name, s := range map[string]*State{"nine events": all, "one event": one, "prospect": NewState("cust-0099")} {
		a := cfg.Derive(s, asOf, nil)
		v1, err := stdjson.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := json.Marshal(a, json.Deterministic(true))
		if err != nil {
			t.Fatal(err)
		}
		if string(v1) != string(v2) {
			t.Errorf("%s: encoding/json and go-json-experiment differ:\n%s\n%s", name, v1, v2)
		}
	}
}
