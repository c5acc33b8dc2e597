package handlers

import (
	stdjson "encoding/json"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/journey-cdp/journey/eventstore"
)

// One record has one JSON shape: the events page's hand-written entry,
// StoredEvent through encoding/json (NATS, the events page's Go API) and
// through go-json-experiment (the export's lines) are the same bytes.
func TestStoredEventOneShape(t *testing.T) {
	rec := &eventstore.Record{Seq: 12, Version: 3, RecordedAt: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC),
		Raw: []byte(`{"id":"e1","subject":"c1"}`), Hash: [32]byte{0xab, 1}}
	want := string(appendEntry(nil, rec))
	v1, err := stdjson.Marshal(NewStoredEvent(rec))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := json.Marshal(NewStoredEvent(rec))
	if err != nil {
		t.Fatal(err)
	}
	if string(v1) != want || string(v2) != want {
		t.Errorf("entry %s\nencoding/json %s\njson v2 %s", want, v1, v2)
	}
}
