package journey

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

func TestNewEventDecodes(t *testing.T) {
	at := time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			raw, err := NewEvent("evt-1", "pos/store-042/till-3", k, "cust-42", at, jsontext.Value(validData[k]))
			if err != nil {
				t.Fatalf("NewEvent: %v", err)
			}
			ev, err := Decode(raw, clock)
			if err != nil {
				t.Fatalf("Decode(NewEvent) = %v\n%s", err, raw)
			}
			want, err := Decode(event(k, ""), clock)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev.Data, want.Data) || ev.ID != "evt-1" || ev.Subject != "cust-42" || ev.Type != k ||
				!ev.Time.Equal(at) || ev.Source != "pos/store-042/till-3" {
				t.Fatalf("Decode(NewEvent) = %+v, want data %+v", ev, want.Data)
			}
		})
	}
}

func TestNewEventCanonical(t *testing.T) {
	type purchase struct {
		OrderID  string `json:"order_id"`
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
		Items    int    `json:"items,omitzero"`
	}
	at := time.Date(2025, 3, 1, 11, 59, 0, 0, time.UTC)
	got, err := NewEvent("e-1", "pos/1", KindPurchase, "c-1", at, purchase{"o-1", "42.50", "EUR", 0})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"specversion":"1.0","id":"e-1","source":"pos/1","type":"purchase","subject":"c-1","time":"2025-03-01T11:59:00Z",` +
		`"datacontenttype":"application/json","data":{"order_id":"o-1","amount":"42.50","currency":"EUR"}}`
	if string(got) != want {
		t.Fatalf("NewEvent =\n%s\nwant\n%s", got, want)
	}

	// Maps are written sorted: equal inputs, equal bytes.
	m := map[string]any{"csat": 5, "nps": 10, "comment": "<ok> & \"fine\"", "public": true, "z": []int{1}}
	a, err := NewEvent("e", "s", KindFeedback, "c", at.Add(1500*time.Millisecond), m)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, _ := NewEvent("e", "s", KindFeedback, "c", at.Add(1500*time.Millisecond), m)
		if !bytes.Equal(a, b) {
			t.Fatalf("NewEvent is not deterministic:\n%s\n%s", a, b)
		}
	}
	if !bytes.Contains(a, []byte(`"time":"2025-03-01T11:59:01.5Z"`)) || !bytes.Contains(a, []byte(`{"comment":`)) {
		t.Fatalf("NewEvent = %s", a)
	}
}

func TestNewEventRejects(t *testing.T) {
	at := time.Date(2025, 3, 1, 11, 59, 0, 0, time.UTC)
	for _, c := range []struct {
		name        string
		id, subject string
		kind        Kind
		t           time.Time
		data        any
		code        Code
		field       string
	}{
		{"data not an object", "e", "c", KindVisit, at, []string{"store"}, CodeInvalidField, "data"},
		{"nil data", "e", "c", KindVisit, at, nil, CodeInvalidField, "data"},
		{"invalid data", "e", "c", KindVisit, at, map[string]string{"channel": "bike"}, CodeInvalidField, "data.channel"},
		{"unknown kind", "e", "c", "bogus", at, map[string]string{}, CodeUnknownType, "type"},
		{"bad subject", "e", "c d", KindVisit, at, map[string]string{"channel": "web"}, CodeInvalidField, "subject"},
		{"empty id", "", "c", KindVisit, at, map[string]string{"channel": "web"}, CodeInvalidField, "id"},
		{"long id", strings.Repeat("i", 129), "c", KindVisit, at, map[string]string{"channel": "web"}, CodeInvalidField, "id"},
		{"invalid UTF-8 id", "e\xff", "c", KindVisit, at, map[string]string{"channel": "web"}, CodeInvalidUTF8, "id"},
		{"year 10000", "e", "c", KindVisit, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), map[string]string{"channel": "web"}, CodeInvalidField, "time"},
	} {
		_, err := NewEvent(c.id, "src", c.kind, c.subject, c.t, c.data)
		if !errors.Is(err, &Error{Code: c.code, Field: c.field}) {
			t.Errorf("%s: NewEvent = %v, want %s on %q", c.name, err, c.code, c.field)
		}
	}
	if _, err := NewEvent("e", "s", KindVisit, "c", at, map[string]any{"f": func() {}}); err == nil || CodeOf(err) != CodeInternal {
		t.Errorf("NewEvent with unmarshalable data = %v", err)
	}
}
