package handlers

import (
	stdjson "encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/journey-cdp/journey/eventstore"
)

// One record has one JSON shape: the events page's hand-written entry,
// eventstore.StoredEvent through encoding/json (NATS, the events page's Go
// API, the subject-access export) and through go-json-experiment (the
// export's lines, journey history --json) are the same bytes, for a
// readable record and for a forgotten customer's.
func TestStoredEventOneShape(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	for _, rec := range []*eventstore.Record{
		{Seq: 12, Version: 3, RecordedAt: at, Raw: []byte(`{"id":"e1","subject":"c1"}`), Hash: [32]byte{0xab, 1}},
		{Seq: 13, Version: 4, RecordedAt: at, Erased: true, Hash: [32]byte{0xcd, 2}, ID: "e2", Type: "purchase",
			EventTime: time.Date(2025, 3, 1, 10, 12, 0, 0, time.UTC)},
	} {
		want := string(appendEntry(nil, rec))
		v1, err := stdjson.Marshal(rec.Stored())
		if err != nil {
			t.Fatal(err)
		}
		v2, err := json.Marshal(rec.Stored())
		if err != nil {
			t.Fatal(err)
		}
		if string(v1) != want || string(v2) != want {
			t.Errorf("entry %s\nencoding/json %s\njson v2 %s", want, v1, v2)
		}
		// A forgotten customer's event shows what the log keeps in clear.
		if standIn := `"event":{"erased":true,"id":"e2","type":"purchase","time":"2025-03-01T10:12:00Z"}}`; rec.Erased && !strings.HasSuffix(want, standIn) {
			t.Errorf("erased entry %s does not end with %s", want, standIn)
		}
	}
}
