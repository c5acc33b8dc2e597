// Package journey is the touchpoint vocabulary of the journey engine: the
// CloudEvents 1.0 envelope every point-of-sale, web and support system
// publishes, the kinds of touchpoint, their data, and the rules that make an
// event valid. Every other package imports it; it imports none of them.
//
// Decode is the one entry point: it takes the raw bytes a till sent and
// returns either a validated *Event (whose Raw field is those exact bytes)
// or an *Error with a stable Code, the Field and the Rule it broke.
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

// Kinds lists every known kind, in the contract's order.
var kinds = [...]Kind{KindVisit, KindPurchase, KindReturn, KindComplaint, KindComplaintResolved,
	KindFeedback, KindThankYou, KindReferral, KindProfile}

// Kinds returns every known kind, in the contract's order.
func Kinds() []Kind { return append([]Kind(nil), kinds[:]...) }

// Known reports whether k is a kind of the contract.
func (k Kind) Known() bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
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
// received; everything else is parsed from them.
type Event struct {
	ID      string
	Source  string
	Type    Kind
	Subject string // the customer id
	Time    time.Time
	Data    Data
	Raw     []byte
}

// Data is the union of every kind's data fields, parsed exactly. Fields a
// kind does not define are zero. Money is in integer minor units of
// Currency (ISO 4217 exponent). CSAT and NPS are -1 when absent.
type Data struct {
	Channel  string // visit, purchase, thank_you
	StoreID  string // visit
	OrderID  string // purchase, return
	Amount   int64  // purchase, return: minor units
	Currency string // purchase, return: ISO 4217 code
	Items    int    // purchase: number of items (0 when absent)
	Discount int64  // purchase: minor units (0 when absent)

	ReturnKind string // return: refund, exchange
	Reason     string // return: reason; thank_you: reason

	CaseID      string // complaint, complaint_resolved
	Severity    string // complaint: low, medium, high
	Category    string // complaint
	EscalatedTo string // complaint: authority, media, consumer_association, legal
	Outcome     string // complaint_resolved: resolved, compensated, rejected

	CSAT    int // feedback: 1..5, -1 when absent
	NPS     int // feedback: 0..10, -1 when absent
	Comment string
	Public  bool

	MessageID string // thank_you

	Referred string // referral: the referred customer id

	ProfileKind string // profile: individual, business, internal
	Country     string // profile
	Traits      map[string]string
}
