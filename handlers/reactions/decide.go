package reactions

import (
	"time"

	"github.com/google/uuid"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections/customer"
)

// namespace is the UUIDv5 namespace of action ids.
var namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/journey-cdp/journey/reactions"))

// ActionID is the id of the action of kind caused by cause: UUIDv5 of
// cause and kind, so that deciding it again (a restart, a redelivery, a
// second sweep) gives the same id, which the log's idempotent append and
// JetStream's Nats-Msg-Id dedupe then refuse to ask twice. The causes
// (REACTIONS.md): the event id for a thank-you of an event;
// "complaint:<customer>:<case_id>" for an escalation;
// "lapse:<customer>:<last purchase, RFC 3339>" for a win-back (one per
// lapse); "holiday:<customer>:<date>" for a holiday thank-you.
func ActionID(cause, kind string) string {
	return uuid.NewSHA1(namespace, []byte(cause+"\x00"+kind)).String()
}

// Request is what an action asks for: the data of its action_requested
// record in the log and, byte for byte, the message published on
// journey.actions.<kind>.
type Request struct {
	ActionID string    `json:"action_id"`
	Kind     string    `json:"kind"`
	Customer string    `json:"customer"`
	Reason   string    `json:"reason"`
	Cause    string    `json:"cause"`
	CaseID   string    `json:"case_id,omitempty"`
	Channel  string    `json:"channel"`
	Message  string    `json:"message"`
	AskedAt  time.Time `json:"asked_at"`
	Report   *Report   `json:"report,omitempty"`
}

// Touchpoint is one of the last touchpoints in a report.
type Touchpoint struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
}

// Report is what someone calling a lost customer needs (a win-back's, and
// an escalation's).
type Report struct {
	Stage                 string               `json:"stage"`
	HighestStage          string               `json:"highest_stage"`
	Churn                 string               `json:"churn"`
	DaysSinceLastPurchase float64              `json:"days_since_last_purchase"`
	ExpectedGapDays       float64              `json:"expected_gap_days"`
	Satisfaction          float64              `json:"satisfaction"`
	SatisfactionTrend     float64              `json:"satisfaction_trend"` // now minus 90 days earlier
	OpenComplaints        []customer.Complaint `json:"open_complaints,omitempty"`
	Complaints            int                  `json:"complaints"`
	ComplaintsResolved    int                  `json:"complaints_resolved"`
	Returns               int                  `json:"returns"`
	LastTouchpoints       []Touchpoint         `json:"last_touchpoints,omitempty"`
	LifetimeRevenue       map[string]float64   `json:"lifetime_revenue,omitempty"` // major units per currency
	PAlive                *float64             `json:"p_alive,omitempty"`
	Purchases             int                  `json:"purchases"`
	LikelyReason          string               `json:"likely_reason"`
}

// The likely reasons of a win-back, the first that applies (REACTIONS.md):
const (
	ReasonUnresolvedComplaint = "unresolved_complaint" // a complaint is still open
	ReasonFellAfterReturn     = "fell_after_return"    // the last commercial act was a return
	ReasonDissatisfied        = "dissatisfied"         // satisfaction < 40, or last CSAT ≤ 2 / NPS ≤ 6
	ReasonPromotional         = "price_sensitive"      // a promotional buyer (≥ half the purchases discounted)
	ReasonLapsed              = "simply_lapsed"        // none of the above
)

// LikelyReason is the documented rule for why a customer is leaving.
func LikelyReason(a *customer.Answer) string {
	s := a.State
	switch {
	case len(s.OpenComplaints) > 0:
		return ReasonUnresolvedComplaint
	case lastReturn(s) >= s.LastPurchase.Unix() && s.Returns > 0:
		return ReasonFellAfterReturn
	case a.Satisfaction < 40 || (s.LastCSAT >= 1 && s.LastCSAT <= 2) || (s.LastNPS >= 0 && s.LastNPS <= 6):
		return ReasonDissatisfied
	case a.HasType(customer.TypePromotional):
		return ReasonPromotional
	}
	return ReasonLapsed
}

// lastReturn is the time (Unix s) of the newest return signal, -1 if none.
func lastReturn(s *customer.State) int64 {
	for i := len(s.Signals) - 1; i >= 0; i-- {
		if s.Signals[i].Kind == customer.SignalReturn {
			return s.Signals[i].At
		}
	}
	return -1
}

