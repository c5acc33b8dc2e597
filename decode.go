package journey

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Decode parses and validates one event as received, at the engine's clock
// now, and returns it or an *Error saying which rule it broke (see the
// package documentation for the codes and rules).
//
// now is used for one rule only: "time" may not be more than MaxFutureSkew
// ahead of it. A zero now skips that rule, which is what replaying stored
// events needs (see DecodeStored); every other rule always applies.
//
// The returned Event keeps raw as its Raw field, not copied: the caller must
// not modify raw afterwards. Every string field of the Event is a copy, so
// keeping one does not keep raw. Decode is safe for concurrent use.
func Decode(raw []byte, now time.Time) (*Event, error) {
	ev := new(Event)
	if err := decodeInto(raw, now, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// DecodeStoredInto is DecodeStored into *ev, which it overwrites (left
// unspecified on an error), for a caller that decodes many events one at
// a time and keeps none of them (a rebuild): it saves an allocation per
// event. Strings and maps it sets are new, as with DecodeStored.
func DecodeStoredInto(raw []byte, ev *Event) error {
	return decodeInto(raw, time.Time{}, ev)
}

func decodeInto(raw []byte, now time.Time, ev *Event) error {
	if len(raw) > MaxEventBytes {
		return errorf(CodeTooLarge, "", "event is %d bytes, more than %d", len(raw), MaxEventBytes)
	}
	s := statePool.Get().(*decodeState)
	err := s.decode(raw, now, ev)
	s.release()
	statePool.Put(s)
	if err != nil {
		return err
	}
	return nil
}

// DecodeStored is Decode for events that were accepted before: every rule
// applies except the clock rule ("time" not more than MaxFutureSkew ahead),
// because a stored event is read long after it was received. Rebuild,
// history and export use it.
func DecodeStored(raw []byte) (*Event, error) {
	return Decode(raw, time.Time{})
}

// The envelope attributes Decode reads.
const (
	aSpecVersion = iota
	aID
	aSource
	aType
	aSubject
	aTime
	aDataContentType
	aData
	aDataBase64
	numAttrs
)

// The data fields Decode reads, of every kind.
const (
	fChannel = iota
	fStoreID
	fOrderID
	fAmount
	fCurrency
	fItems
	fDiscount
	fKind
	fReason
	fCaseID
	fSeverity
	fCategory
	fEscalatedTo
	fOutcome
	fCSAT
	fNPS
	fComment
	fPublic
	fMessageID
	fReferred
	fCountry
	fTraits
	numFields
)

var fieldPath = [numFields]string{
	fChannel:     "data.channel",
	fStoreID:     "data.store_id",
	fOrderID:     "data.order_id",
	fAmount:      "data.amount",
	fCurrency:    "data.currency",
	fItems:       "data.items",
	fDiscount:    "data.discount",
	fKind:        "data.kind",
	fReason:      "data.reason",
	fCaseID:      "data.case_id",
	fSeverity:    "data.severity",
	fCategory:    "data.category",
	fEscalatedTo: "data.escalated_to",
	fOutcome:     "data.outcome",
	fCSAT:        "data.csat",
	fNPS:         "data.nps",
	fComment:     "data.comment",
	fPublic:      "data.public",
	fMessageID:   "data.message_id",
	fReferred:    "data.referred",
	fCountry:     "data.country",
	fTraits:      "data.traits",
}

func attrIndex(name []byte) int {
	switch string(name) {
	case "specversion":
		return aSpecVersion
	case "id":
		return aID
	case "source":
		return aSource
	case "type":
		return aType
	case "subject":
		return aSubject
	case "time":
		return aTime
	case "datacontenttype":
		return aDataContentType
	case "data":
		return aData
	case "data_base64":
		return aDataBase64
	}
	return -1
}

func fieldIndex(name []byte) int {
	switch string(name) {
	case "channel":
		return fChannel
	case "store_id":
		return fStoreID
	case "order_id":
		return fOrderID
	case "amount":
		return fAmount
	case "currency":
		return fCurrency
	case "items":
		return fItems
	case "discount":
		return fDiscount
	case "kind":
		return fKind
	case "reason":
		return fReason
	case "case_id":
		return fCaseID
	case "severity":
		return fSeverity
	case "category":
		return fCategory
	case "escalated_to":
		return fEscalatedTo
	case "outcome":
		return fOutcome
	case "csat":
		return fCSAT
	case "nps":
		return fNPS
	case "comment":
		return fComment
	case "public":
		return fPublic
	case "message_id":
		return fMessageID
	case "referred":
		return fReferred
	case "country":
		return fCountry
	case "traits":
		return fTraits
	}
	return -1
}

// decodeState is the reusable working memory of one Decode call.
type decodeState struct {
	bb  bytes.Buffer // aliases raw: jsontext then reads raw in place
	dec jsontext.Decoder

	// Where the raw JSON values of the attributes and data fields are in
	// raw; the zero span when absent. A JSON null is recorded as absent.
	// Offsets rather than slices: no pointers, so no write barriers.
	raw    []byte
	attrs  [numAttrs]span
	fields [numFields]span

	// Every string the Event keeps is appended to arena, and assigned
	// from one string conversion at the end: one allocation for all.
	arena   []byte
	pending []pendingString
	tmp     []byte // unquoting scratch for values that are not kept
}

// span is the position of a value in raw, [start, end); end is 0 when the
// value is absent (no value ends at 0: raw starts with '{').
type span struct{ start, end int32 }

// value returns the raw JSON value at sp, nil when absent.
func (s *decodeState) value(sp span) jsontext.Value {
	if sp.end == 0 {
		return nil
	}
	return s.raw[sp.start:sp.end]
}

// attr and field return the raw JSON value of an attribute or data field,
// nil when absent.
func (s *decodeState) attr(a int) jsontext.Value  { return s.value(s.attrs[a]) }
func (s *decodeState) field(f int) jsontext.Value { return s.value(s.fields[f]) }

// spanOf returns the span of v, which the decoder just returned.
func (s *decodeState) spanOf(v jsontext.Value) span {
	end := int32(s.dec.InputOffset())
	return span{start: end - int32(len(v)), end: end}
}

type pendingString struct {
	dst      *string
	off, end int
}

var statePool = sync.Pool{New: func() any { return new(decodeState) }}

func (s *decodeState) release() {
	s.raw = nil
	s.attrs = [numAttrs]span{}
	s.fields = [numFields]span{}
	clear(s.pending)
	s.pending = s.pending[:0]
	s.arena = s.arena[:0]
	s.tmp = s.tmp[:0]
	if cap(s.arena) > 4<<10 {
		s.arena = nil
	}
	if cap(s.tmp) > 4<<10 {
		s.tmp = nil
	}
	s.bb = bytes.Buffer{}
	// s.dec still refers to raw until its next Reset; a pooled state lives
	// at most until the next garbage collections.
}

func (s *decodeState) decode(raw []byte, now time.Time, ev *Event) error {
	if err := s.scan(raw); err != nil {
		return err
	}
	*ev = Event{Raw: raw}
	if err := s.validateEnvelope(ev, now); err != nil {
		return err
	}
	if err := s.validateData(ev.Type, &ev.Data); err != nil {
		return err
	}
	if len(s.arena) > 0 {
		arena := string(s.arena)
		for _, p := range s.pending {
			*p.dst = arena[p.off:p.end]
		}
	}
	return nil
}

// scan reads raw in one pass, checking its syntax (one object, nothing
// after it, no duplicate names, valid UTF-8) and recording the values of
// the known attributes and data fields.
func (s *decodeState) scan(raw []byte) *Error {
	if s.fastScan(raw) {
		return nil
	}
	s.attrs = [numAttrs]span{}
	s.fields = [numFields]span{}
	return s.scanJSON(raw)
}

// scanJSON is scan with jsontext, for every input.
func (s *decodeState) scanJSON(raw []byte) *Error {
	s.raw = raw
	s.bb = *bytes.NewBuffer(raw)
	s.dec.Reset(&s.bb)
	d := &s.dec
	tok, err := d.ReadToken()
	if err != nil {
		return syntaxError(raw, err)
	}
	if k := tok.Kind(); k != '{' {
		if !utf8.Valid(raw) {
			return invalidUTF8(raw)
		}
		return errorf(CodeInvalidJSON, "", "an event is one JSON object, got %s", kindName(k))
	}
	for {
		if d.PeekKind() == '}' {
			break
		}
		name, err := d.ReadValue()
		if err != nil {
			return syntaxError(raw, err)
		}
		a := attrIndex(s.unquoteTmp(name))
		if a == aData && d.PeekKind() == '{' {
			start := int32(d.InputOffset())
			for raw[start] != '{' { // skip the white space and ':' before the object
				start++
			}
			if err := s.scanData(); err != nil {
				return syntaxError(raw, err)
			}
			s.attrs[aData] = span{start: start, end: int32(d.InputOffset())}
			continue
		}
		if a < 0 {
			if err := d.SkipValue(); err != nil { // an extension attribute
				return syntaxError(raw, err)
			}
			continue
		}
		v, err := d.ReadValue()
		if err != nil {
			return syntaxError(raw, err)
		}
		if v[0] != 'n' {
			s.attrs[a] = s.spanOf(v)
		}
	}
	if _, err := d.ReadToken(); err != nil { // the closing '}'
		return syntaxError(raw, err)
	}
	end := d.InputOffset()
	if _, err := d.ReadToken(); err == io.EOF {
		return nil
	}
	if !utf8.Valid(raw) {
		return invalidUTF8(raw)
	}
	return errorf(CodeInvalidJSON, "", "unexpected data after the event object at byte %d", end)
}

// scanData reads the data object, recording the known fields.
func (s *decodeState) scanData() error {
	d := &s.dec
	if _, err := d.ReadToken(); err != nil {
		return err
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return err
		}
		f := fieldIndex(s.unquoteTmp(name))
		if f < 0 {
			if err := d.SkipValue(); err != nil {
				return err
			}
			continue
		}
		v, err := d.ReadValue()
		if err != nil {
			return err
		}
		if v[0] != 'n' {
			s.fields[f] = s.spanOf(v)
		}
	}
	_, err := d.ReadToken()
	return err
}

// syntaxError maps a jsontext error to an *Error.
func syntaxError(raw []byte, err error) *Error {
	if !utf8.Valid(raw) {
		return invalidUTF8(raw)
	}
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return errorf(CodeInvalidJSON, "", "unexpected end of JSON input")
		}
		return errorf(CodeInvalidJSON, "", "%v", err)
	}
	if se.Err == jsontext.ErrDuplicateName {
		return errorf(CodeInvalidJSON, pointerPath(se.JSONPointer),
			"duplicate key %s (an object may name a key once)", quoteValue(se.JSONPointer.LastToken()))
	}
	msg := strings.TrimPrefix(se.Err.Error(), "jsontext: ")
	if se.Err == io.ErrUnexpectedEOF {
		msg = "unexpected end of JSON input"
	}
	return errorf(CodeInvalidJSON, pointerPath(se.JSONPointer), "invalid JSON at byte %d: %s", se.ByteOffset, msg)
}

