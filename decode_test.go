package journey

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// clock is the engine's clock of these tests.
var clock = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// validData is a valid data object of every kind, with every field set.
var validData = map[Kind]string{
	KindVisit:             `{"channel":"store","store_id":"store-042"}`,
	KindPurchase:          `{"order_id":"o-1","amount":"42.50","currency":"EUR","items":2,"discount":"5.00","channel":"web"}`,
	KindReturn:            `{"order_id":"o-1","amount":"42.50","currency":"EUR","kind":"refund","reason":"too small"}`,
	KindComplaint:         `{"case_id":"case-7","severity":"high","category":"delivery","escalated_to":"media"}`,
	KindComplaintResolved: `{"case_id":"case-7","outcome":"compensated"}`,
	KindFeedback:          `{"csat":4,"nps":9,"comment":"great","public":true}`,
	KindThankYou:          `{"message_id":"m-1","reason":"repeat_purchase","channel":"email"}`,
	KindReferral:          `{"referred":"cust-43"}`,
	KindProfile:           `{"kind":"business","country":"FR","traits":{"segment":"smb","lang":"fr"}}`,
}

// event returns a valid event of kind with data (validData[kind] when
// empty). over are pairs of attribute name and raw JSON value that replace
// the attribute ("" deletes it) or, for a new name, are appended.
func event(kind Kind, data string, over ...string) []byte {
	if data == "" {
		data = validData[kind]
	}
	names := []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"}
	vals := map[string]string{
		"specversion":     `"1.0"`,
		"id":              `"evt-1"`,
		"source":          `"pos/store-042/till-3"`,
		"type":            `"` + string(kind) + `"`,
		"subject":         `"cust-42"`,
		"time":            `"2025-03-01T11:59:00Z"`,
		"datacontenttype": `"application/json"`,
		"data":            data,
	}
	for i := 0; i+1 < len(over); i += 2 {
		if _, ok := vals[over[i]]; !ok {
			names = append(names, over[i])
		}
		vals[over[i]] = over[i+1]
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for _, n := range names {
		if vals[n] == "" {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s":%s`, n, vals[n])
	}
	b.WriteByte('}')
	return b.Bytes()
}

type decodeCase struct {
	name  string
	raw   []byte
	code  Code   // "" when the event is valid
	field string // expected Error.Field
	rule  string // expected Error.Rule; "" to skip, a leading "~" for a substring
	check func(t *testing.T, ev *Event)
}

func runDecodeCases(t *testing.T, cases []decodeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := Decode(c.raw, clock)
			if c.code == "" {
				if err != nil {
					t.Fatalf("Decode(%s) = %v, want it accepted", c.raw, err)
				}
				if !bytes.Equal(ev.Raw, c.raw) {
					t.Fatalf("Raw = %s, want the input bytes", ev.Raw)
				}
				if c.check != nil {
					c.check(t, ev)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode(%s) accepted it, want %s", c.raw, c.code)
			}
			if ev != nil {
				t.Fatalf("Decode returned an Event with error %v", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode error %T %v is not an *Error", err, err)
			}
			if e.Code != c.code || e.Field != c.field {
				t.Fatalf("Decode error = %v, want code %s field %q", err, c.code, c.field)
			}
			switch {
			case c.rule == "":
			case strings.HasPrefix(c.rule, "~"):
				if !strings.Contains(e.Rule, c.rule[1:]) {
					t.Fatalf("Rule = %q, want it to contain %q", e.Rule, c.rule[1:])
				}
			case e.Rule != c.rule:
				t.Fatalf("Rule = %q, want %q", e.Rule, c.rule)
			}
		})
	}
}

func accept(name string, raw []byte, check func(t *testing.T, ev *Event)) decodeCase {
	return decodeCase{name: name, raw: raw, check: check}
}

func reject(name string, raw []byte, code Code, field, rule string) decodeCase {
	return decodeCase{name: name, raw: raw, code: code, field: field, rule: rule}
}

func TestDecodeEveryKind(t *testing.T) {
	want := map[Kind]Data{
		KindVisit:             {Channel: "store", StoreID: "store-042", CSAT: -1, NPS: -1},
		KindPurchase:          {OrderID: "o-1", Amount: 4250, Currency: "EUR", Items: 2, Discount: 500, Channel: "web", CSAT: -1, NPS: -1},
		KindReturn:            {OrderID: "o-1", Amount: 4250, Currency: "EUR", ReturnKind: "refund", Reason: "too small", CSAT: -1, NPS: -1},
		KindComplaint:         {CaseID: "case-7", Severity: "high", Category: "delivery", EscalatedTo: "media", CSAT: -1, NPS: -1},
		KindComplaintResolved: {CaseID: "case-7", Outcome: "compensated", CSAT: -1, NPS: -1},
		KindFeedback:          {CSAT: 4, NPS: 9, Comment: "great", Public: true},
		KindThankYou:          {MessageID: "m-1", Reason: "repeat_purchase", Channel: "email", CSAT: -1, NPS: -1},
		KindReferral:          {Referred: "cust-43", CSAT: -1, NPS: -1},
		KindProfile:           {ProfileKind: "business", Country: "FR", Traits: map[string]string{"segment": "smb", "lang": "fr"}, CSAT: -1, NPS: -1},
	}
	if len(want) != len(Kinds()) {
		t.Fatalf("test covers %d kinds, the contract has %d", len(want), len(Kinds()))
	}
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			raw := event(k, "")
			ev, err := Decode(raw, clock)
			if err != nil {
				t.Fatalf("Decode(%s) = %v", raw, err)
			}
			wantEv := Event{ID: "evt-1", Source: "pos/store-042/till-3", Type: k, Subject: "cust-42",
				Time: time.Date(2025, 3, 1, 11, 59, 0, 0, time.UTC), Data: want[k], Raw: raw}
			if !reflect.DeepEqual(*ev, wantEv) {
				t.Fatalf("Decode =\n%+v\nwant\n%+v", *ev, wantEv)
			}
		})
	}
}