// reportOf builds a's report; earlier is the satisfaction 90 days before
// a.AsOf; last are the customer's last touchpoints.
func reportOf(a *customer.Answer, earlier float64, last []Touchpoint) *Report {
	s := a.State
	r := &Report{
		Stage: a.Stage, HighestStage: a.HighestStage, Churn: a.Churn,
		ExpectedGapDays: a.ExpectedGapDays, Satisfaction: round1(a.Satisfaction),
		SatisfactionTrend: round1(a.Satisfaction - earlier),
		OpenComplaints:    s.OpenComplaints, Complaints: s.Complaints, ComplaintsResolved: s.ComplaintsResolved,
		Returns: s.Returns, LastTouchpoints: last, PAlive: a.PAlive, Purchases: s.Purchases,
		LikelyReason: LikelyReason(a),
	}
	if a.RecencyDays != nil {
		r.DaysSinceLastPurchase = round1(*a.RecencyDays)
	}
	if len(s.Revenue) > 0 {
		r.LifetimeRevenue = s.Revenue.Major()
	}
	return r
}

func round1(f float64) float64 { return float64(int64(f*10+0.5*sign(f))) / 10 }

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

// thankReason is the thank-you reason ev gives, "" for none:
// repeat_purchase (a purchase after the customer's first), feedback (CSAT
// ≥ 4 or NPS ≥ 9), complaint_resolved (resolved or compensated), referral.
func thankReason(ev *journey.Event, s *customer.State) string {
	d := &ev.Data
	switch ev.Type {
	case journey.KindPurchase:
		if !s.FirstPurchase.IsZero() && s.FirstPurchase.Before(ev.Time) {
			return "repeat_purchase"
		}
	case journey.KindFeedback:
		if d.CSAT >= 4 || d.NPS >= 9 {
			return "feedback"
		}
	case journey.KindComplaintResolved:
		if d.Outcome == "resolved" || d.Outcome == "compensated" {
			return "complaint_resolved"
		}
	case journey.KindReferral:
		if d.Referred != "" && d.Referred != ev.Subject {
			return "referral"
		}
	}
	return ""
}

// hasAction reports whether a's actions hold id.
func hasAction(a *customer.Answer, id string) bool {
	for _, x := range a.State.Actions {
		if x.ID == id {
			return true
		}
	}
	return false
}

// winbackCause is the cause of the win-back of a's current lapse.
func winbackCause(s *customer.State) string {
	return "lapse:" + s.Customer + ":" + s.LastPurchase.UTC().Format(time.RFC3339Nano)
}

func escalationCause(customerID, caseID string) string {
	return "complaint:" + customerID + ":" + caseID
}

// nextDue is the earliest instant at which a needs a time-driven decision
// (a win-back of the current lapse, an escalation of an open complaint)
// not yet asked; zero when none.
func (r *Reactor) nextDue(a *customer.Answer) time.Time { return r.nextDueSkipping(a, nil) }

// nextDueSkipping is nextDue without the actions of skip (decided or
// declined just now).
func (r *Reactor) nextDueSkipping(a *customer.Answer, skip map[string]bool) time.Time {
	var due time.Time
	earliest := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	s := a.State
	if !r.cfg.Winback.Off && s.Purchases > 0 && !hasAction(a, ActionID(winbackCause(s), KindWinback)) && !skip[ActionID(winbackCause(s), KindWinback)] {
		gap := time.Duration(a.ExpectedGapDays * float64(24*time.Hour))
		at := 2 * gap
		if at <= 0 || at > 365*24*time.Hour {
			at = 365 * 24 * time.Hour
		}
		earliest(s.LastPurchase.Add(at))
	}
	if !r.cfg.Escalation.Off {
		for _, c := range s.OpenComplaints {
			if id := ActionID(escalationCause(s.Customer, c.CaseID), KindEscalation); !hasAction(a, id) && !skip[id] {
				earliest(c.Opened.Add(r.sla(c.Severity)))
			}
		}
	}
	return due
}

func (r *Reactor) sla(severity string) time.Duration {
	if d, ok := r.cfg.SLA[severity]; ok {
		return d
	}
	return r.cfg.SLA["low"]
}