func invalidUTF8(raw []byte) *Error {
	off := 0
	for off < len(raw) {
		r, n := utf8.DecodeRune(raw[off:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		off += n
	}
	return errorf(CodeInvalidUTF8, "", "invalid UTF-8 at byte %d", off)
}

// pointerPath turns a JSON pointer such as "/data/amount" into the dotted
// path "data.amount" that Error.Field uses.
// It is bounded as FieldPath bounds it: a 10,000-deep document does not
// give a 20 KB field.
func pointerPath(p jsontext.Pointer) string { return FieldPath(p.Tokens()) }

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "nothing"
}

// valueKind names the JSON type of a raw value, for rules.
func valueKind(v jsontext.Value) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch c := v[0]; {
	case c == '-' || isDigit(c):
		return "a number"
	default:
		return kindName(jsontext.Kind(c))
	}
}

// unquoteTmp returns the content of the JSON string v, which jsontext has
// validated. The result aliases v, or s.tmp when v has escapes, and is only
// valid until the next call.
func (s *decodeState) unquoteTmp(v jsontext.Value) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1]
	}
	s.tmp, _ = jsontext.AppendUnquote(s.tmp[:0], v)
	return s.tmp
}

// keep appends the content of the JSON string v to the arena, to be
// assigned to *dst when the event is accepted, and returns the content.
func (s *decodeState) keep(v jsontext.Value, dst *string) []byte {
	off := len(s.arena)
	if bytes.IndexByte(v, '\\') < 0 {
		s.arena = append(s.arena, v[1:len(v)-1]...)
	} else {
		s.arena, _ = jsontext.AppendUnquote(s.arena, v)
	}
	if len(s.arena) > off {
		s.pending = append(s.pending, pendingString{dst: dst, off: off, end: len(s.arena)})
	}
	return s.arena[off:]
}

