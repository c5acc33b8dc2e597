package journey

import (
	"bytes"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// The enumerations of the contract, in its order. Decode stores these very
// strings in Data, so that accepted enum values cost no allocation.
var (
	visitChannels  = []string{"store", "web", "app", "phone"}
	returnKinds    = []string{"refund", "exchange"}
	severities     = []string{"low", "medium", "high"}
	escalations    = []string{"authority", "media", "consumer_association", "legal"}
	outcomes       = []string{"resolved", "compensated", "rejected"}
	thankReasons   = []string{"repeat_purchase", "feedback", "complaint_resolved", "holiday", "referral"}
	profileKinds   = []string{"individual", "business", "internal"}
	commonChannels = []string{"store", "web", "app", "phone", "email", "sms", "letter", "push"}
)

// validateData checks the data fields of kind k in the contract's order and
// fills d. Fields k does not define are not looked at.
func (s *decodeState) validateData(k Kind, d *Data) *Error {
	d.CSAT, d.NPS = -1, -1
	var err *Error
	switch k {
	case KindVisit:
		if d.Channel, err = s.enum(fChannel, true, visitChannels); err != nil {
			return err
		}
		return s.text(fStoreID, false, true, &d.StoreID)

	case KindPurchase, KindReturn:
		if err = s.text(fOrderID, true, true, &d.OrderID); err != nil {
			return err
		}
		var cur currency
		if cur, err = s.currency(); err != nil {
			return err
		}
		d.Currency = cur.code
		if d.Amount, err = s.money(fAmount, true, cur); err != nil {
			return err
		}
		if k == KindReturn {
			if d.ReturnKind, err = s.enum(fKind, true, returnKinds); err != nil {
				return err
			}
			return s.text(fReason, false, false, &d.Reason)
		}
		if d.Items, err = s.count(fItems); err != nil {
			return err
		}
		if d.Discount, err = s.money(fDiscount, false, cur); err != nil {
			return err
		}
		return s.channel(false, &d.Channel)

	case KindComplaint:
		if err = s.text(fCaseID, true, true, &d.CaseID); err != nil {
			return err
		}
		if d.Severity, err = s.enum(fSeverity, true, severities); err != nil {
			return err
		}
		if err = s.text(fCategory, false, false, &d.Category); err != nil {
			return err
		}
		d.EscalatedTo, err = s.enum(fEscalatedTo, false, escalations)
		return err

	case KindComplaintResolved:
		if err = s.text(fCaseID, true, true, &d.CaseID); err != nil {
			return err
		}
		d.Outcome, err = s.enum(fOutcome, true, outcomes)
		return err

	case KindFeedback:
		if d.CSAT, err = s.score(fCSAT, 1, 5); err != nil {
			return err
		}
		if d.NPS, err = s.score(fNPS, 0, 10); err != nil {
			return err
		}
		if d.CSAT < 0 && d.NPS < 0 {
			return missing("data.csat", "feedback needs csat (1 to 5), nps (0 to 10) or both")
		}
		if err = s.text(fComment, false, false, &d.Comment); err != nil {
			return err
		}
		d.Public, err = s.boolean(fPublic)
		return err

	case KindThankYou:
		if err = s.text(fMessageID, true, true, &d.MessageID); err != nil {
			return err
		}
		if d.Reason, err = s.enum(fReason, true, thankReasons); err != nil {
			return err
		}
		return s.channel(true, &d.Channel)

	case KindReferral:
		v := s.field(fReferred)
		if v == nil {
			return missing(fieldPath[fReferred], "required for referral")
		}
		if v[0] != '"' {
			return mustBe(fReferred, "a string", v)
		}
		if rule := customerIDRule(s.keep(v, &d.Referred)); rule != "" {
			return &Error{Code: CodeInvalidField, Field: fieldPath[fReferred], Rule: rule}
		}
		return nil

	case KindActionRequested:
		if err = s.text(fKind, true, true, &d.Action); err != nil {
			return err
		}
		if err = s.text(fCaseID, false, false, &d.CaseID); err != nil {
			return err
		}
		return s.text(fReason, false, false, &d.Reason)

	case KindProfile:
		if d.ProfileKind, err = s.enum(fKind, true, profileKinds); err != nil {
			return err
		}
		if err = s.country(&d.Country); err != nil {
			return err
		}
		d.Traits, err = s.traits()
		return err
	}
	return nil
}

// The instants an event's "time" (and a query's as_of) may name: the
// years 0001 to 9999 in UTC, inclusive. RFC 3339 writes the years 0000 to
// 9999, but year 0000 is before Go's zero time.Time (0001-01-01), which
// the engine means as "no time", and an offset can move a timestamp of
// year 0000 or 9999 out of what RFC 3339 can write in UTC.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// TimeRangeRule returns the rule t breaks as an event time ("" when it is
// within the years 0001 to 9999 in UTC).
func TimeRangeRule(t time.Time) string {
	if t.Before(minTime) || t.After(maxTime) {
		return "is outside the accepted range: years 0001 to 9999 in UTC (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z)"
	}
	return ""
}

func mustBe(f int, what string, v jsontext.Value) *Error {
	return errorf(CodeInvalidField, fieldPath[f], "must be %s, got %s", what, valueKind(v))
}

// text checks a string field and keeps it in *dst.
func (s *decodeState) text(f int, required, nonEmpty bool, dst *string) *Error {
	v := s.field(f)
	if v == nil {
		if required {
			return missing(fieldPath[f], "required")
		}
		return nil
	}
	if v[0] != '"' {
		return mustBe(f, "a string", v)
	}
	if b := s.keep(v, dst); nonEmpty && len(b) == 0 {
		return errorf(CodeInvalidField, fieldPath[f], "must not be empty")
	}
	return nil
}

// enum checks a field whose value is one of values and returns that value.
func (s *decodeState) enum(f int, required bool, values []string) (string, *Error) {
	v := s.field(f)
	if v == nil {
		if required {
			return "", missing(fieldPath[f], "required")
		}
		return "", nil
	}
	if v[0] != '"' {
		return "", errorf(CodeInvalidField, fieldPath[f], "must be one of %s, got %s", strings.Join(values, ", "), valueKind(v))
	}
	b := s.unquoteTmp(v)
	for _, x := range values {
		if string(b) == x {
			return x, nil
		}
	}
	return "", errorf(CodeInvalidField, fieldPath[f], "%s is not one of %s", quoteValue(b), strings.Join(values, ", "))
}

// channel checks a free channel name (purchase, thank_you): a non-empty
// string; the common names are interned.
func (s *decodeState) channel(required bool, dst *string) *Error {
	v := s.field(fChannel)
	if v != nil && v[0] == '"' {
		b := s.unquoteTmp(v)
		for _, x := range commonChannels {
			if string(b) == x {
				*dst = x
				return nil
			}
		}
	}
	return s.text(fChannel, required, true, dst)
}

// currency checks data.currency of purchase and return.
func (s *decodeState) currency() (currency, *Error) {
	v := s.field(fCurrency)
	if v == nil {
		return currency{}, missing(fieldPath[fCurrency], "required with an amount")
	}
	if v[0] != '"' {
		return currency{}, mustBe(fCurrency, "an ISO 4217 code string such as \"EUR\"", v)
	}
	b := s.unquoteTmp(v)
	c, ok := lookupCurrency(b)
	if !ok {
		return currency{}, &Error{Code: CodeInvalidField, Field: fieldPath[fCurrency], Rule: currencyRule(b)}
	}
	return c, nil
}

// money checks an amount in currency c, a decimal string.
func (s *decodeState) money(f int, required bool, c currency) (int64, *Error) {
	v := s.field(f)
	if v == nil {
		if required {
			return 0, missing(fieldPath[f], "required")
		}
		return 0, nil
	}
	if v[0] != '"' {
		return 0, errorf(CodeInvalidField, fieldPath[f],
			`amounts must be decimal strings such as "42.50", got %s`, valueKind(v))
	}
	n, rule := parseAmount(s.unquoteTmp(v), c)
	if rule != "" {
		return 0, &Error{Code: CodeInvalidField, Field: fieldPath[f], Rule: rule}
	}
	return n, nil
}

// integer parses a JSON number that is an integer (no fraction, no
// exponent) fitting in an int.
func integer(v jsontext.Value) (int, bool) {
	b := []byte(v)
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// count checks data.items, a non-negative integer, 0 when absent.
func (s *decodeState) count(f int) (int, *Error) {
	v := s.field(f)
	if v == nil {
		return 0, nil
	}
	n, ok := integer(v)
	if !ok || n < 0 {
		return 0, errorf(CodeInvalidField, fieldPath[f], "must be a non-negative integer, got %s", showNumber(v))
	}
	return n, nil
}

// score checks an integer rating in [lo, hi]; -1 when absent.
func (s *decodeState) score(f, lo, hi int) (int, *Error) {
	v := s.field(f)
	if v == nil {
		return -1, nil
	}
	n, ok := integer(v)
	if !ok || n < lo || n > hi {
		return -1, errorf(CodeInvalidField, fieldPath[f], "must be an integer from %d to %d, got %s", lo, hi, showNumber(v))
	}
	return n, nil
}

// showNumber renders a JSON number itself, anything else by its type.
func showNumber(v jsontext.Value) string {
	if k := valueKind(v); k != "a number" {
		return k
	}
	if len(v) > 32 {
		return string(v[:32]) + "…"
	}
	return string(v)
}

// boolean checks an optional JSON boolean, false when absent.
func (s *decodeState) boolean(f int) (bool, *Error) {
	v := s.field(f)
	switch {
	case v == nil:
		return false, nil
	case v[0] == 't':
		return true, nil
	case v[0] == 'f':
		return false, nil
	}
	return false, mustBe(f, "true or false", v)
}

// country checks data.country of profile: an ISO 3166-1 alpha-2 code.
func (s *decodeState) country(dst *string) *Error {
	v := s.field(fCountry)
	if v == nil {
		return nil
	}
	if v[0] != '"' {
		return mustBe(fCountry, `an ISO 3166-1 alpha-2 code string such as "FR"`, v)
	}
	b := s.unquoteTmp(v)
	if len(b) != 2 || b[0] < 'A' || b[0] > 'Z' || b[1] < 'A' || b[1] > 'Z' {
		return errorf(CodeInvalidField, fieldPath[fCountry], `%s is not an ISO 3166-1 alpha-2 code (2 uppercase letters such as "FR")`, quoteValue(b))
	}
	s.keep(v, dst)
	return nil
}

// traits checks data.traits of profile, an object of string values, and
// returns it as a map (nil when absent or empty). It runs after scan, so
// it may reuse the decoder.
func (s *decodeState) traits() (map[string]string, *Error) {
	v := s.field(fTraits)
	if v == nil {
		return nil, nil
	}
	if v[0] != '{' {
		return nil, mustBe(fTraits, "an object of string values", v)
	}
	s.bb = *bytes.NewBuffer(v)
	s.dec.Reset(&s.bb)
	d := &s.dec
	if _, err := d.ReadToken(); err != nil {
		return nil, errorf(CodeInternal, fieldPath[fTraits], "re-reading traits: %v", err)
	}
	var m map[string]string
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return nil, errorf(CodeInternal, fieldPath[fTraits], "re-reading traits: %v", err)
		}
		key := string(s.unquoteTmp(name))
		val, err := d.ReadValue()
		if err != nil {
			return nil, errorf(CodeInternal, fieldPath[fTraits], "re-reading traits: %v", err)
		}
		if val[0] != '"' {
			return nil, errorf(CodeInvalidField, cut(fieldPath[fTraits]+"."+key, MaxFieldBytes), "traits must be strings, got %s", valueKind(val))
		}
		if m == nil {
			m = make(map[string]string)
		}
		m[key] = string(s.unquoteTmp(val))
	}
	return m, nil
}
