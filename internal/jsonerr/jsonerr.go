// Package jsonerr says what is wrong with a JSON document that did not
// decode in the words of JSON — the byte, the member's path, the kinds of
// value — without Go package or type names, for the messages of config
// files, checkpoints and other inputs that are not events (events have
// their own codes: journey.Error).
package jsonerr

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Describe is err, an error of go-json-experiment's Unmarshal (or of
// encoding/json's), as a sentence about the JSON.
func Describe(err error) string {
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		msg := trim(syn.Err)
		if errors.Is(syn.Err, io.ErrUnexpectedEOF) {
			msg = "unexpected end of JSON input"
		}
		return fmt.Sprintf("invalid JSON at byte %d%s: %s", syn.ByteOffset, within(syn.JSONPointer), msg)
	}
	var sem *json.SemanticError
	if errors.As(err, &sem) {
		if errors.Is(sem.Err, json.ErrUnknownName) {
			parent, name := sem.JSONPointer.Parent(), sem.JSONPointer.LastToken()
			return fmt.Sprintf("unknown member %q%s", name, within(parent))
		}
		var got, want string
		if sem.JSONKind != 0 {
			got = " a JSON " + kindName(sem.JSONKind)
		}
		if sem.GoType != nil {
			want = " a JSON " + goKindName(sem.GoType)
		}
		at := "the value"
		if sem.JSONPointer != "" {
			at = string(sem.JSONPointer)
		}
		msg := at + " cannot be" + got
		if want != "" && want != got {
			msg = at + " must be" + want
			if got != "" {
				msg += ", not" + got
			}
		}
		if sem.Err != nil && !errors.Is(sem.Err, io.ErrUnexpectedEOF) {
			msg += ": " + trim(sem.Err)
		}
		return msg
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of JSON input"
	}
	return trim(err)
}

func within(p jsontext.Pointer) string {
	if p == "" {
		return ""
	}
	return " in " + string(p)
}

func trim(err error) string {
	s := err.Error()
	for _, p := range []string{"jsontext: ", "json: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "value"
}

func goKindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value"
}
