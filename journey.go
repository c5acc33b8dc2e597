package journey

import (
	"time"
)

// Kind is a touchpoint type, the CloudEvents "type" attribute.
type Kind string

// The touchpoint kinds of the event contract.
const (
	KindVisit             Kind = "visit"
	KindPurchase          Kind = "purchase"
	KindReturn            Kind = "return"
	KindComplaint         Kind = "complaint"
	KindComplaintResolved Kind = "complaint_resolved"
	KindFeedback          Kind = "feedback"
	KindThankYou          Kind = "thank_you"
	KindReferral          Kind = "referral"
	KindProfile           Kind = "profile"
)

// KindActionRequested is an engine event, not a touchpoint: the reactions
// (handlers/reactions) record each action they ask another system for
// (a thank-you, a win-back, a complaint escalation) as one in the
// customer's stream, source EngineSource, id the action id. The log is
// their outbox. Publishers cannot send it: Decode with a clock (ingest,
// the synchronous append, import) refuses it; DecodeStored reads it. It is
// not in Kinds (the touchpoints).
const KindActionRequested Kind = "action_requested"

// EngineSource is the source of the engine's own events.
const EngineSource = "journey/engine"

// Engine reports whether k is an engine event kind rather than a touchpoint.
func (k Kind) Engine() bool { return k == KindActionRequested }

// Kinds lists every known kind, in the contract's order.
var kinds = [...]Kind{KindVisit, KindPurchase, KindReturn, KindComplaint, KindComplaintResolved,
	KindFeedback, KindThankYou, KindReferral, KindProfile}

// Kinds returns every known kind, in the contract's order.
func Kinds() []Kind { return append([]Kind(nil), kinds[:]...) }

// Known reports whether k is a kind of the contract.
func (k Kind) Known() bool {
	_, ok := kindOf(k)
	return ok
}

// kindList is the contract's kinds, for rules.
const kindList = "visit, purchase, return, complaint, complaint_resolved, feedback, thank_you, referral, profile"

// KindOf returns the Kind constant spelled b, without allocating; ok is
// false when b names no kind of the contract.
func KindOf(b []byte) (Kind, bool) { return kindOf(b) }

// kindOf returns the Kind constant spelled s, without allocating.
func kindOf[T ~string | ~[]byte](s T) (Kind, bool) {
	switch string(s) {
	case "visit":
		return KindVisit, true
	case "purchase":
		return KindPurchase, true
	case "return":
		return KindReturn, true
	case "complaint":
		return KindComplaint, true
	case "complaint_resolved":
		return KindComplaintResolved, true
	case "feedback":
		return KindFeedback, true
	case "thank_you":
		return KindThankYou, true
	case "referral":
		return KindReferral, true
	case "profile":
		return KindProfile, true
	case "action_requested":
		return KindActionRequested, true
	}
	return "", false
}

// Limits of the event contract.
const (
	MaxEventBytes   = 64 << 10 // a whole event, as received
	MaxIDBytes      = 128
	MaxSourceBytes  = 256
	MaxSubjectBytes = 128
	MaxFutureSkew   = 5 * time.Minute // how far ahead of the engine's clock "time" may be
)

// Event is a decoded, validated touchpoint. Raw holds the exact bytes as
// received; everything else is parsed from them. Extension attributes and
// data fields the contract does not define are not parsed: they stay in Raw.
type Event struct {
	ID      string
	Source  string
	Type    Kind
	Subject string    // the customer id
	Time    time.Time // event time, in UTC (the offset the source used stays in Raw)
	Data    Data
	Raw     []byte
}

// Data is the union of every kind's data fields, parsed exactly. Fields a
// kind does not define are zero, even when the event carries them (they
// stay in Raw). Money is in integer minor units of Currency (ISO 4217
// exponent). CSAT and NPS are -1 when absent. Enumerated values are the
// contract's spellings; optional strings are "" when absent.
type Data struct {
	Channel  string // visit: store, web, app, phone; purchase (optional), thank_you: any non-empty
	StoreID  string // visit
	OrderID  string // purchase, return
	Amount   int64  // purchase, return: minor units
	Currency string // purchase, return: ISO 4217 code
	Items    int    // purchase: number of items (0 when absent)
	Discount int64  // purchase: minor units (0 when absent)

	ReturnKind string // return: refund, exchange
	Reason     string // return: free text (optional); thank_you: repeat_purchase, feedback, complaint_resolved, holiday, referral

	CaseID      string // complaint, complaint_resolved, action_requested (optional: the case an escalation is about)
	Severity    string // complaint: low, medium, high
	Category    string // complaint
	EscalatedTo string // complaint: authority, media, consumer_association, legal
	Outcome     string // complaint_resolved: resolved, compensated, rejected

	CSAT    int    // feedback: 1..5, -1 when absent
	NPS     int    // feedback: 0..10, -1 when absent
	Comment string // feedback (optional)
	Public  bool   // feedback: a public review (false when absent)

	MessageID string // thank_you

	Action string // action_requested: the action's kind (thank_you, winback, escalation, …)

	Referred string // referral: the referred customer id

	ProfileKind string            // profile: individual, business, internal
	Country     string            // profile
	Traits      map[string]string // profile: nil when absent or empty
}
