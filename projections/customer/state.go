package customer

import (
	"slices"
	"strings"
	"time"

	journey "github.com/journey-cdp/journey"
)

// MaxSignals bounds the satisfaction observations a State keeps: when a
// signal would exceed it, the oldest quarter is dropped (so between
// 3/4·MaxSignals and MaxSignals newest signals are kept). At the default 90-day half-life an observation that
// many signals old is normally years old and weighs almost nothing.
const MaxSignals = 1024

// Money is an amount per ISO 4217 currency, in integer minor units.
type Money map[string]int64

func (m *Money) add(cur string, v int64) {
	if *m == nil {
		*m = make(Money, 1)
	}
	if old, ok := (*m)[cur]; ok {
		(*m)[cur] = old + v
		return
	}
	(*m)[intern(cur)] = v
}

// intern returns a string equal to s that does not share memory with the
// event it came from: a literal for the common vocabulary, else a copy.
func intern(s string) string {
	switch s {
	case "":
		return ""
	case "GBP":
		return "GBP"
	case "EUR":
		return "EUR"
	case "USD":
		return "USD"
	case "individual":
		return "individual"
	case "business":
		return "business"
	case "internal":
		return "internal"
	case "authority":
		return "authority"
	case "media":
		return "media"
	case "consumer_association":
		return "consumer_association"
	case "legal":
		return "legal"
	}
	return strings.Clone(s)
}

// Complaint is an open complaint case.
type Complaint struct {
	CaseID      string    `json:"case_id"`
	Severity    string    `json:"severity"`               // low, medium, high
	EscalatedTo string    `json:"escalated_to,omitempty"` // authority, media, …; empty when not escalated
	Opened      time.Time `json:"opened"`
}

// SignalKind is the kind of a satisfaction observation.
type SignalKind uint8

// The satisfaction signals (see SatisfactionConfig for their values and weights).
const (
	SignalCSAT SignalKind = iota + 1 // Value: CSAT 1..5
	SignalNPS                        // Value: NPS 0..10
	SignalComplaintLow
	SignalComplaintMedium
	SignalComplaintHigh
	SignalComplaintEscalated
	SignalResolved
	SignalCompensated
	SignalRejected
	SignalReturn
	SignalPurchase
	signalKinds // one past the last
)

// Signal is one satisfaction observation, the compact fact that a
// satisfaction-relevant event leaves in the state (the raw event is not
// kept).
type Signal struct {
	At    int64      // event time, Unix seconds
	Kind  SignalKind //
	Value int8       // CSAT or NPS score; 0 otherwise
	Store uint16     // feedback: 1 + index into State.Stores; 0 unknown
}