// validateEnvelope checks the attributes in the contract's order and fills
// ev's envelope fields.
func (s *decodeState) validateEnvelope(ev *Event, now time.Time) *Error {
	// specversion
	var err *Error
	v := s.attr(aSpecVersion)
	if v == nil {
		return missing("specversion", "required attribute")
	}
	if v[0] != '"' || string(s.unquoteTmp(v)) != "1.0" {
		return errorf(CodeInvalidField, "specversion", `must be "1.0", got %s`, showValue(s, v))
	}

	// id
	if err := s.boundedString(aID, "id", MaxIDBytes, &ev.ID); err != nil {
		return err
	}
	// source
	if err := s.boundedString(aSource, "source", MaxSourceBytes, &ev.Source); err != nil {
		return err
	}

	// type
	if v, err = s.requiredString(aType, "type", "a string"); err != nil {
		return err
	}
	k, ok := kindOf(s.unquoteTmp(v))
	if !ok {
		return errorf(CodeUnknownType, "type", "%s is not a known touchpoint type (one of %s)", quoteValue(s.unquoteTmp(v)), kindList)
	}
	if k.Engine() && !now.IsZero() {
		return errorf(CodeUnknownType, "type", "%q is an engine event, recorded by the engine itself; publishers send touchpoints (one of %s)", k, kindList)
	}
	ev.Type = k

	// subject
	if v, err = s.requiredString(aSubject, "subject", "a string"); err != nil {
		return err
	}
	if rule := customerIDRule(s.keep(v, &ev.Subject)); rule != "" {
		return &Error{Code: CodeInvalidField, Field: "subject", Rule: rule}
	}

	// time
	if v, err = s.requiredString(aTime, "time", "an RFC 3339 string"); err != nil {
		return err
	}
	t, ok := parseTime(s.unquoteTmp(v))
	if !ok {
		return errorf(CodeInvalidField, "time", "%s is not an RFC 3339 timestamp such as \"2025-03-01T12:00:00Z\"", quoteValue(s.unquoteTmp(v)))
	}
	if rule := TimeRangeRule(t); rule != "" && (!now.IsZero() || t.Year() > 9999 || t.Year() < 0) {
		// Stored events keep reading (year 0000 was accepted once).
		return errorf(CodeInvalidField, "time", "%s %s", quoteValue(s.unquoteTmp(v)), rule)
	}
	if !now.IsZero() {
		if ahead := t.Sub(now); ahead > MaxFutureSkew {
			return errorf(CodeInvalidField, "time", "%s is %s ahead of the engine's clock, more than %v",
				quoteValue(s.unquoteTmp(v)), aheadText(t, now, ahead), MaxFutureSkew)
		}
	}
	ev.Time = t

	// datacontenttype
	if v = s.attr(aDataContentType); v != nil {
		if v[0] != '"' || !isJSONMediaType(s.unquoteTmp(v)) {
			return errorf(CodeInvalidField, "datacontenttype", `must be "application/json", got %s`, showValue(s, v))
		}
	}

	// data
	if s.attr(aDataBase64) != nil {
		return errorf(CodeInvalidField, "data_base64", "binary data is not accepted; data must be a JSON object")
	}
	v = s.attr(aData)
	if v == nil {
		return missing("data", "required attribute")
	}
	if v[0] != '{' {
		return errorf(CodeInvalidField, "data", "must be a JSON object, got %s", valueKind(v))
	}
	return nil
}

