package journey

import (
	"bytes"

	"github.com/go-json-experiment/json/jsontext"
)

// Route reads the two attributes a raw event is routed by, its "id" and
// its "subject", without validating anything else: a publisher picks the
// NATS subject and the Nats-Msg-Id with it, and the engine then decodes
// and validates the whole event. ok is false when raw is not a JSON
// object or is broken before both are found; a missing or non-string
// attribute is "".
//
// The common event is read by the allocation-free scanner Decode uses;
// anything it does not take (an escape, invalid UTF-8, a duplicate "id"
// or "subject", a non-string one) goes to a JSON decoder, which gives the
// answer. FuzzRoute checks that the two agree.
func Route(raw []byte) (id, subject string, ok bool) {
	if id, subject, sure := routeFast(raw); sure {
		return id, subject, true
	}
	return routeDecoder(raw)
}

// routeFast is Route by the fast scanner; sure is false when it cannot
// tell.
func routeFast(raw []byte) (id, subject string, sure bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return "", "", false
	}
	var names fastNames      // a duplicate name: the decoder decides
	var idAt, subjectAt span // the values, quotes included; end 0: not seen
	i = skipWS(raw, i+1)
	for {
		ns, ne, vi, ok := names.member(raw, i)
		if !ok {
			return "", "", false
		}
		i = vi
		var at *span
		switch string(raw[ns+1 : ne-1]) {
		case "id":
			at = &idAt
		case "subject":
			at = &subjectAt
		}
		var ve int
		if at != nil {
			var vs int
			if vs, ve, ok = fastString(raw, i); !ok {
				return "", "", false // not a plain string: the decoder decides
			}
			*at = span{int32(vs), int32(ve)}
			if idAt.end != 0 && subjectAt.end != 0 {
				return string(raw[idAt.start+1 : idAt.end-1]), string(raw[subjectAt.start+1 : subjectAt.end-1]), true
			}
		} else if ve, ok = fastValue(raw, i, 0); !ok {
			return "", "", false
		}
		var done bool
		if i, done, ok = fastNext(raw, ve, '}'); !ok || done {
			return "", "", false // the end before both: the decoder decides
		}
	}
}

// routeDecoder is Route by a JSON decoder.
func routeDecoder(raw []byte) (id, subject string, ok bool) {
	dec := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	tok, err := dec.ReadToken()
	if err != nil || tok.Kind() != '{' {
		return "", "", false
	}
	var haveID, haveSubject bool
	for !(haveID && haveSubject) {
		if dec.PeekKind() == '}' {
			break
		}
		name, err := dec.ReadToken()
		if err != nil {
			return id, subject, false
		}
		switch name.String() {
		case "id":
			if dec.PeekKind() == '"' {
				v, err := dec.ReadToken()
				if err != nil {
					return id, subject, false
				}
				id, haveID = v.String(), true
				continue
			}
		case "subject":
			if dec.PeekKind() == '"' {
				v, err := dec.ReadToken()
				if err != nil {
					return id, subject, false
				}
				subject, haveSubject = v.String(), true
				continue
			}
		}
		if err := dec.SkipValue(); err != nil {
			return id, subject, false
		}
	}
	return id, subject, true
}
