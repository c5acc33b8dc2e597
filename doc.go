// Package journey is the touchpoint vocabulary of the journey engine: the
// CloudEvents 1.0 envelope every point-of-sale, web and support system
// publishes, the kinds of touchpoint, their data, and the rules that make an
// event valid. Every other package imports it; it imports none of them.
//
// Decode is the one entry point: it takes the raw bytes a till sent and
// returns either a validated *Event (whose Raw field is those exact bytes)
// or an *Error with a stable Code, the Field and the Rule it broke:
//
//	invalid_field: data.amount: "1.234" has more decimals than EUR allows (2)
//
// DecodeStored is Decode without the clock rule, for events read back from
// the log. NewEvent builds canonical event bytes that Decode accepts.
//
// # Error codes
//
// Codes are stable: quarantine entries, journey.rejected notices and append
// replies carry them, and callers act on them. Check them with CodeOf or
// errors.Is(err, &journey.Error{Code: journey.CodeInvalidField}).
//
//	| code             | meaning                                                                  |
//	|------------------|--------------------------------------------------------------------------|
//	| too_large        | the event is larger than 64 KiB (MaxEventBytes)                          |
//	| invalid_utf8     | the bytes are not valid UTF-8                                            |
//	| invalid_json     | not exactly one JSON object (syntax error, an array, data after it), or  |
//	|                  | a key repeated in one object (Field names it, e.g. "data.amount")        |
//	| missing_field    | a required attribute or data field is absent or null                     |
//	| invalid_field    | an attribute or data field breaks its rule (Rule says which)             |
//	| unknown_type     | "type" is not one of the contract's kinds                                |
//	| version_conflict | the expected customer version did not match (append, not Decode)         |
//	| id_conflict      | the event id is already stored with other bytes (append, not Decode)     |
//	| internal         | the engine failed, not the event; retry                                  |
//
// # The rules Decode applies
//
// Bytes: at most 64 KiB, valid UTF-8, exactly one JSON object with nothing
// but white space after it, no key twice in any object. JSON null counts as
// absent. Extension attributes (e.g. traceparent) and data fields a kind
// does not define are accepted and kept in Raw, not parsed.
//
//	| attribute       | rule                                                                 |
//	|-----------------|----------------------------------------------------------------------|
//	| specversion     | required, "1.0"                                                      |
//	| id              | required string, 1 to 128 bytes                                      |
//	| source          | required string, 1 to 256 bytes                                      |
//	| type            | required, a known kind (else unknown_type)                           |
//	| subject         | required, 1 to 128 bytes of A-Z a-z 0-9 _ - : @ (one NATS token)     |
//	| time            | required, RFC 3339 (YYYY-MM-DDTHH:MM:SS[.1-9 digits](Z|±HH:MM)), not |
//	|                 | more than 5 minutes (MaxFutureSkew) after the engine's clock, in the |
//	|                 | years 0001 to 9999 in UTC (TimeRangeRule; stored events of year 0000 |
//	|                 | still read)                                                          |
//	| datacontenttype | optional, application/json (parameters such as charset allowed)      |
//	| data            | required JSON object, checked per kind; data_base64 is refused       |
//
//	| type               | data fields (? = optional)                                           |
//	|--------------------|----------------------------------------------------------------------|
//	| visit              | channel: store|web|app|phone; store_id?: non-empty string            |
//	| purchase           | order_id: non-empty; amount: money; currency: ISO 4217;              |
//	|                    | items?: integer ≥ 0; discount?: money; channel?: non-empty string     |
//	| return             | order_id; amount: money; currency; kind: refund|exchange; reason?    |
//	| complaint          | case_id; severity: low|medium|high; category?;                       |
//	|                    | escalated_to?: authority|media|consumer_association|legal            |
//	| complaint_resolved | case_id; outcome: resolved|compensated|rejected                      |
//	| feedback           | csat?: integer 1-5; nps?: integer 0-10 (at least one of the two);    |
//	|                    | comment?: string; public?: boolean                                   |
//	| thank_you          | message_id; reason: repeat_purchase|feedback|complaint_resolved|     |
//	|                    | holiday|referral; channel: non-empty string (email, sms, letter, …)  |
//	| referral           | referred: a customer id, the same rule as subject                    |
//	| profile            | kind: individual|business|internal; country?: 2 uppercase letters    |
//	|                    | (ISO 3166-1 alpha-2); traits?: object of string values               |
//
// Money is a JSON string holding a non-negative decimal ("42.50", "42.5",
// "0"), never a JSON number; it is parsed exactly into int64 minor units by
// the currency's ISO 4217 exponent (EUR 2, JPY 0, KWD 3, CLF 4): "42.5" EUR
// is 4250. More fraction digits than the exponent allows are refused unless
// they are zeros ("1.230" EUR is 123; "1.234" is refused). Signs,
// exponents, spaces, a bare "." and values beyond int64 are refused. The
// currency must be three uppercase letters and in the built-in ISO 4217
// table (Currencies, CurrencyExponent); ParseAmount and FormatAmount
// convert between the two forms.
//
// Decoded values: Event.Time is in UTC; Data holds the fields of the
// event's kind (the others zero; CSAT and NPS -1 when absent); enumerated
// values are the constant spellings above.
//
// # Concurrency and cost
//
// Decode, DecodeStored and NewEvent are safe for concurrent use. Decode
// reads the event in one pass with a pooled jsontext decoder over the bytes
// in place, and allocates the Event and one string holding all its text
// (plus a map when traits are present).
package journey