// State is one customer's folded facts: everything the derived answers
// (stage, flags, types, satisfaction, churn) need, and nothing that depends
// on "now". It is built by Apply in event-time order (time, then seq).
// All times are UTC.
type State struct {
	Customer string `json:"customer"`
	LastSeq  uint64 `json:"last_seq"` // highest log sequence folded in
	// LastTime is the event time of the newest event folded in; an event
	// older than it is late and makes the customer re-fold from history.
	LastTime time.Time `json:"last_time"`

	Events    int       `json:"events"` // events folded in
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`

	Visits     int       `json:"visits"`
	FirstVisit time.Time `json:"first_visit,omitzero"`
	LastVisit  time.Time `json:"last_visit,omitzero"`

	Purchases           int       `json:"purchases"`
	DiscountedPurchases int       `json:"discounted_purchases"` // purchases with a discount > 0
	Items               int       `json:"items"`
	FirstPurchase       time.Time `json:"first_purchase,omitzero"`
	LastPurchase        time.Time `json:"last_purchase,omitzero"`
	Revenue             Money     `json:"revenue,omitempty"`   // purchase amounts per currency
	Discounts           Money     `json:"discounts,omitempty"` // discount amounts per currency
	// ShoppingDays are the distinct UTC calendar days with a purchase (days
	// since 1970-01-01), ascending: the inter-purchase gaps, the trailing
	// 365-day count and the BG/NBD summary are computed from them.
	ShoppingDays []int32 `json:"purchase_days,omitempty"`
	// FirstDayRevenue is the purchase amount per currency on the first
	// purchase day (ShoppingDays[0]): the spend model of the CLV leaves it
	// out, as `journey clv fit` does, and takes the mean value of the repeat
	// purchase days (Revenue − FirstDayRevenue) / (purchase days − 1).
	FirstDayRevenue Money `json:"first_day_revenue,omitempty"`
	// firstDayUnknown marks a state with purchase days decoded from a
	// version-1 encoding, which did not keep FirstDayRevenue; a rebuild (a
	// fold from the log) fills it. See RepeatRevenue.
	firstDayUnknown bool
	// ReactivatedAt is the latest purchase that came after the customer had
	// churned (see Apply); Reactivations counts them.
	ReactivatedAt time.Time `json:"reactivated_at,omitzero"`
	Reactivations int       `json:"reactivations"`

	Returns   int   `json:"returns"`
	Exchanges int   `json:"exchanges"`
	Refunds   Money `json:"refunds,omitempty"` // refunded amounts per currency (returns of kind refund)

	Complaints         int         `json:"complaints"` // complaint cases opened
	Escalations        int         `json:"escalations"`
	ComplaintsResolved int         `json:"complaints_resolved"`
	OpenComplaints     []Complaint `json:"open_complaints,omitempty"`

	Feedbacks     int       `json:"feedbacks"`
	CSATCount     int       `json:"csat_count"`
	NPSCount      int       `json:"nps_count"`
	LastCSAT      int       `json:"last_csat"` // -1 when none
	LastNPS       int       `json:"last_nps"`  // -1 when none
	LastFeedback  time.Time `json:"last_feedback,omitzero"`
	Promoters     int       `json:"promoters"`  // NPS answers 9–10
	Passives      int       `json:"passives"`   // NPS answers 7–8
	Detractors    int       `json:"detractors"` // NPS answers 0–6
	PublicReviews int       `json:"public_reviews"`
	// PublicPraise counts public feedback with NPS ≥ 9 or CSAT 5.
	PublicPraise int `json:"public_praise"`

	ThankYous    int       `json:"thank_yous"`
	LastThankYou time.Time `json:"last_thank_you,omitzero"`

	ReferralsMade int       `json:"referrals_made"`
	LastReferral  time.Time `json:"last_referral,omitzero"`
	// ReferredBy is the customer who referred this one (see MarkReferred),
	// the earliest by (time, seq) when several did.
	ReferredBy  string    `json:"referred_by,omitempty"`
	ReferredAt  time.Time `json:"referred_at,omitzero"`
	ReferredSeq uint64    `json:"-"`

	ProfileKind string            `json:"profile_kind,omitempty"` // individual, business, internal
	Country     string            `json:"country,omitempty"`
	Traits      map[string]string `json:"traits,omitempty"`

	// Stores are the stores seen (visit store_id, else a "store…" segment of
	// the event source), in order of first appearance; LastStore is the
	// store of the latest visit or purchase that named one.
	Stores    []string `json:"stores,omitempty"`
	LastStore string   `json:"last_store,omitempty"`

	// Signals are the satisfaction observations, oldest first (at most
	// MaxSignals, see there).
	Signals []Signal `json:"-"`

	// Actions are the reactions' action_requested records on this
	// customer, oldest first, with their confirmation (actions.go; at most
	// MaxActions). The answer lists them.
	Actions []Action `json:"-"`
}

// NewState returns the empty state of a customer.
func NewState(customer string) *State {
	return &State{Customer: customer, LastCSAT: -1, LastNPS: -1}
}

// Apply folds one event into the state. Events must come in event-time
// order (time, then seq); Apply is deterministic, keeps no reference to
// ev.Raw and allocates only when the state grows (a new currency, store,
// purchase day, open complaint or signal).
//
// Reactivation is decided here, from the purchase days alone, so that it
// is a fact of the history and not of the read-time configuration: a
// purchase on day D after a previous purchase day L is a reactivation when
// the gap D−L exceeded the churn threshold that held on day L, i.e. when
// D−L > 365 days, or when there were at least two earlier purchase days
// and D−L > 4 × their mean gap.
func (s *State) Apply(ev *journey.Event, seq uint64) {
	t := ev.Time.UTC()
	if seq > s.LastSeq {
		s.LastSeq = seq
	}
	if t.After(s.LastTime) {
		s.LastTime = t
	}
	if ev.Type == journey.KindActionRequested {
		s.applyAction(ev, t)
		return
	}
	if len(s.Actions) > 0 {
		s.confirmActions(ev, t)
	}
	s.Events++
	if s.FirstSeen.IsZero() || t.Before(s.FirstSeen) {
		s.FirstSeen = t
	}
	if t.After(s.LastSeen) {
		s.LastSeen = t
	}
	d := &ev.Data
	switch ev.Type {
	case journey.KindVisit:
		s.Visits++
		if s.FirstVisit.IsZero() {
			s.FirstVisit = t
		}
		s.LastVisit = t
		store := d.StoreID
		if store == "" {
			store = storeFromSource(ev.Source)
		}
		s.noteStore(store)
	case journey.KindPurchase:
		s.applyPurchase(ev, t)
	case journey.KindReturn:
		s.Returns++
		if d.ReturnKind == "exchange" {
			s.Exchanges++
		} else if d.Amount != 0 {
			s.Refunds.add(d.Currency, d.Amount)
		}
		s.addSignal(t, SignalReturn, 0, 0)
	case journey.KindComplaint:
		s.applyComplaint(d, t)
	case journey.KindComplaintResolved:
		s.ComplaintsResolved++
		for i := range s.OpenComplaints {
			if s.OpenComplaints[i].CaseID == d.CaseID {
				s.OpenComplaints = slices.Delete(s.OpenComplaints, i, i+1)
				if len(s.OpenComplaints) == 0 {
					s.OpenComplaints = nil // as UnmarshalBinary gives
				}
				break
			}
		}
		k := SignalResolved
		switch d.Outcome {
		case "compensated":
			k = SignalCompensated
		case "rejected":
			k = SignalRejected
		}
		s.addSignal(t, k, 0, 0)
	case journey.KindFeedback:
		s.applyFeedback(ev, t)
	case journey.KindThankYou:
		s.ThankYous++
		s.LastThankYou = t
	case journey.KindReferral:
		if d.Referred != "" && d.Referred != s.Customer {
			s.ReferralsMade++
			s.LastReferral = t
		}
	case journey.KindProfile:
		if d.ProfileKind != "" {
			s.ProfileKind = intern(d.ProfileKind)
		}
		if d.Country != "" {
			s.Country = strings.Clone(strings.ToUpper(d.Country))
		}
		if len(d.Traits) > 0 {
			if s.Traits == nil {
				s.Traits = make(map[string]string, len(d.Traits))
			}
			for k, v := range d.Traits {
				s.Traits[strings.Clone(k)] = strings.Clone(v)
			}
		}
	}
}

func (s *State) applyPurchase(ev *journey.Event, t time.Time) {
	d := &ev.Data
	s.Purchases++
	s.Items += d.Items
	if s.FirstPurchase.IsZero() {
		s.FirstPurchase = t
	}
	s.LastPurchase = t
	day := int32(dayOf(t))
	n := len(s.ShoppingDays)
	if n > 0 && day < s.ShoppingDays[0] { // a new first purchase day
		s.FirstDayRevenue = nil
	}
	if d.Amount != 0 || d.Currency != "" {
		s.Revenue.add(d.Currency, d.Amount)
		if n == 0 || day <= s.ShoppingDays[0] {
			s.FirstDayRevenue.add(d.Currency, d.Amount)
		}
	}
	if d.Discount > 0 {
		s.DiscountedPurchases++
		s.Discounts.add(d.Currency, d.Discount)
	}
	store := d.StoreID
	if store == "" {
		store = storeFromSource(ev.Source)
	}
	s.noteStore(store)

	switch {
	case n == 0:
		s.ShoppingDays = append(s.ShoppingDays, day)
	case day > s.ShoppingDays[n-1]:
		last, first := s.ShoppingDays[n-1], s.ShoppingDays[0]
		gap := int64(day - last)
		if gap > 365 || (n >= 2 && gap*int64(n-1) > 4*int64(last-first)) {
			s.ReactivatedAt = t
			s.Reactivations++
		}
		s.ShoppingDays = append(s.ShoppingDays, day)
	case day < s.ShoppingDays[n-1]: // out of order: keep the set sorted anyway
		if i, found := slices.BinarySearch(s.ShoppingDays, day); !found {
			s.ShoppingDays = slices.Insert(s.ShoppingDays, i, day)
		}
	}
	s.addSignal(t, SignalPurchase, 0, 0)
}

func (s *State) applyComplaint(d *journey.Data, t time.Time) {
	sev := "medium"
	switch d.Severity {
	case "low":
		sev = "low"
	case "high":
		sev = "high"
	}
	var c *Complaint
	for i := range s.OpenComplaints {
		if s.OpenComplaints[i].CaseID == d.CaseID {
			c = &s.OpenComplaints[i]
			break
		}
	}
	if c == nil { // a new case
		s.Complaints++
		s.OpenComplaints = append(s.OpenComplaints, Complaint{CaseID: strings.Clone(d.CaseID), Severity: sev, Opened: t})
		c = &s.OpenComplaints[len(s.OpenComplaints)-1]
	} else if severityRank(sev) > severityRank(c.Severity) { // an update of an open case
		c.Severity = sev
	}
	if d.EscalatedTo != "" && c.EscalatedTo == "" {
		c.EscalatedTo = intern(d.EscalatedTo)
		s.Escalations++
	}
	k := SignalComplaintMedium
	switch {
	case d.EscalatedTo != "":
		k = SignalComplaintEscalated
	case sev == "low":
		k = SignalComplaintLow
	case sev == "high":
		k = SignalComplaintHigh
	}
	s.addSignal(t, k, 0, 0)
}

func severityRank(s string) int {
	switch s {
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	}
	return 0
}

func (s *State) applyFeedback(ev *journey.Event, t time.Time) {
	d := &ev.Data
	s.Feedbacks++
	s.LastFeedback = t
	store := storeFromSource(ev.Source)
	if store == "" {
		store = s.LastStore
	}
	var si uint16
	if store != "" {
		si = s.storeIndex(store) + 1
	}
	if d.CSAT >= 1 && d.CSAT <= 5 {
		s.CSATCount++
		s.LastCSAT = d.CSAT
		s.addSignal(t, SignalCSAT, int8(d.CSAT), si)
	}
	if d.NPS >= 0 && d.NPS <= 10 {
		s.NPSCount++
		s.LastNPS = d.NPS
		switch {
		case d.NPS >= 9:
			s.Promoters++
		case d.NPS >= 7:
			s.Passives++
		default:
			s.Detractors++
		}
		s.addSignal(t, SignalNPS, int8(d.NPS), si)
	}
	if d.Public {
		s.PublicReviews++
		if d.NPS >= 9 || d.CSAT == 5 {
			s.PublicPraise++
		}
	}
}

func (s *State) addSignal(t time.Time, k SignalKind, v int8, store uint16) {
	if len(s.Signals) >= MaxSignals {
		// Drop the oldest quarter at once: amortised O(1) per signal.
		n := copy(s.Signals, s.Signals[MaxSignals/4:])
		s.Signals = s.Signals[:n]
	}
	s.Signals = append(s.Signals, Signal{At: t.Unix(), Kind: k, Value: v, Store: store})
}

// noteStore records a store of a visit or purchase.
func (s *State) noteStore(store string) {
	if store == "" {
		return
	}
	s.LastStore = s.Stores[s.storeIndex(store)]
}

// storeIndex returns the index of store in s.Stores, adding it if needed.
func (s *State) storeIndex(store string) uint16 {
	for i, x := range s.Stores {
		if x == store {
			return uint16(i)
		}
	}
	if len(s.Stores) >= 1<<16-2 {
		return uint16(len(s.Stores) - 1)
	}
	s.Stores = append(s.Stores, strings.Clone(store))
	return uint16(len(s.Stores) - 1)
}

// storeFromSource extracts a store id from an event source: the first path
// segment that starts with "store" ("pos/store-042/till-3" → "store-042").
func storeFromSource(src string) string {
	for src != "" {
		seg := src
		if i := strings.IndexByte(src, '/'); i >= 0 {
			seg, src = src[:i], src[i+1:]
		} else {
			src = ""
		}
		if strings.HasPrefix(seg, "store") {
			return seg
		}
	}
	return ""
}

// MarkReferred records that customer by referred this customer, with the
// time and log sequence of by's referral event. A referral is an event of
// the referrer's stream, so the fold of this customer never sees it: the
// projector must call MarkReferred on the referred customer's state for
// every referral event naming them (with time ≤ the as-of instant), also
// after it re-folds that customer from history. MarkReferred is idempotent
// and order-independent (the earliest referral by (time, seq) wins), so it
// may be called before or after Apply; it does not move LastSeq/LastTime.
func (s *State) MarkReferred(by string, t time.Time, seq uint64) {
	if by == "" || by == s.Customer {
		return
	}
	t = t.UTC()
	if s.ReferredBy == "" || t.Before(s.ReferredAt) || (t.Equal(s.ReferredAt) && seq < s.ReferredSeq) {
		s.ReferredBy, s.ReferredAt, s.ReferredSeq = strings.Clone(by), t, seq
	}
}

// PurchaseDays returns the distinct UTC calendar days (days since
// 1970-01-01) with a purchase, up to and including asOf's day, ascending:
// the input bgnbd.FromPurchaseDays expects for the BG/NBD fit.
func (s *State) PurchaseDays(asOf time.Time) []int {
	end := int32(dayOf(asOf))
	out := make([]int, 0, len(s.ShoppingDays))
	for _, d := range s.ShoppingDays {
		if d > end {
			break
		}
		out = append(out, int(d))
	}
	return out
}

// RepeatRevenue returns the revenue in currency cur of the repeat
// purchase days, every purchase day but the first (Revenue[cur] −
// FirstDayRevenue[cur]), and true; false when it is not known: for a state
// decoded from a version-1 encoding (before FirstDayRevenue was kept)
// until a rebuild folds the customer again from the log.
func (s *State) RepeatRevenue(cur string) (int64, bool) {
	if s.firstDayUnknown {
		return 0, false
	}
	return s.Revenue[cur] - s.FirstDayRevenue[cur], true
}

// MeanGapDays is the mean gap between consecutive purchase days, and false
// when there are fewer than two purchase days.
func (s *State) MeanGapDays() (float64, bool) {
	n := len(s.ShoppingDays)
	if n < 2 {
		return 0, false
	}
	return float64(s.ShoppingDays[n-1]-s.ShoppingDays[0]) / float64(n-1), true
}

// NetRevenue returns revenue minus refunds per currency.
func (s *State) NetRevenue() Money {
	out := make(Money, len(s.Revenue))
	for c, v := range s.Revenue {
		out[c] = v
	}
	for c, v := range s.Refunds {
		out[c] -= v
	}
	return out
}

// dayOf returns t's UTC calendar day as days since 1970-01-01 (the day
// numbering of bgnbd.Day).
func dayOf(t time.Time) int64 {
	u := t.Unix()
	if u >= 0 {
		return u / 86400
	}
	return -((-u + 86399) / 86400)
}
