package eventstore

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	journey "github.com/journey-cdp/journey"
)

// StoredEvent is a record of the log as every surface shows it: an entry
// of the HTTP events page (GET /v1/customers/{id}/events), a line of the
// log's export (GET /v1/export/events, journey export --what events), a
// line of journey history --json and an event of the subject-access
// export. Event is the event exactly as received.
type StoredEvent struct {
	Seq        uint64         `json:"seq"`
	Version    uint64         `json:"version"`
	RecordedAt time.Time      `json:"recorded_at"`
	Hash       string         `json:"hash"`
	Event      jsontext.Value `json:"event"`
}

// ErasedEvent marks the stand-in of a forgotten customer's event in a
// StoredEvent: the record stays in the hash chain, its bytes unreadable
// (Record.Erased with no Raw), and the stand-in
// {"erased":true,"id":…,"type":…,"time":…} shows what the log keeps of
// it in clear: the event's id, type and time. Every stand-in begins with
// ErasedEvent's first member.
const ErasedEvent = `{"erased":true}`

// erasedStandIn is the stand-in of a forgotten customer's event r.
type erasedStandIn struct {
	Erased bool         `json:"erased"`
	ID     string       `json:"id"`
	Type   journey.Kind `json:"type"`
	Time   time.Time    `json:"time"`
}

// Stored is r as every surface shows it.
func (r *Record) Stored() StoredEvent {
	ev := jsontext.Value(r.Raw)
	if r.Erased && len(r.Raw) == 0 {
		b, err := json.Marshal(erasedStandIn{Erased: true, ID: r.ID, Type: r.Type, Time: r.EventTime.UTC()})
		if err != nil { // cannot happen for these types; still valid JSON
			b = []byte(ErasedEvent)
		}
		ev = b
	}
	return StoredEvent{Seq: r.Seq, Version: r.Version, RecordedAt: r.RecordedAt.UTC(),
		Hash: hex.EncodeToString(r.Hash[:]), Event: ev}
}

// QuarantineLine is a quarantine entry as every surface shows it: a line
// of journey quarantine list --json, of GET /v1/quarantine and of the
// quarantine's export, and an entry of the subject-access export.
type QuarantineLine struct {
	Seq        uint64    `json:"seq"`
	ReceivedAt time.Time `json:"received_at"`
	Code       string    `json:"code"`
	Field      string    `json:"field"`
	Reason     string    `json:"reason"`
	Origin     string    `json:"origin"`
	// Raw is the input when it is valid UTF-8; otherwise RawBase64 holds it
	// (standard base64), so every entry lists and exports whatever its bytes.
	Raw       *string `json:"raw,omitempty"`
	RawBase64 string  `json:"raw_base64,omitempty"`
}

// Line is e as every surface shows it. Text fields that echo input are
// made valid UTF-8 (U+FFFD for bad bytes).
func (e *QuarantineEntry) Line() QuarantineLine {
	l := QuarantineLine{Seq: e.Seq, ReceivedAt: e.ReceivedAt.UTC(), Code: string(e.Code),
		Field: strings.ToValidUTF8(e.Field, "\uFFFD"), Reason: strings.ToValidUTF8(e.Reason, "\uFFFD"),
		Origin: strings.ToValidUTF8(e.Origin, "\uFFFD")}
	if utf8.Valid(e.Raw) {
		s := string(e.Raw)
		l.Raw = &s
	} else {
		l.RawBase64 = base64.StdEncoding.EncodeToString(e.Raw)
	}
	return l
}

// RawText is the entry's input as text (bad UTF-8 bytes as U+FFFD).
func (l *QuarantineLine) RawText() string {
	if l.Raw != nil {
		return *l.Raw
	}
	b, _ := base64.StdEncoding.DecodeString(l.RawBase64)
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
