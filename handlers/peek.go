package handlers

import (
	"bytes"

	"github.com/go-json-experiment/json/jsontext"
)

// peek is the light parse of an event: the top-level "id" and "subject"
// string attributes, without validating anything else. ok is false when raw
// is not a JSON object; a missing or non-string attribute is "".
type peeker struct {
	r   bytes.Reader
	dec jsontext.Decoder
}

func (p *peeker) peek(raw []byte) (id, subject string, ok bool) {
	if id, subject, sure := peekFast(raw); sure {
		return id, subject, true
	}
	return p.peekDecoder(raw)
}

// peekDecoder is peek with the JSON decoder.
func (p *peeker) peekDecoder(raw []byte) (id, subject string, ok bool) {
	p.r.Reset(raw)
	p.dec.Reset(&p.r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	tok, err := p.dec.ReadToken()
	if err != nil || tok.Kind() != '{' {
		return "", "", false
	}
	var haveID, haveSubject bool
	for !(haveID && haveSubject) {
		if p.dec.PeekKind() == '}' {
			break
		}
		name, err := p.dec.ReadToken()
		if err != nil {
			return id, subject, false
		}
		switch name.String() {
		case "id":
			if p.dec.PeekKind() == '"' {
				v, err := p.dec.ReadToken()
				if err != nil {
					return id, subject, false
				}
				id, haveID = v.String(), true
				continue
			}
		case "subject":
			if p.dec.PeekKind() == '"' {
				v, err := p.dec.ReadToken()
				if err != nil {
					return id, subject, false
				}
				subject, haveSubject = v.String(), true
				continue
			}
		}
		if err := p.dec.SkipValue(); err != nil {
			return id, subject, false
		}
	}
	return id, subject, true
}

// peekFast is peek for the common line: an object whose members up to
// the "id" and "subject" strings are plain ASCII strings (no escape, no
// control character) under plain names. sure is false for anything else, which the
// JSON decoder then reads; when sure, the answer is the decoder's
// (FuzzPeek checks it).
func peekFast(raw []byte) (id, subject string, sure bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return "", "", false
	}
	var idAt, subjectAt [2]int // value bounds; [0] == 0: not seen
	for {
		i = skipWS(raw, i+1)
		name0, name1, ok := plainString(raw, i)
		if !ok {
			return "", "", false
		}
		i = skipWS(raw, name1+1)
		if i >= len(raw) || raw[i] != ':' {
			return "", "", false
		}
		i = skipWS(raw, i+1)
		v0, v1, ok := plainString(raw, i)
		if !ok {
			return "", "", false
		}
		switch string(raw[name0:name1]) {
		case "id":
			if idAt[0] != 0 {
				return "", "", false // a duplicate name: the decoder decides
			}
			idAt = [2]int{v0, v1}
		case "subject":
			if subjectAt[0] != 0 {
				return "", "", false
			}
			subjectAt = [2]int{v0, v1}
		}
		if idAt[0] != 0 && subjectAt[0] != 0 {
			return string(raw[idAt[0]:idAt[1]]), string(raw[subjectAt[0]:subjectAt[1]]), true
		}
		i = skipWS(raw, v1+1)
		if i >= len(raw) || raw[i] != ',' {
			return "", "", false
		}
	}
}

// plainString returns the bounds of the contents of the string starting at
// raw[i], if it has no escape and no control character.
func plainString(raw []byte, i int) (start, end int, ok bool) {
	if i >= len(raw) || raw[i] != '"' {
		return 0, 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return i + 1, j, true
		case c == '\\', c < 0x20, c >= 0x80:
			// An escape, a control character (invalid JSON) or
			// non-ASCII (the decoder replaces invalid UTF-8).
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// skipWS skips JSON whitespace from raw[i].
func skipWS(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// validToken reports whether s can be one NATS subject token as the event
// contract allows customer ids: 1–128 bytes of ASCII letters, digits and
// _ - : @.
func validToken(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == ':', c == '@':
		default:
			return false
		}
	}
	return true
}
