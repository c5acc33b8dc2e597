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
