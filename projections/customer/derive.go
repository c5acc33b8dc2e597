package customer

import (
	"strings"
	"time"
)

// ReactivatedFor is how long a reactivated customer stays in the
// reactivated stage after the reactivating purchase.
const ReactivatedFor = 90 * 24 * time.Hour

// NewFor is how long after the first purchase a customer has the type new.
const NewFor = 90 * 24 * time.Hour

// Derive answers about a customer at asOf from its state and the population
// (pop may be nil). The state should hold the events with time ≤ asOf (the
// caller folds only those); signals after asOf are ignored anyway. Derive
// does not modify s. The rules are documented on the helpers it calls and
// in RULES.md:
//
//   - Stage (first that applies): prospect (no purchase); churned, at_risk
//     (the churn status, see Config.Churn); reactivated (a purchase after
//     having been churned, see State.Apply, within the last 90 days); loyal
//     (≥ 3 purchase days in the 365 days ending on asOf's day and
//     satisfaction ≥ 60); repeat (≥ 2 purchases); new.
//   - HighestStage: the furthest of prospect → new → repeat → loyal ever
//     reached (loyal: the loyal rule held right after some event).
//   - Flags: advocate (last NPS ≥ 9, or a referral made); detractor (last
//     NPS ≤ 6, or an open complaint).
//   - Types: see deriveTypes.
//   - Segments: the names of the Config.Rules that evaluate to true.
func (c *Config) Derive(s *State, asOf time.Time, pop *Population) *Answer {
	sc := c.satisfaction()
	asOf = asOf.UTC()
	cu := &Answer{State: s, AsOf: asOf}
	cu.Satisfaction = sc.Score(s, asOf)
	ch := c.Churn(s, asOf, pop)
	cu.Churn, cu.ExpectedGapDays, cu.RecencyDays = ch.Status, ch.ExpectedGap, ch.RecencyDays
	cu.PAlive, cu.ExpectedNext, cu.ChurnModel = ch.PAlive, ch.ExpectedNext, ch.Model
	cu.CLV = c.CLV(s, asOf, pop)

	loyalNow := s.Purchases > 0 && trailingDays(s, asOf, 365) >= 3 && cu.Satisfaction >= loyalSatisfaction
	switch {
	case s.Purchases == 0:
		cu.Stage = StageProspect
	case ch.Status == ChurnChurned:
		cu.Stage = StageChurned
	case ch.Status == ChurnAtRisk:
		cu.Stage = StageAtRisk
	case !s.ReactivatedAt.IsZero() && !s.ReactivatedAt.After(asOf) && asOf.Sub(s.ReactivatedAt) <= ReactivatedFor:
		cu.Stage = StageReactivated
	case loyalNow:
		cu.Stage = StageLoyal
	case s.Purchases >= 2:
		cu.Stage = StageRepeat
	default:
		cu.Stage = StageNew
	}

	switch {
	case s.Purchases == 0:
		cu.HighestStage = StageProspect
	case loyalNow || sc.everLoyal(s, asOf):
		cu.HighestStage = StageLoyal
	case s.Purchases >= 2:
		cu.HighestStage = StageRepeat
	default:
		cu.HighestStage = StageNew
	}

	cu.Flags = make([]string, 0, 2)
	if s.LastNPS >= 9 || s.ReferralsMade > 0 {
		cu.Flags = append(cu.Flags, FlagAdvocate)
	}
	if (s.LastNPS >= 0 && s.LastNPS <= 6) || len(s.OpenComplaints) > 0 {
		cu.Flags = append(cu.Flags, FlagDetractor)
	}
	cu.Types = c.deriveTypes(s, asOf, cu, loyalNow)

	if pop != nil && pop.RFM != nil {
		if in, ok := RFMInputOf(s, asOf); ok {
			sc := pop.RFM.Score(in)
			cu.RFM = &sc
		}
	}
	if c != nil && len(c.Rules) > 0 {
		cu.Segments = c.matchRules(cu)
	}
	cu.Actions = answerActions(s)
	return cu
}

// deriveTypes returns the customer types that apply, in the order of Types():
//
//   - prospect: no purchase.
//   - window_shopper: ≥ 3 visits and no purchase.
//   - committed: first purchase ≥ 365 days before asOf, ≥ 2 purchase days
//     in the trailing 365 days, churn status active (stayed over a year and
//     still buys).
//   - promotional: ≥ 2 purchases and at least half of them with a discount.
//   - churning: has bought, churn status at_risk or churned.
//   - new: first purchase within the last 90 days.
//   - impulse: the first purchase was on the calendar day (UTC) of the
//     customer's first touchpoint (bought at first contact, no earlier visit).
//   - angry: an open complaint of high severity or escalated outside the
//     company, or the last CSAT ≤ 2.
//   - loyal: the loyal rule holds now (≥ 3 purchase days in the trailing 365
//     days, satisfaction ≥ 60) and churn status active.
//   - brand_advocate: made a referral, or praised in public (a public
//     feedback with NPS ≥ 9 or CSAT 5).
//   - referred: another customer referred them (State.MarkReferred).
//   - foreign: the profile country differs from Config.HomeCountry.
func (c *Config) deriveTypes(s *State, asOf time.Time, cu *Answer, loyalNow bool) []string {
	ts := make([]string, 0, 4)
	bought := s.Purchases > 0
	if !bought {
		ts = append(ts, TypeProspect)
		if s.Visits >= 3 {
			ts = append(ts, TypeWindowShopper)
		}
	}
	if bought && asOf.Sub(s.FirstPurchase) >= MaxRecency && trailingDays(s, asOf, 365) >= 2 && cu.Churn == ChurnActive {
		ts = append(ts, TypeCommitted)
	}
	if s.Purchases >= 2 && 2*s.DiscountedPurchases >= s.Purchases {
		ts = append(ts, TypePromotional)
	}
	if bought && cu.Churn != ChurnActive {
		ts = append(ts, TypeChurning)
	}
	if bought && asOf.Sub(s.FirstPurchase) <= NewFor {
		ts = append(ts, TypeNew)
	}
	if bought && dayOf(s.FirstPurchase) == dayOf(s.FirstSeen) {
		ts = append(ts, TypeImpulse)
	}
	angry := s.LastCSAT >= 1 && s.LastCSAT <= 2
	for _, oc := range s.OpenComplaints {
		if oc.Severity == "high" || oc.EscalatedTo != "" {
			angry = true
		}
	}
	if angry {
		ts = append(ts, TypeAngry)
	}
	if loyalNow && cu.Churn == ChurnActive {
		ts = append(ts, TypeLoyal)
	}
	if s.ReferralsMade > 0 || s.PublicPraise > 0 {
		ts = append(ts, TypeBrandAdvocate)
	}
	if s.ReferredBy != "" {
		ts = append(ts, TypeReferred)
	}
	if s.Country != "" && !strings.EqualFold(s.Country, c.homeCountry()) {
		ts = append(ts, TypeForeign)
	}
	return ts
}

// trailingDays counts the purchase days in the n calendar days ending on
// asOf's day (UTC).
func trailingDays(s *State, asOf time.Time, n int32) int {
	end := int32(dayOf(asOf))
	k := 0
	for i := len(s.ShoppingDays) - 1; i >= 0; i-- {
		d := s.ShoppingDays[i]
		if d > end {
			continue
		}
		if d <= end-n {
			break
		}
		k++
	}
	return k
}