func TestDecodeAttributes(t *testing.T) {
	long := func(n int) string { return `"` + strings.Repeat("x", n) + `"` }
	v := KindVisit
	runDecodeCases(t, []decodeCase{
		reject("specversion missing", event(v, "", "specversion", ""), CodeMissingField, "specversion", "required attribute"),
		reject("specversion 0.3", event(v, "", "specversion", `"0.3"`), CodeInvalidField, "specversion", `must be "1.0", got "0.3"`),
		reject("specversion number", event(v, "", "specversion", `1.0`), CodeInvalidField, "specversion", `must be "1.0", got a number`),
		reject("specversion null", event(v, "", "specversion", `null`), CodeMissingField, "specversion", ""),

		reject("id missing", event(v, "", "id", ""), CodeMissingField, "id", "required attribute"),
		reject("id empty", event(v, "", "id", `""`), CodeInvalidField, "id", "must not be empty"),
		reject("id number", event(v, "", "id", `7`), CodeInvalidField, "id", "must be a string, got a number"),
		accept("id 128 bytes", event(v, "", "id", long(128)), func(t *testing.T, ev *Event) {
			if len(ev.ID) != 128 {
				t.Fatalf("ID is %d bytes", len(ev.ID))
			}
		}),
		reject("id 129 bytes", event(v, "", "id", long(129)), CodeInvalidField, "id", "is 129 bytes, more than 128"),
		accept("id unicode escapes", event(v, "", "id", `"\u00e9v\u00e9nement-\ud83d\ude00"`), func(t *testing.T, ev *Event) {
			if ev.ID != "événement-😀" {
				t.Fatalf("ID = %q", ev.ID)
			}
		}),

		reject("source missing", event(v, "", "source", ""), CodeMissingField, "source", ""),
		reject("source empty", event(v, "", "source", `""`), CodeInvalidField, "source", "must not be empty"),
		accept("source 256 bytes", event(v, "", "source", long(256)), nil),
		reject("source 257 bytes", event(v, "", "source", long(257)), CodeInvalidField, "source", "is 257 bytes, more than 256"),

		reject("type missing", event(v, "", "type", ""), CodeMissingField, "type", ""),
		reject("type unknown", event(v, "", "type", `"purchased"`), CodeUnknownType, "type", `~"purchased" is not a known touchpoint type`),
		reject("type case", event(v, "", "type", `"Visit"`), CodeUnknownType, "type", ""),
		reject("type number", event(v, "", "type", `3`), CodeInvalidField, "type", "must be a string, got a number"),

		reject("subject missing", event(v, "", "subject", ""), CodeMissingField, "subject", ""),
		reject("subject empty", event(v, "", "subject", `""`), CodeInvalidField, "subject", "must not be empty"),
		reject("subject space", event(v, "", "subject", `"cust 42"`), CodeInvalidField, "subject", `~"cust 42" has ' ' at byte 4`),
		reject("subject dot", event(v, "", "subject", `"cust.42"`), CodeInvalidField, "subject", "~one NATS subject token"),
		reject("subject wildcard", event(v, "", "subject", `"cust*"`), CodeInvalidField, "subject", ""),
		reject("subject non-ASCII", event(v, "", "subject", `"müller"`), CodeInvalidField, "subject", `~has 'ü' at byte 1`),
		reject("subject array", event(v, "", "subject", `["a"]`), CodeInvalidField, "subject", "must be a string, got an array"),
		accept("subject every allowed character", event(v, "", "subject", `"AZaz09_-:@"`), func(t *testing.T, ev *Event) {
			if ev.Subject != "AZaz09_-:@" {
				t.Fatalf("Subject = %q", ev.Subject)
			}
		}),
		accept("subject escaped", event(v, "", "subject", `"cust\u002d42"`), func(t *testing.T, ev *Event) {
			if ev.Subject != "cust-42" {
				t.Fatalf("Subject = %q", ev.Subject)
			}
		}),
		accept("subject 128 bytes", event(v, "", "subject", long(128)), nil),
		reject("subject 129 bytes", event(v, "", "subject", long(129)), CodeInvalidField, "subject", "is 129 bytes, more than 128"),

		reject("time missing", event(v, "", "time", ""), CodeMissingField, "time", ""),
		reject("time words", event(v, "", "time", `"yesterday"`), CodeInvalidField, "time", `"yesterday" is not an RFC 3339 timestamp such as "2025-03-01T12:00:00Z"`),
		reject("time number", event(v, "", "time", `1740830340`), CodeInvalidField, "time", "must be an RFC 3339 string, got a number"),
		reject("time without zone", event(v, "", "time", `"2025-03-01T11:00:00"`), CodeInvalidField, "time", ""),
		reject("time with space", event(v, "", "time", `"2025-03-01 11:00:00Z"`), CodeInvalidField, "time", ""),
		reject("time lowercase z", event(v, "", "time", `"2025-03-01T11:00:00z"`), CodeInvalidField, "time", ""),
		reject("time 29 Feb 2025", event(v, "", "time", `"2025-02-29T11:00:00Z"`), CodeInvalidField, "time", ""),
		reject("time hour 24", event(v, "", "time", `"2025-03-01T24:00:00Z"`), CodeInvalidField, "time", ""),
		reject("time leap second", event(v, "", "time", `"2016-12-31T23:59:60Z"`), CodeInvalidField, "time", ""),
		reject("time 10 fraction digits", event(v, "", "time", `"2025-03-01T11:00:00.0123456789Z"`), CodeInvalidField, "time", ""),
		reject("time empty fraction", event(v, "", "time", `"2025-03-01T11:00:00.Z"`), CodeInvalidField, "time", ""),
		reject("time offset 24h", event(v, "", "time", `"2025-03-01T11:00:00+24:00"`), CodeInvalidField, "time", ""),
		reject("time trailing", event(v, "", "time", `"2025-03-01T11:00:00Zx"`), CodeInvalidField, "time", ""),
		reject("time before year 0 in UTC", event(v, "", "time", `"0000-01-01T00:00:00+01:00"`), CodeInvalidField, "time", ""),
		reject("time year 0 in UTC", event(v, "", "time", `"0000-01-01T00:00:00-01:00"`), CodeInvalidField, "time", "~outside the accepted range: years 0001 to 9999"),
		reject("time after year 9999 in UTC", event(v, "", "time", `"9999-12-31T23:59:59-00:01"`), CodeInvalidField, "time", ""),
		accept("time 29 Feb 2024", event(v, "", "time", `"2024-02-29T11:00:00Z"`), nil),
		accept("time offset is UTC", event(v, "", "time", `"2025-03-01T12:30:00.123456789+01:30"`), func(t *testing.T, ev *Event) {
			want := time.Date(2025, 3, 1, 11, 0, 0, 123456789, time.UTC)
			if !ev.Time.Equal(want) || ev.Time.Location() != time.UTC {
				t.Fatalf("Time = %v, want %v", ev.Time, want)
			}
		}),
		accept("time far past", event(v, "", "time", `"1997-01-01T00:00:00Z"`), nil),
		accept("time 4m59s ahead", event(v, "", "time", `"2025-03-01T12:04:59Z"`), nil),
		accept("time 5m ahead", event(v, "", "time", `"2025-03-01T12:05:00Z"`), nil),
		reject("time 5m01s ahead", event(v, "", "time", `"2025-03-01T12:05:01Z"`), CodeInvalidField, "time",
			`"2025-03-01T12:05:01Z" is 5m1s ahead of the engine's clock, more than 5m0s`),
		reject("time 3 days ahead", event(v, "", "time", `"2025-03-04T12:00:00Z"`), CodeInvalidField, "time",
			`"2025-03-04T12:00:00Z" is 3 days ahead of the engine's clock, more than 5m0s`),
		reject("time year 9999 ahead", event(v, "", "time", `"9999-12-31T23:59:59Z"`), CodeInvalidField, "time",
			`"9999-12-31T23:59:59Z" is 2912748 days ahead of the engine's clock, more than 5m0s`),
		reject("time 5m01s ahead by offset", event(v, "", "time", `"2025-03-01T14:05:01+02:00"`), CodeInvalidField, "time", "~5m1s ahead"),

		accept("datacontenttype absent", event(v, "", "datacontenttype", ""), nil),
		accept("datacontenttype with charset", event(v, "", "datacontenttype", `"application/json; charset=utf-8"`), nil),
		reject("datacontenttype text", event(v, "", "datacontenttype", `"text/plain"`), CodeInvalidField, "datacontenttype", `must be "application/json", got "text/plain"`),
		reject("datacontenttype number", event(v, "", "datacontenttype", `1`), CodeInvalidField, "datacontenttype", ""),

		reject("data missing", event(v, "", "data", ""), CodeMissingField, "data", "required attribute"),
		reject("data null", event(v, "null"), CodeMissingField, "data", ""),
		reject("data array", event(v, `[{"channel":"store"}]`), CodeInvalidField, "data", "must be a JSON object, got an array"),
		reject("data string", event(v, `"{\"channel\":\"store\"}"`), CodeInvalidField, "data", "must be a JSON object, got a string"),
		reject("data_base64", event(v, "", "data_base64", `"e30="`), CodeInvalidField, "data_base64", ""),

		accept("extension attributes are kept", event(v, "", "traceparent", `"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"`, "ext", `{"nested":[1,2,{"a":null}]}`), nil),
		accept("data before type", []byte(`{"data":{"channel":"app"},"type":"visit","specversion":"1.0","id":"e","source":"s","subject":"c","time":"2025-03-01T11:00:00Z"}`),
			func(t *testing.T, ev *Event) {
				if ev.Data.Channel != "app" {
					t.Fatalf("Channel = %q", ev.Data.Channel)
				}
			}),
		accept("escaped attribute name", event(v, "", "id", "", `\u0069d`, `"e-9"`), func(t *testing.T, ev *Event) {
			if ev.ID != "e-9" {
				t.Fatalf("ID = %q", ev.ID)
			}
		}),
	})
}

