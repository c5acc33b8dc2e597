package handlers

import (
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
// is refused as a whole, with the rule it breaks. It follows only the
// array's structure (strings, escapes, nesting): each element's own JSON
// is checked when it is decoded, on its own (an invalid one is quarantined
// alone), so the body is read once here instead of validated and copied
// whole by encoding/json.
func splitBatch(data []byte) ([][]byte, *journey.Error) {
	refuse := func(rule string) ([][]byte, *journey.Error) {
		return nil, &journey.Error{Code: journey.CodeInvalidJSON, Field: "batch", Rule: rule}
	}
	notArray := "a " + BatchContentType + " body must be a JSON array of CloudEvents objects"
	invalid := func(at int) ([][]byte, *journey.Error) {
		return refuse(fmt.Sprintf("%s: invalid JSON at byte %d", notArray, at))
	}
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '[' {
		return refuse(notArray)
	}
	i = skipSpace(data, i+1)
	var out [][]byte
	if i < len(data) && data[i] == ']' {
		if j := skipSpace(data, i+1); j != len(data) {
			return invalid(j)
		}
		return out, nil
	}
	for n := 0; ; n++ {
		if i == len(data) {
			return invalid(i)
		}
		if data[i] != '{' {
			return refuse(fmt.Sprintf("element %d of the batch is not a JSON object", n))
		}
		end, bad := objectEnd(data, i)
		if bad >= 0 {
			return invalid(bad)
		}
		out = append(out, data[i:end])
		i = skipSpace(data, end)
		switch {
		case i == len(data):
			return invalid(i)
		case data[i] == ',':
			i = skipSpace(data, i+1)
		case data[i] == ']':
			if j := skipSpace(data, i+1); j != len(data) {
				return invalid(j)
			}
			return out, nil
		default:
			return invalid(i)
		}
	}
}

// skipSpace returns the first index from i that is not JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// objectEnd returns the index just past the object or array that opens at
// data[i], following strings (with their escapes) and nesting; bad is the
// offset of a bracket that does not match, or len(data) when the value
// does not end (-1: it ends).
func objectEnd(data []byte, i int) (end, bad int) {
	var stack [64]byte
	open := stack[:0]
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if i >= len(data) {
				return 0, len(data)
			}
		case '{', '[':
			open = append(open, c)
		case '}', ']':
			if len(open) == 0 || (c == '}') != (open[len(open)-1] == '{') {
				return 0, i
			}
			open = open[:len(open)-1]
			if len(open) == 0 {
				return i + 1, -1
			}
		}
	}
	return 0, len(data)
}

// jsonRule is a JSON syntax error without the input's bytes.
func jsonRule(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "invalid JSON"
}
