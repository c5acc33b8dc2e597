package journey

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"unicode/utf8"
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
	CodeErased          Code = "erased"           // the customer was erased (journey forget); kept without its data
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
// Field is empty, with Field and Rule cut as Bounded cuts them.
func (e *Error) Error() string {
	b := e.Bounded()
	if b.Field == "" {
		return fmt.Sprintf("%s: %s", b.Code, b.Rule)
	}
	return fmt.Sprintf("%s: %s: %s", b.Code, b.Field, b.Rule)
}

// Bounds of what an Error echoes of its input, so that a reply, a notice
// or a quarantine reason never grows with the input: a value a rule quotes
// is cut to MaxEchoBytes (Quote), a field path to MaxFieldPathDepth
// segments and MaxFieldBytes bytes, a whole rule to MaxRuleBytes. A cut
// ends with "…".
const (
	MaxEchoBytes      = 64
	MaxFieldBytes     = 256
	MaxFieldPathDepth = 32
	MaxRuleBytes      = 1024
)

// Bounded returns e with Field and Rule cut to MaxFieldBytes and
// MaxRuleBytes (e itself when they fit). Every surface that shows an
// Error (replies, rejection notices, quarantine entries) shows Bounded.
func (e *Error) Bounded() *Error {
	if len(e.Field) <= MaxFieldBytes && len(e.Rule) <= MaxRuleBytes {
		return e
	}
	return &Error{Code: e.Code, Field: cut(e.Field, MaxFieldBytes), Rule: cut(e.Rule, MaxRuleBytes)}
}

// Quote quotes s as a rule shows a value (Go syntax), cut to MaxEchoBytes
// of s followed by "…".
func Quote(s string) string { return quoteValue(s) }

// FieldPath joins the names of a path ("data", "traits", "tier") with dots
// as Error.Field spells it, keeping at most MaxFieldPathDepth names and
// MaxFieldBytes bytes (a deeper or longer path ends with "…").
func FieldPath(names iter.Seq[string]) string {
	var b strings.Builder
	depth := 0
	for name := range names {
		if depth == 0 {
			b.WriteString(cut(name, MaxFieldBytes))
			if len(name) > MaxFieldBytes {
				break
			}
		} else if depth == MaxFieldPathDepth || b.Len()+1+len(name) > MaxFieldBytes {
			b.WriteString(".…")
			break
		} else {
			b.WriteByte('.')
			b.WriteString(name)
		}
		depth++
	}
	return b.String()
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence,
// ending it with "…" when it was longer.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
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
