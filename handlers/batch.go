package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	journey "github.com/journey-cdp/journey"
)

// BatchContentType is the CloudEvents batched mode's media type: the body
// (a NATS message's data, an HTTP request's body) is a JSON array of
// CloudEvents, each validated, quarantined or appended on its own and
// idempotent by its own id. Sent as the NATS message's Content-Type
// header, or HTTP's.
const BatchContentType = "application/cloudevents-batch+json"

// isBatch reports whether a Content-Type names the batched mode
// (parameters such as charset are allowed).
func isBatch(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.TrimSpace(strings.ToLower(contentType))
	}
	return mt == BatchContentType
}

// splitBatch returns the elements of a batch body, each an object's raw
// bytes (sub-slices of data). A body that is not a JSON array of objects
// is refused as a whole, with the rule it breaks.
func splitBatch(data []byte) ([][]byte, *journey.Error) {
	refuse := func(rule string) ([][]byte, *journey.Error) {
		return nil, &journey.Error{Code: journey.CodeInvalidJSON, Field: "batch", Rule: rule}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return refuse("a " + BatchContentType + " body must be a JSON array of CloudEvents objects")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(trimmed, &elems); err != nil {
		return refuse("a " + BatchContentType + " body must be a JSON array of CloudEvents objects: " + jsonRule(err))
	}
	out := make([][]byte, 0, len(elems))
	for i, e := range elems {
		if len(e) == 0 || e[0] != '{' {
			return refuse(fmt.Sprintf("element %d of the batch is not a JSON object", i))
		}
		out = append(out, e)
	}
	return out, nil
}

// jsonRule is a JSON syntax error without the input's bytes.
func jsonRule(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "invalid JSON"
}
