package journey

import (
	"errors"
	"fmt"
)

// Code is a stable, documented error code that callers act on. Codes appear
// in quarantine entries, in the journey.rejected notices and in the replies
// of the synchronous append. The table in the package documentation says
// what each one means.
type Code string

// Error codes.
const (
	CodeTooLarge        Code = "too_large"        // the event is larger than MaxEventBytes
	CodeInvalidUTF8     Code = "invalid_utf8"     // the bytes are not valid UTF-8
	CodeInvalidJSON     Code = "invalid_json"     // not one JSON object, or a duplicate key
	CodeMissingField    Code = "missing_field"    // a required attribute or data field is absent
	CodeInvalidField    Code = "invalid_field"    // a field breaks its rule
	CodeUnknownType     Code = "unknown_type"     // "type" is not a kind of the contract
	CodeVersionConflict Code = "version_conflict" // the expected customer version did not match
	CodeIDConflict      Code = "id_conflict"      // the id is stored with other bytes
	CodeInternal        Code = "internal"         // the engine failed; retry
)

// Error is a rejection: a stable Code, the Field (a JSON path such as
// "data.amount", empty when the whole event is at fault) and the Rule it
// broke, in words meant for the publisher, e.g.
//
//	invalid_field: data.amount: "1.234" has more decimals than EUR allows (2)
type Error struct {
	Code  Code
	Field string
	Rule  string
}

// Error formats the rejection as "code: field: rule", or "code: rule" when
// Field is empty.
func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Rule)
	}
	return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Rule)
}

// Is makes errors.Is(err, &Error{Code: c}) match any Error with code c, and
// errors.Is(err, &Error{Code: c, Field: f}) only those for field f. The
// target's Rule is ignored.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Field == "" || t.Field == e.Field)
}

// CodeOf returns the Code of the first *Error in err's chain, CodeInternal
// when err is another error, and "" when err is nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

func errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Rule: fmt.Sprintf(format, args...)}
}