// aheadText says how far t is after now (ahead = t.Sub(now)): a duration
// up to two days, else whole days, counted from the Unix times since
// t.Sub saturates at about 292 years (a year 9999 time is further ahead).
func aheadText(t, now time.Time, ahead time.Duration) string {
	if ahead < 48*time.Hour {
		return ahead.Round(time.Second).String()
	}
	return strconv.FormatInt((t.Unix()-now.Unix())/86400, 10) + " days"
}

func missing(field, rule string) *Error {
	return &Error{Code: CodeMissingField, Field: field, Rule: rule}
}

// showValue renders a raw value for a rule: the quoted content of a string,
// else the JSON type.
func showValue(s *decodeState, v jsontext.Value) string {
	if v[0] == '"' {
		return quoteValue(s.unquoteTmp(v))
	}
	return valueKind(v)
}

// boundedString checks a required, non-empty string attribute of at most max
// bytes and keeps it in *dst.
// requiredString is attribute a, which must be present and a JSON string
// (what names the expected kind in the error).
func (s *decodeState) requiredString(a int, field, what string) (jsontext.Value, *Error) {
	v := s.attr(a)
	if v == nil {
		return nil, missing(field, "required attribute")
	}
	if v[0] != '"' {
		return nil, errorf(CodeInvalidField, field, "must be %s, got %s", what, valueKind(v))
	}
	return v, nil
}

