package journey

import (
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// PROVISIONAL: a minimal decoder so the other packages can build and test;
// full validation lands with the vocabulary work.

type envelope struct {
	SpecVersion string         `json:"specversion"`
	ID          string         `json:"id"`
	Source      string         `json:"source"`
	Type        string         `json:"type"`
	Subject     string         `json:"subject"`
	Time        string         `json:"time"`
	Data        jsontext.Value `json:"data"`
}

type rawData struct {
	Channel     string            `json:"channel"`
	StoreID     string            `json:"store_id"`
	OrderID     string            `json:"order_id"`
	Amount      string            `json:"amount"`
	Currency    string            `json:"currency"`
	Items       int               `json:"items"`
	Discount    string            `json:"discount"`
	Kind        string            `json:"kind"`
	Reason      string            `json:"reason"`
	CaseID      string            `json:"case_id"`
	Severity    string            `json:"severity"`
	Category    string            `json:"category"`
	EscalatedTo string            `json:"escalated_to"`
	Outcome     string            `json:"outcome"`
	CSAT        *int              `json:"csat"`
	NPS         *int              `json:"nps"`
	Comment     string            `json:"comment"`
	Public      bool              `json:"public"`
	MessageID   string            `json:"message_id"`
	Referred    string            `json:"referred"`
	Country     string            `json:"country"`
	Traits      map[string]string `json:"traits"`
}

// Decode parses and validates one event as received, at the engine's clock
// now. The returned Event keeps raw as its Raw field (not copied).
func Decode(raw []byte, now time.Time) (*Event, error) {
	if len(raw) > MaxEventBytes {
		return nil, errorf(CodeTooLarge, "", "event is %d bytes, more than %d", len(raw), MaxEventBytes)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, errorf(CodeInvalidJSON, "", "%v", err)
	}
	k := Kind(env.Type)
	if !k.Known() {
		return nil, errorf(CodeUnknownType, "type", "%q is not a known touchpoint type", env.Type)
	}
	t, err := time.Parse(time.RFC3339Nano, env.Time)
	if err != nil {
		return nil, errorf(CodeInvalidField, "time", "%q is not RFC 3339", env.Time)
	}
	var rd rawData
	if len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, &rd); err != nil {
			return nil, errorf(CodeInvalidField, "data", "%v", err)
		}
	}
	ev := &Event{ID: env.ID, Source: env.Source, Type: k, Subject: env.Subject, Time: t, Raw: raw}
	d := &ev.Data
	d.Channel, d.StoreID, d.OrderID, d.Currency, d.Items = rd.Channel, rd.StoreID, rd.OrderID, rd.Currency, rd.Items
	d.Reason, d.CaseID, d.Severity, d.Category, d.EscalatedTo, d.Outcome = rd.Reason, rd.CaseID, rd.Severity, rd.Category, rd.EscalatedTo, rd.Outcome
	d.CSAT, d.NPS = -1, -1
	if rd.CSAT != nil {
		d.CSAT = *rd.CSAT
	}
	if rd.NPS != nil {
		d.NPS = *rd.NPS
	}
	d.Comment, d.Public, d.MessageID, d.Referred, d.Country, d.Traits = rd.Comment, rd.Public, rd.MessageID, rd.Referred, rd.Country, rd.Traits
	switch k {
	case KindReturn:
		d.ReturnKind = rd.Kind
	case KindProfile:
		d.ProfileKind = rd.Kind
	}
	return ev, nil
}
