package journey

import (
	"bytes"
	"unicode/utf8"
)

// fastScan is scan for the common event: names without escapes, strings
// of printable ASCII or valid UTF-8 without escapes, objects of at most
// fastMaxNames names, nesting at most fastMaxDepth. It checks the same
// syntax as scan and records the same spans; it returns false, leaving
// the spans to be cleared, on anything else (any error included), which
// scan then reads with jsontext, so every rule and message is scan's.
func (s *decodeState) fastScan(raw []byte) bool {
	s.raw = raw
	if len(raw) > maxFastBytes {
		return false
	}
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	var names fastNames
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		i++
	} else {
		for {
			var ns, ne int
			var ok bool
			if ns, ne, i, ok = names.member(raw, i); !ok {
				return false
			}
			a := attrIndex(raw[ns+1 : ne-1])
			var ve int
			if a == aData && i < len(raw) && raw[i] == '{' {
				if ve, ok = s.fastData(raw, i); !ok {
					return false
				}
				s.attrs[aData] = span{int32(i), int32(ve)}
			} else {
				if ve, ok = fastValue(raw, i, 0); !ok {
					return false
				}
				if a >= 0 && raw[i] != 'n' {
					s.attrs[a] = span{int32(i), int32(ve)}
				}
			}
			var done bool
			if i, done, ok = fastNext(raw, ve, '}'); !ok {
				return false
			} else if done {
				break
			}
		}
	}
	return skipWS(raw, i) == len(raw)
}

// fastData is scanData for fastScan: the data object at raw[i] ('{'),
// returning where it ends.
func (s *decodeState) fastData(raw []byte, i int) (int, bool) {
	return fastObject(raw, i, 0, &s.fields)
}

// fastObject scans the object at raw[i] ('{') whose members are at depth+1,
// returning where it ends; with fields, it keeps the span of each known
// data field's non-null value there.
func fastObject(raw []byte, i, depth int, fields *[numFields]span) (int, bool) {
	var names fastNames
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return i + 1, true
	}
	for {
		ns, ne, vi, ok := names.member(raw, i)
		if !ok {
			return 0, false
		}
		ve, ok := fastValue(raw, vi, depth+1)
		if !ok {
			return 0, false
		}
		if fields != nil {
			if f := fieldIndex(raw[ns+1 : ne-1]); f >= 0 && raw[vi] != 'n' {
				fields[f] = span{int32(vi), int32(ve)}
			}
		}
		var done bool
		if i, done, ok = fastNext(raw, ve, '}'); !ok || done {
			return i, ok
		}
	}
}

const (
	fastMaxNames = 32
	fastMaxDepth = 16
	maxFastBytes = 1<<31 - 1 // spans are int32
)

// fastNames are the names read so far in one object, to refuse a
// duplicate as scan does.
type fastNames struct {
	s [fastMaxNames]span
	n int
}

// member reads the member name at raw[i] and its colon: the name's span
// (quotes included) and where the value starts; false on what fastScan
// leaves to scan (an escape, a duplicate, too many names, no colon).
func (f *fastNames) member(raw []byte, i int) (ns, ne, vi int, ok bool) {
	ns, ne, ok = fastString(raw, i)
	if !ok || f.n == fastMaxNames || dupName(raw, f.s[:f.n], ns, ne) {
		return 0, 0, 0, false
	}
	f.s[f.n] = span{int32(ns), int32(ne)}
	f.n++
	i = skipWS(raw, ne)
	if i >= len(raw) || raw[i] != ':' {
		return 0, 0, 0, false
	}
	return ns, ne, skipWS(raw, i+1), true
}

// dupName reports whether raw[ns:ne] is among names (strings without
// escapes: equal content is equal bytes).
func dupName(raw []byte, names []span, ns, ne int) bool {
	name := raw[ns:ne]
	for _, sp := range names {
		if bytes.Equal(raw[sp.start:sp.end], name) {
			return true
		}
	}
	return false
}

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

// fastString returns the span of the JSON string at raw[i]: false when
// there is none, or it has an escape, a control character or invalid
// UTF-8.
func fastString(raw []byte, i int) (int, int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return 0, 0, false
	}
	start := i
	i++
	for i < len(raw) {
		c := raw[i]
		switch {
		case c == '"':
			return start, i + 1, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false
			}
			i += size
		}
	}
	return 0, 0, false
}

// fastValue returns where the JSON value at raw[i] ends, depth being the
// nesting of the object or array holding it.
func fastValue(raw []byte, i, depth int) (int, bool) {
	if i >= len(raw) {
		return 0, false
	}
	switch c := raw[i]; {
	case c == '"':
		_, e, ok := fastString(raw, i)
		return e, ok
	case c == '-' || isDigit(c):
		return fastNumber(raw, i)
	case c == 't':
		return fastLiteral(raw, i, "true")
	case c == 'f':
		return fastLiteral(raw, i, "false")
	case c == 'n':
		return fastLiteral(raw, i, "null")
	case c == '{':
		if depth >= fastMaxDepth {
			return 0, false
		}
		return fastObject(raw, i, depth, nil)
	case c == '[':
		if depth >= fastMaxDepth {
			return 0, false
		}
		i = skipWS(raw, i+1)
		if i < len(raw) && raw[i] == ']' {
			return i + 1, true
		}
		for {
			var ok, done bool
			if i, ok = fastValue(raw, i, depth+1); !ok {
				return 0, false
			}
			if i, done, ok = fastNext(raw, i, ']'); !ok || done {
				return i, ok
			}
		}
	}
	return 0, false
}

// fastNext reads what follows a member or an element ending at raw[i]:
// the closing byte (done; the index past it) or a comma (the index of the
// next member or element); false on anything else.
func fastNext(raw []byte, i int, closing byte) (next int, done, ok bool) {
	i = skipWS(raw, i)
	switch {
	case i >= len(raw):
		return 0, false, false
	case raw[i] == closing:
		return i + 1, true, true
	case raw[i] == ',':
		return skipWS(raw, i+1), false, true
	}
	return 0, false, false
}

func fastLiteral(raw []byte, i int, lit string) (int, bool) {
	if len(raw)-i < len(lit) || string(raw[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// skipDigits returns the index after the digits at raw[i:], and whether
// there was at least one.
func skipDigits(raw []byte, i int) (int, bool) {
	d := i
	for i < len(raw) && isDigit(raw[i]) {
		i++
	}
	return i, i > d
}

// fastNumber returns where the JSON number at raw[i] ends:
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func fastNumber(raw []byte, i int) (int, bool) {
	if raw[i] == '-' {
		i++
	}
	var ok bool
	switch {
	case i < len(raw) && raw[i] == '0':
		i++
	case i < len(raw) && raw[i] >= '1' && raw[i] <= '9':
		i, _ = skipDigits(raw, i)
	default:
		return 0, false
	}
	if i < len(raw) && raw[i] == '.' {
		if i, ok = skipDigits(raw, i+1); !ok {
			return 0, false
		}
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		if i, ok = skipDigits(raw, i); !ok {
			return 0, false
		}
	}
	// A number must end at a delimiter: jsontext reads "01" or "1x" as an
	// error, which scan reports.
	if i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r', ',', '}', ']':
		default:
			return 0, false
		}
	}
	return i, true
}