func (s *decodeState) boundedString(a int, field string, max int, dst *string) *Error {
	v, err := s.requiredString(a, field, "a string")
	if err != nil {
		return err
	}
	b := s.keep(v, dst)
	if len(b) == 0 {
		return errorf(CodeInvalidField, field, "must not be empty")
	}
	if len(b) > max {
		return errorf(CodeInvalidField, field, "is %d bytes, more than %d", len(b), max)
	}
	return nil
}

func isJSONMediaType(b []byte) bool {
	mt := b
	if i := bytes.IndexByte(b, ';'); i >= 0 {
		mt = b[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(mt), []byte("application/json"))
}

// customerIDRule returns the rule b breaks as a customer id (a subject or a
// referred customer), or "".
func customerIDRule(b []byte) string {
	if len(b) == 0 {
		return "must not be empty"
	}
	if len(b) > MaxSubjectBytes {
		return "is " + strconv.Itoa(len(b)) + " bytes, more than " + strconv.Itoa(MaxSubjectBytes)
	}
	for i, c := range b {
		if !idChar[c] {
			r, _ := utf8.DecodeRune(b[i:])
			return quoteValue(b) + " has " + strconv.QuoteRune(r) + " at byte " + strconv.Itoa(i) +
				"; a customer id is ASCII letters, digits and _ - : @ (one NATS subject token)"
		}
	}
	return ""
}

var idChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-:@" {
		t[c] = true
	}
	return t
}()

// ValidCustomerID reports whether id may be a customer id (an event's
// subject, a referral's referred): 1 to MaxSubjectBytes bytes of ASCII
// letters, digits and _ - : @, so that it is one NATS subject token.
func ValidCustomerID(id string) bool {
	if len(id) == 0 || len(id) > MaxSubjectBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !idChar[id[i]] {
			return false
		}
	}
	return true
}

// parseTime parses an RFC 3339 timestamp, YYYY-MM-DDTHH:MM:SS with an
// optional fraction of 1 to 9 digits and Z or a ±HH:MM offset, and returns
// it in UTC. Leap seconds (:60) are not accepted. The instant may be
// outside the years 0000 to 9999 in UTC (e.g. 0000-01-01T00:00:00+01:00):
// TimeRangeRule says whether an event may have it.
func parseTime(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		n := i - start
		if n == 0 || n > 9 {
			return time.Time{}, false
		}
		nsec, _ = digits(b[start:i])
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	if i >= len(b) {
		return time.Time{}, false
	}
	offset := 0
	switch b[i] {
	case 'Z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return time.Time{}, false
		}
		oh, ok1 := digits(b[i+1 : i+3])
		om, ok2 := digits(b[i+4 : i+6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, false
	}
	if i != len(b) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// digits parses a short run of ASCII digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
