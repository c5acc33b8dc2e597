package journey

import (
	"fmt"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// NewEvent builds the canonical CloudEvents JSON of a touchpoint, for
// simulators, importers and the engine's own events: the attributes in the
// order specversion ("1.0"), id, source, type, subject, time (RFC 3339 in
// UTC with a "Z" and no more fraction digits than needed),
// datacontenttype ("application/json"), data. data is any value that
// marshals to a JSON object (a struct, a map, a jsontext.Value); map keys
// are written sorted, so equal inputs give equal bytes.
//
// The result is checked with DecodeStored (every rule but the clock rule),
// so NewEvent returns either bytes that Decode accepts or the *Error that
// Decode would have returned.
func NewEvent(id, source string, kind Kind, subject string, t time.Time, data any) ([]byte, error) {
	d, err := json.Marshal(data, json.Deterministic(true))
	if err != nil {
		return nil, fmt.Errorf("journey: encode data of event %q: %w", id, err)
	}
	if len(d) == 0 || d[0] != '{' {
		return nil, errorf(CodeInvalidField, "data", "must be a JSON object, got %s", valueKind(d))
	}
	b := make([]byte, 0, 128+len(id)+len(source)+len(subject)+len(d))
	b = append(b, `{"specversion":"1.0"`...)
	for _, a := range [...]struct{ name, value string }{
		{"id", id}, {"source", source}, {"type", string(kind)}, {"subject", subject},
	} {
		b = append(b, `,"`...)
		b = append(b, a.name...)
		b = append(b, `":`...)
		if b, err = jsontext.AppendQuote(b, a.value); err != nil {
			return nil, errorf(CodeInvalidUTF8, a.name, "%s is not valid UTF-8", quoteValue(a.value))
		}
	}
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","datacontenttype":"application/json","data":`...)
	b = append(b, d...)
	b = append(b, '}')
	// Check the rest (lengths, type, subject, a year outside 0000-9999, the
	// data fields) exactly as Decode will.
	if _, err := DecodeStored(b); err != nil {
		return nil, err
	}
	return b, nil
}
