package journey

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestErrorEchoBounded: what an Error echoes of its input is bounded, the
// field path of a deeply nested document included, and Error() too.
func TestErrorEchoBounded(t *testing.T) {
	// A 10,000-deep data object: the syntax error's field path.
	deep := strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000)
	_, err := Decode(event(KindVisit, deep), clock)
	var je *Error
	if !errors.As(err, &je) {
		t.Fatalf("deep document: %v, want an *Error", err)
	}
	if len(je.Field) > MaxFieldBytes+len("…") || !strings.HasSuffix(je.Field, "…") || !strings.HasPrefix(je.Field, "data.a.a") {
		t.Fatalf("deep document: field is %d bytes: %.80q…", len(je.Field), je.Field)
	}
	if n := len(je.Error()); n > MaxFieldBytes+MaxRuleBytes+64 {
		t.Fatalf("deep document: Error() is %d bytes", n)
	}

	// A trait key of 60,000 bytes with a non-string value.
	key := strings.Repeat("k", 60000)
	_, err = Decode(event(KindProfile, `{"kind":"individual","traits":{"`+key+`":1}}`), clock)
	if !errors.As(err, &je) || je.Code != CodeInvalidField || len(je.Field) > MaxFieldBytes+len("…") ||
		!strings.HasPrefix(je.Field, "data.traits.kkk") {
		t.Fatalf("long trait key: %d-byte field (%v)", len(je.Field), je.Code)
	}

	// A rule quoting a long value quotes 64 bytes of it.
	_, err = Decode(event(KindVisit, `{"channel":"`+strings.Repeat("é", 30000)+`"}`), clock)
	if !errors.As(err, &je) || je.Field != "data.channel" || len(je.Rule) > 200 || !strings.Contains(je.Rule, `…`) {
		t.Fatalf("long enum value: rule %d bytes: %.100q", len(je.Rule), je.Rule)
	}

	// Any Error built elsewhere is cut by Bounded and Error().
	big := &Error{Code: CodeInvalidField, Field: strings.Repeat("f", 5000), Rule: strings.Repeat("r", 500000)}
	b := big.Bounded()
	if len(b.Field) > MaxFieldBytes+3 || len(b.Rule) > MaxRuleBytes+3 || !strings.HasSuffix(b.Rule, "…") {
		t.Fatalf("Bounded: field %d, rule %d bytes", len(b.Field), len(b.Rule))
	}
	if n := len(big.Error()); n > MaxFieldBytes+MaxRuleBytes+64 {
		t.Fatalf("Error() is %d bytes", n)
	}
	if small := (&Error{Code: CodeInvalidField, Field: "x", Rule: "y"}); small.Bounded() != small {
		t.Fatal("Bounded copied an Error that fits")
	}
	if got := Quote(strings.Repeat("é", 100)); len(got) > MaxEchoBytes+8 || !strings.HasSuffix(got, "…") {
		t.Fatalf("Quote = %q", got)
	}
}

// TestFieldPathBounds: FieldPath keeps short paths as they are and cuts
// deep or long ones.
func TestFieldPathBounds(t *testing.T) {
	seq := func(names ...string) func(func(string) bool) {
		return func(yield func(string) bool) {
			for _, n := range names {
				if !yield(n) {
					return
				}
			}
		}
	}
	if got := FieldPath(seq("data", "amount")); got != "data.amount" {
		t.Fatalf("FieldPath = %q", got)
	}
	names := make([]string, 100)
	for i := range names {
		names[i] = "a"
	}
	if got := FieldPath(seq(names...)); got != strings.Repeat("a.", MaxFieldPathDepth)+"…" {
		t.Fatalf("deep FieldPath = %q", got)
	}
	if got := FieldPath(seq(strings.Repeat("x", 1000), "b")); len(got) != MaxFieldBytes+len("…") {
		t.Fatalf("long FieldPath is %d bytes", len(got))
	}
}

// TestTimeRange: an event's time is refused outside the years 0001 to
// 9999 (UTC) with invalid_field naming time and the range; the bounds are
// accepted; a stored event of year 0000 (accepted before this rule) still
// reads.
func TestTimeRange(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, ts := range []string{"0000-06-01T00:00:00Z", "0000-12-31T23:59:59.999999999Z", "0001-01-01T00:30:00+01:00"} {
		_, err := Decode(event(KindVisit, "", "time", `"`+ts+`"`), now)
		var je *Error
		if !errors.As(err, &je) || je.Code != CodeInvalidField || je.Field != "time" ||
			!strings.Contains(je.Rule, "years 0001 to 9999 in UTC") {
			t.Fatalf("time %s: %v, want invalid_field time naming the range", ts, err)
		}
	}
	ev, err := Decode(event(KindVisit, "", "time", `"0001-01-01T00:00:00Z"`), now)
	if err != nil || !ev.Time.Equal(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("year 0001: %v", err)
	}
	// 9999 is refused at intake by the clock rule, not by the range.
	ev, err = DecodeStored(event(KindVisit, "", "time", `"9999-12-31T23:59:59.999999999Z"`))
	if err != nil || ev.Time.Year() != 9999 {
		t.Fatalf("year 9999 stored: %v", err)
	}
	_, err = DecodeStored(event(KindVisit, "", "time", `"9999-12-31T23:59:59-01:00"`))
	if !errors.Is(err, &Error{Code: CodeInvalidField, Field: "time"}) || !strings.Contains(err.Error(), "years 0001 to 9999") {
		t.Fatalf("year 10000 in UTC: %v", err)
	}
	if _, err := DecodeStored(event(KindVisit, "", "time", `"0000-06-01T00:00:00Z"`)); err != nil {
		t.Fatalf("stored year 0000: %v, want it still read", err)
	}
	if TimeRangeRule(time.Time{}) != "" || TimeRangeRule(time.Time{}.Add(-1)) == "" {
		t.Fatal("TimeRangeRule: the range starts at 0001-01-01T00:00:00Z")
	}
}