func TestDecodeBytes(t *testing.T) {
	valid := event(KindVisit, "")
	pad := func(total int) []byte {
		base := event(KindFeedback, `{"csat":5,"comment":""}`)
		n := total - len(base)
		return event(KindFeedback, `{"csat":5,"comment":"`+strings.Repeat("a", n)+`"}`)
	}
	if got := len(pad(MaxEventBytes)); got != MaxEventBytes {
		t.Fatalf("pad made %d bytes", got)
	}
	withByte := func(b []byte, old, new string) []byte {
		return bytes.Replace(bytes.Clone(b), []byte(old), []byte(new), 1)
	}
	runDecodeCases(t, []decodeCase{
		accept("exactly 64 KiB", pad(MaxEventBytes), nil),
		reject("64 KiB + 1", pad(MaxEventBytes+1), CodeTooLarge, "", "event is 65537 bytes, more than 65536"),
		reject("invalid UTF-8 in a value", withByte(valid, "pos/store", "pos/\xffstore"), CodeInvalidUTF8, "",
			fmt.Sprintf("invalid UTF-8 at byte %d", bytes.Index(valid, []byte("pos/store"))+4)),
		reject("invalid UTF-8 in data", withByte(valid, "store-042", "store\xc3\x28042"), CodeInvalidUTF8, "", ""),
		reject("invalid UTF-8 in a key", withByte(valid, `"source"`, "\"sour\xe2\x82ce\""), CodeInvalidUTF8, "", ""),
		reject("invalid UTF-8 after the object", append(bytes.Clone(valid), ' ', 0xff), CodeInvalidUTF8, "", ""),
		reject("surrogate half escaped", event(KindVisit, "", "id", `"\ud800"`), CodeInvalidJSON, "id", ""),
		reject("empty", []byte{}, CodeInvalidJSON, "", ""),
		reject("whitespace only", []byte(" \n"), CodeInvalidJSON, "", ""),
		reject("null", []byte("null"), CodeInvalidJSON, "", "an event is one JSON object, got null"),
		reject("array", []byte(`[`+string(valid)+`]`), CodeInvalidJSON, "", "an event is one JSON object, got an array"),
		reject("string", []byte(`"event"`), CodeInvalidJSON, "", "an event is one JSON object, got a string"),
		reject("truncated", valid[:len(valid)-1], CodeInvalidJSON, "", "~unexpected end of JSON input"),
		reject("trailing garbage", append(bytes.Clone(valid), []byte(" x")...), CodeInvalidJSON, "",
			fmt.Sprintf("unexpected data after the event object at byte %d", len(valid))),
		reject("two objects", append(bytes.Clone(valid), valid...), CodeInvalidJSON, "", "~unexpected data after the event object"),
		accept("trailing white space", append(bytes.Clone(valid), []byte(" \r\n\t")...), nil),
		accept("leading white space", append([]byte("\n "), valid...), nil),
		reject("single quotes", []byte(`{'id':'x'}`), CodeInvalidJSON, "", "~invalid JSON at byte 1"),
		reject("trailing comma", withByte(valid, `}}`, `},}`), CodeInvalidJSON, "", ""),
	})
	dup := func(raw string) []byte { return []byte(raw) }
	runDecodeCases(t, []decodeCase{
		reject("duplicate attribute", dup(`{"specversion":"1.0","id":"a","id":"a","source":"s","type":"visit","subject":"c","time":"2025-03-01T11:00:00Z","data":{"channel":"web"}}`),
			CodeInvalidJSON, "id", `duplicate key "id" (an object may name a key once)`),
		reject("duplicate attribute by escape", dup(`{"specversion":"1.0","id":"a","\u0069d":"b","source":"s","type":"visit","subject":"c","time":"2025-03-01T11:00:00Z","data":{"channel":"web"}}`),
			CodeInvalidJSON, "id", ""),
		reject("duplicate data", dup(`{"specversion":"1.0","id":"a","source":"s","type":"visit","subject":"c","time":"2025-03-01T11:00:00Z","data":{"channel":"web"},"data":{"channel":"web"}}`),
			CodeInvalidJSON, "data", ""),
		reject("duplicate data field", event(KindPurchase, `{"order_id":"o","amount":"1.00","amount":"100.00","currency":"EUR"}`),
			CodeInvalidJSON, "data.amount", `duplicate key "amount" (an object may name a key once)`),
		reject("duplicate unknown data field", event(KindVisit, `{"channel":"web","x":1,"x":2}`), CodeInvalidJSON, "data.x", ""),
		reject("duplicate trait", event(KindProfile, `{"kind":"individual","traits":{"a":"1","a":"2"}}`), CodeInvalidJSON, "data.traits.a", ""),
		reject("duplicate in an extension", event(KindVisit, "", "ext", `{"k":1,"k":1}`), CodeInvalidJSON, "ext.k", ""),
		reject("syntax error in data", event(KindVisit, `{"channel":"web",}`), CodeInvalidJSON, "data", "~invalid JSON at byte"),
	})
}

func TestDecodeData(t *testing.T) {
	amount := func(t *testing.T, want int64) func(*testing.T, *Event) {
		return func(t *testing.T, ev *Event) {
			if ev.Data.Amount != want {
				t.Fatalf("Amount = %d, want %d", ev.Data.Amount, want)
			}
		}
	}
	p := func(data string) []byte { return event(KindPurchase, data) }
	money := func(amt, cur string) []byte {
		return p(`{"order_id":"o-1","amount":` + amt + `,"currency":"` + cur + `"}`)
	}
	const amountField = "data.amount"
	runDecodeCases(t, []decodeCase{
		// visit
		reject("visit channel missing", event(KindVisit, `{"store_id":"s"}`), CodeMissingField, "data.channel", "required"),
		reject("visit channel unknown", event(KindVisit, `{"channel":"bike"}`), CodeInvalidField, "data.channel", `"bike" is not one of store, web, app, phone`),
		reject("visit channel number", event(KindVisit, `{"channel":1}`), CodeInvalidField, "data.channel", "must be one of store, web, app, phone, got a number"),
		reject("visit store_id empty", event(KindVisit, `{"channel":"store","store_id":""}`), CodeInvalidField, "data.store_id", "must not be empty"),
		reject("visit store_id number", event(KindVisit, `{"channel":"store","store_id":42}`), CodeInvalidField, "data.store_id", "must be a string, got a number"),
		accept("visit without store_id", event(KindVisit, `{"channel":"phone"}`), nil),
		accept("visit with other kinds' fields", event(KindVisit, `{"channel":"web","amount":42.5,"severity":"bogus","x":{"y":[1]}}`), func(t *testing.T, ev *Event) {
			if ev.Data.Amount != 0 || ev.Data.Severity != "" {
				t.Fatalf("fields of other kinds were parsed: %+v", ev.Data)
			}
		}),

		// purchase
		reject("purchase order_id missing", p(`{"amount":"1.00","currency":"EUR"}`), CodeMissingField, "data.order_id", "required"),
		reject("purchase order_id empty", p(`{"order_id":"","amount":"1.00","currency":"EUR"}`), CodeInvalidField, "data.order_id", "must not be empty"),
		reject("purchase amount missing", p(`{"order_id":"o","currency":"EUR"}`), CodeMissingField, amountField, "required"),
		reject("purchase currency missing", p(`{"order_id":"o","amount":"1.00"}`), CodeMissingField, "data.currency", ""),
		reject("purchase currency lower case", money(`"1.00"`, "eur"), CodeInvalidField, "data.currency", `"eur" is not an ISO 4217 currency code (3 uppercase letters such as EUR)`),
		reject("purchase currency unknown", money(`"1.00"`, "XYZ"), CodeInvalidField, "data.currency", `~"XYZ" is not an ISO 4217`),
		reject("purchase currency 4 letters", money(`"1.00"`, "EURO"), CodeInvalidField, "data.currency", ""),
		reject("purchase currency without minor unit", money(`"1"`, "XAU"), CodeInvalidField, "data.currency", ""),
		reject("purchase currency number", p(`{"order_id":"o","amount":"1","currency":978}`), CodeInvalidField, "data.currency", "~got a number"),
		reject("purchase amount is a JSON number", money(`42.5`, "EUR"), CodeInvalidField, amountField, `amounts must be decimal strings such as "42.50", got a number`),
		reject("purchase amount too precise", money(`"1.234"`, "EUR"), CodeInvalidField, amountField, `"1.234" has more decimals than EUR allows (2)`),
		accept("purchase amount 42.5", money(`"42.5"`, "EUR"), amount(t, 4250)),
		accept("purchase amount 42", money(`"42"`, "EUR"), amount(t, 4200)),
		accept("purchase amount 0", money(`"0"`, "EUR"), amount(t, 0)),
		accept("purchase amount trailing zeros", money(`"1.2300"`, "EUR"), amount(t, 123)),
		accept("purchase amount leading zeros", money(`"007.10"`, "EUR"), amount(t, 710)),
		reject("purchase amount negative", money(`"-1.00"`, "EUR"), CodeInvalidField, amountField, `"-1.00" is negative; amounts are not`),
		reject("purchase amount plus", money(`"+1.00"`, "EUR"), CodeInvalidField, amountField, `"+1.00" is not a decimal amount such as "42.50" (digits, optionally "." and more digits)`),
		reject("purchase amount exponent", money(`"1e3"`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount space", money(`" 1.00"`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount trailing space", money(`"1.00 "`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount empty", money(`""`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount dot", money(`"."`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount no fraction", money(`"1."`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount no integer", money(`".5"`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount comma", money(`"1,50"`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount minus only", money(`"-"`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount bad digit after precision", money(`"1.23x"`, "EUR"), CodeInvalidField, amountField, "~not a decimal amount"),
		reject("purchase amount overflow", money(`"92233720368547758.08"`, "EUR"), CodeInvalidField, amountField, "~is too large"),
		accept("purchase amount max", money(`"92233720368547758.07"`, "EUR"), amount(t, 1<<63-1)),
		reject("purchase amount huge", money(`"99999999999999999999999"`, "JPY"), CodeInvalidField, amountField, "~is too large"),
		accept("purchase JPY", money(`"1500"`, "JPY"), amount(t, 1500)),
		accept("purchase JPY .0", money(`"1500.0"`, "JPY"), amount(t, 1500)),
		reject("purchase JPY fraction", money(`"1500.5"`, "JPY"), CodeInvalidField, amountField, `"1500.5" has more decimals than JPY allows (0)`),
		accept("purchase KWD", money(`"1.25"`, "KWD"), amount(t, 1250)),
		accept("purchase KWD 3 decimals", money(`"1.255"`, "KWD"), amount(t, 1255)),
		reject("purchase KWD 4 decimals", money(`"1.2555"`, "KWD"), CodeInvalidField, amountField, `"1.2555" has more decimals than KWD allows (3)`),
		accept("purchase CLF", money(`"1.0001"`, "CLF"), amount(t, 10001)),
		accept("purchase items", p(`{"order_id":"o","amount":"1","currency":"EUR","items":0}`), nil),
		reject("purchase items negative", p(`{"order_id":"o","amount":"1","currency":"EUR","items":-1}`), CodeInvalidField, "data.items", "must be a non-negative integer, got -1"),
		reject("purchase items fraction", p(`{"order_id":"o","amount":"1","currency":"EUR","items":2.5}`), CodeInvalidField, "data.items", "must be a non-negative integer, got 2.5"),
		reject("purchase items exponent", p(`{"order_id":"o","amount":"1","currency":"EUR","items":1e2}`), CodeInvalidField, "data.items", ""),
		reject("purchase items string", p(`{"order_id":"o","amount":"1","currency":"EUR","items":"2"}`), CodeInvalidField, "data.items", "must be a non-negative integer, got a string"),
		accept("purchase discount", p(`{"order_id":"o","amount":"10","currency":"EUR","discount":"2.5"}`), func(t *testing.T, ev *Event) {
			if ev.Data.Discount != 250 {
				t.Fatalf("Discount = %d", ev.Data.Discount)
			}
		}),
		reject("purchase discount too precise", p(`{"order_id":"o","amount":"10","currency":"EUR","discount":"0.001"}`), CodeInvalidField, "data.discount", `"0.001" has more decimals than EUR allows (2)`),
		reject("purchase discount number", p(`{"order_id":"o","amount":"10","currency":"EUR","discount":1}`), CodeInvalidField, "data.discount", "~decimal strings"),
		reject("purchase discount negative", p(`{"order_id":"o","amount":"10","currency":"EUR","discount":"-1"}`), CodeInvalidField, "data.discount", "~negative"),
		reject("purchase channel empty", p(`{"order_id":"o","amount":"1","currency":"EUR","channel":""}`), CodeInvalidField, "data.channel", "must not be empty"),
		accept("purchase channel free", p(`{"order_id":"o","amount":"1","currency":"EUR","channel":"kiosk"}`), func(t *testing.T, ev *Event) {
			if ev.Data.Channel != "kiosk" {
				t.Fatalf("Channel = %q", ev.Data.Channel)
			}
		}),

		// return
		reject("return kind missing", event(KindReturn, `{"order_id":"o","amount":"1","currency":"EUR"}`), CodeMissingField, "data.kind", "required"),
		reject("return kind unknown", event(KindReturn, `{"order_id":"o","amount":"1","currency":"EUR","kind":"swap"}`), CodeInvalidField, "data.kind", `"swap" is not one of refund, exchange`),
		reject("return amount number", event(KindReturn, `{"order_id":"o","amount":1,"currency":"EUR","kind":"refund"}`), CodeInvalidField, amountField, "~decimal strings"),
		reject("return order_id missing", event(KindReturn, `{"amount":"1","currency":"EUR","kind":"refund"}`), CodeMissingField, "data.order_id", ""),
		reject("return reason number", event(KindReturn, `{"order_id":"o","amount":"1","currency":"EUR","kind":"refund","reason":5}`), CodeInvalidField, "data.reason", ""),
		accept("return exchange without reason", event(KindReturn, `{"order_id":"o","amount":"0.5","currency":"GBP","kind":"exchange"}`), amount(t, 50)),

		// complaint
		reject("complaint case_id missing", event(KindComplaint, `{"severity":"low"}`), CodeMissingField, "data.case_id", ""),
		reject("complaint severity missing", event(KindComplaint, `{"case_id":"c"}`), CodeMissingField, "data.severity", ""),
		reject("complaint severity unknown", event(KindComplaint, `{"case_id":"c","severity":"critical"}`), CodeInvalidField, "data.severity", `"critical" is not one of low, medium, high`),
		reject("complaint escalated_to unknown", event(KindComplaint, `{"case_id":"c","severity":"low","escalated_to":"twitter"}`), CodeInvalidField, "data.escalated_to",
			`"twitter" is not one of authority, media, consumer_association, legal`),
		reject("complaint category number", event(KindComplaint, `{"case_id":"c","severity":"low","category":3}`), CodeInvalidField, "data.category", ""),
		accept("complaint minimal", event(KindComplaint, `{"case_id":"c","severity":"medium"}`), nil),

		// complaint_resolved
		reject("resolved outcome missing", event(KindComplaintResolved, `{"case_id":"c"}`), CodeMissingField, "data.outcome", ""),
		reject("resolved outcome unknown", event(KindComplaintResolved, `{"case_id":"c","outcome":"maybe"}`), CodeInvalidField, "data.outcome", `"maybe" is not one of resolved, compensated, rejected`),
		reject("resolved case_id missing", event(KindComplaintResolved, `{"outcome":"resolved"}`), CodeMissingField, "data.case_id", ""),

		// feedback
		reject("feedback without ratings", event(KindFeedback, `{"comment":"hi"}`), CodeMissingField, "data.csat", "feedback needs csat (1 to 5), nps (0 to 10) or both"),
		reject("feedback csat 0", event(KindFeedback, `{"csat":0}`), CodeInvalidField, "data.csat", "must be an integer from 1 to 5, got 0"),
		reject("feedback csat 6", event(KindFeedback, `{"csat":6}`), CodeInvalidField, "data.csat", "must be an integer from 1 to 5, got 6"),
		reject("feedback csat 4.5", event(KindFeedback, `{"csat":4.5}`), CodeInvalidField, "data.csat", "must be an integer from 1 to 5, got 4.5"),
		reject("feedback csat 4.0", event(KindFeedback, `{"csat":4.0}`), CodeInvalidField, "data.csat", ""),
		reject("feedback csat string", event(KindFeedback, `{"csat":"4"}`), CodeInvalidField, "data.csat", "must be an integer from 1 to 5, got a string"),
		reject("feedback nps -1", event(KindFeedback, `{"nps":-1}`), CodeInvalidField, "data.nps", "must be an integer from 0 to 10, got -1"),
		reject("feedback nps 11", event(KindFeedback, `{"nps":11}`), CodeInvalidField, "data.nps", "must be an integer from 0 to 10, got 11"),
		reject("feedback nps huge", event(KindFeedback, `{"nps":100000000000000000000000}`), CodeInvalidField, "data.nps", ""),
		reject("feedback public string", event(KindFeedback, `{"csat":5,"public":"yes"}`), CodeInvalidField, "data.public", "must be true or false, got a string"),
		reject("feedback comment number", event(KindFeedback, `{"csat":5,"comment":5}`), CodeInvalidField, "data.comment", "must be a string, got a number"),
		accept("feedback csat only", event(KindFeedback, `{"csat":1}`), func(t *testing.T, ev *Event) {
			if ev.Data.CSAT != 1 || ev.Data.NPS != -1 || ev.Data.Public {
				t.Fatalf("Data = %+v", ev.Data)
			}
		}),
		accept("feedback nps 0 only", event(KindFeedback, `{"nps":0,"public":false}`), func(t *testing.T, ev *Event) {
			if ev.Data.CSAT != -1 || ev.Data.NPS != 0 {
				t.Fatalf("Data = %+v", ev.Data)
			}
		}),
		accept("feedback null csat is absent", event(KindFeedback, `{"csat":null,"nps":10}`), func(t *testing.T, ev *Event) {
			if ev.Data.CSAT != -1 || ev.Data.NPS != 10 {
				t.Fatalf("Data = %+v", ev.Data)
			}
		}),

		// thank_you
		reject("thank_you message_id missing", event(KindThankYou, `{"reason":"holiday","channel":"sms"}`), CodeMissingField, "data.message_id", ""),
		reject("thank_you reason missing", event(KindThankYou, `{"message_id":"m","channel":"sms"}`), CodeMissingField, "data.reason", ""),
		reject("thank_you reason unknown", event(KindThankYou, `{"message_id":"m","reason":"birthday","channel":"sms"}`), CodeInvalidField, "data.reason",
			`"birthday" is not one of repeat_purchase, feedback, complaint_resolved, holiday, referral`),
		reject("thank_you channel missing", event(KindThankYou, `{"message_id":"m","reason":"holiday"}`), CodeMissingField, "data.channel", ""),
		reject("thank_you channel empty", event(KindThankYou, `{"message_id":"m","reason":"holiday","channel":""}`), CodeInvalidField, "data.channel", "must not be empty"),
		accept("thank_you letter", event(KindThankYou, `{"message_id":"m","reason":"referral","channel":"letter"}`), nil),
		accept("thank_you carrier pigeon", event(KindThankYou, `{"message_id":"m","reason":"referral","channel":"pigeon"}`), nil),

		// referral
		reject("referral referred missing", event(KindReferral, `{}`), CodeMissingField, "data.referred", "required for referral"),
		reject("referral referred bad", event(KindReferral, `{"referred":"a b"}`), CodeInvalidField, "data.referred", "~one NATS subject token"),
		reject("referral referred empty", event(KindReferral, `{"referred":""}`), CodeInvalidField, "data.referred", "must not be empty"),
		reject("referral referred number", event(KindReferral, `{"referred":43}`), CodeInvalidField, "data.referred", "must be a string, got a number"),

		// profile
		reject("profile kind missing", event(KindProfile, `{"country":"FR"}`), CodeMissingField, "data.kind", ""),
		reject("profile kind unknown", event(KindProfile, `{"kind":"robot"}`), CodeInvalidField, "data.kind", `"robot" is not one of individual, business, internal`),
		reject("profile country lower", event(KindProfile, `{"kind":"individual","country":"fr"}`), CodeInvalidField, "data.country",
			`"fr" is not an ISO 3166-1 alpha-2 code (2 uppercase letters such as "FR")`),
		reject("profile country alpha-3", event(KindProfile, `{"kind":"individual","country":"FRA"}`), CodeInvalidField, "data.country", ""),
		reject("profile traits array", event(KindProfile, `{"kind":"individual","traits":["a"]}`), CodeInvalidField, "data.traits", "must be an object of string values, got an array"),
		reject("profile trait number", event(KindProfile, `{"kind":"individual","traits":{"ok":"1","age":42}}`), CodeInvalidField, "data.traits.age", "traits must be strings, got a number"),
		accept("profile minimal", event(KindProfile, `{"kind":"internal"}`), func(t *testing.T, ev *Event) {
			if ev.Data.Traits != nil || ev.Data.Country != "" {
				t.Fatalf("Data = %+v", ev.Data)
			}
		}),
		accept("profile escaped traits", event(KindProfile, `{"kind":"individual","traits":{"n\u00e4me":"J\u00fcrgen \"J\""}}`), func(t *testing.T, ev *Event) {
			if got := ev.Data.Traits["näme"]; got != `Jürgen "J"` {
				t.Fatalf("Traits = %q", ev.Data.Traits)
			}
		}),
	})
}

// TestDecodeDeterministicOrder checks that an event breaking several rules is
// rejected for the same one whatever the order of its members.
func TestDecodeDeterministicOrder(t *testing.T) {
	a := []byte(`{"specversion":"1.0","id":"","source":"","type":"visit","subject":"c","time":"x","data":{"channel":"bike"}}`)
	b := []byte(`{"data":{"channel":"bike"},"time":"x","subject":"c","type":"visit","source":"","id":"","specversion":"1.0"}`)
	_, errA := Decode(a, clock)
	_, errB := Decode(b, clock)
	if errA == nil || errB == nil || errA.Error() != errB.Error() {
		t.Fatalf("errors differ by member order: %v / %v", errA, errB)
	}
	if got, want := errA.Error(), "invalid_field: id: must not be empty"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
}

func TestDecodeClockRule(t *testing.T) {
	raw := event(KindVisit, "", "time", `"2025-03-01T13:00:00Z"`) // an hour after clock
	if _, err := Decode(raw, clock); !errors.Is(err, &Error{Code: CodeInvalidField, Field: "time"}) {
		t.Fatalf("Decode with clock = %v, want invalid time", err)
	}
	for name, decode := range map[string]func() (*Event, error){
		"zero now":     func() (*Event, error) { return Decode(raw, time.Time{}) },
		"DecodeStored": func() (*Event, error) { return DecodeStored(raw) },
	} {
		ev, err := decode()
		if err != nil {
			t.Fatalf("%s: %v, want the clock rule skipped", name, err)
		}
		if !ev.Time.Equal(clock.Add(time.Hour)) {
			t.Fatalf("%s: Time = %v", name, ev.Time)
		}
	}
	// Every other rule still applies without a clock.
	if _, err := DecodeStored(event(KindVisit, `{"channel":"bike"}`)); CodeOf(err) != CodeInvalidField {
		t.Fatalf("DecodeStored of an invalid event = %v", err)
	}
}

func TestDecodeStringsDoNotAliasRaw(t *testing.T) {
	raw := event(KindPurchase, "")
	ev, err := Decode(raw, clock)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 'X'
	}
	if ev.ID != "evt-1" || ev.Subject != "cust-42" || ev.Data.OrderID != "o-1" || ev.Data.Currency != "EUR" {
		t.Fatalf("strings changed with raw: %+v", ev)
	}
}

func TestErrorsIsAs(t *testing.T) {
	_, err := Decode(event(KindPurchase, `{"order_id":"o","amount":"1.234","currency":"EUR"}`), clock)
	if got, want := err.Error(), `invalid_field: data.amount: "1.234" has more decimals than EUR allows (2)`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("ingest %s: %w", "evt-1", err)
	for _, c := range []struct {
		target *Error
		want   bool
	}{
		{&Error{Code: CodeInvalidField}, true},
		{&Error{Code: CodeInvalidField, Field: "data.amount"}, true},
		{&Error{Code: CodeInvalidField, Field: "data.amount", Rule: "anything"}, true},
		{&Error{Code: CodeInvalidField, Field: "data.currency"}, false},
		{&Error{Code: CodeMissingField}, false},
	} {
		if got := errors.Is(wrapped, c.target); got != c.want {
			t.Errorf("errors.Is(%v, %+v) = %v, want %v", wrapped, c.target, got, c.want)
		}
	}
	var e *Error
	if !errors.As(wrapped, &e) || e.Field != "data.amount" {
		t.Fatalf("errors.As = %v, %+v", errors.As(wrapped, &e), e)
	}
	if got := CodeOf(wrapped); got != CodeInvalidField {
		t.Fatalf("CodeOf(wrapped) = %q", got)
	}
	if got := CodeOf(nil); got != "" {
		t.Fatalf("CodeOf(nil) = %q", got)
	}
	if got := CodeOf(io.ErrUnexpectedEOF); got != CodeInternal {
		t.Fatalf("CodeOf(other) = %q", got)
	}
	if got := (&Error{Code: CodeTooLarge, Rule: "r"}).Error(); got != "too_large: r" {
		t.Fatalf("Error() without field = %q", got)
	}
}

func TestKinds(t *testing.T) {
	ks := Kinds()
	if len(ks) != 9 {
		t.Fatalf("Kinds() = %v", ks)
	}
	ks[0] = "mutated"
	if Kinds()[0] != KindVisit {
		t.Fatal("Kinds() exposes its backing array")
	}
	for _, k := range Kinds() {
		if !k.Known() {
			t.Fatalf("%s.Known() = false", k)
		}
	}
	for _, k := range []Kind{"", "Visit", "visits", "unknown"} {
		if k.Known() {
			t.Fatalf("%q.Known() = true", k)
		}
	}
}

func TestValidCustomerID(t *testing.T) {
	for id, want := range map[string]bool{
		"cust-42": true, "a": true, "user@example.com": false, "user@example": true, "a:b_c-d": true,
		"": false, "a b": false, "a.b": false, "a*": false, "a>": false, "é": false,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
	} {
		if got := ValidCustomerID(id); got != want {
			t.Errorf("ValidCustomerID(%q) = %v, want %v", id, got, want)
		}
		raw := event(KindVisit, "", "subject", fmt.Sprintf("%q", id))
		if _, err := Decode(raw, clock); (err == nil) != want {
			t.Errorf("Decode with subject %q = %v, ValidCustomerID says %v", id, err, want)
		}
	}
}

// TestDecodeConcurrent decodes events of every kind from many goroutines
// (the pooled decoder state must not leak between calls; run with -race).
func TestDecodeConcurrent(t *testing.T) {
	want := map[Kind]*Event{}
	for _, k := range Kinds() {
		ev, err := Decode(event(k, ""), clock)
		if err != nil {
			t.Fatal(err)
		}
		want[k] = ev
	}
	bad := event(KindPurchase, `{"order_id":"o","amount":"1.234","currency":"EUR"}`)
	errc := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 500 {
				k := Kinds()[(g+i)%len(Kinds())]
				ev, err := Decode(event(k, ""), clock)
				if err != nil || !reflect.DeepEqual(ev.Data, want[k].Data) || ev.Type != k {
					errc <- fmt.Errorf("goroutine %d: %s decoded to %+v, %v", g, k, ev, err)
					return
				}
				if _, err := Decode(bad, clock); CodeOf(err) != CodeInvalidField {
					errc <- fmt.Errorf("goroutine %d: bad event = %v", g, err)
					return
				}
			}
			errc <- nil
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
