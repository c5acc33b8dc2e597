package web

import (
	"strings"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

// Every kind's timeline sentence, with and without its optional parts.
func TestDescribeSentences(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	kinds := map[journey.Kind][]map[string]any{
		journey.KindReturn:            {{"order_id": "o1", "kind": "exchange", "reason": "too big", "currency": "EUR", "amount": "1.00"}, {"order_id": "o0", "kind": "refund", "amount": "12.50", "currency": "EUR"}, {"order_id": "o2", "kind": "refund", "amount": "3.00", "currency": "EUR", "reason": "x"}, {"order_id": "o3", "kind": "refund", "amount": "0", "currency": "EUR"}},
		journey.KindComplaint:         {{"case_id": "c1", "severity": "medium"}, {"case_id": "c2", "category": "delivery", "severity": "high", "escalated_to": "consumer_association"}, {"case_id": "c3", "severity": "low"}},
		journey.KindThankYou:          {{"message_id": "m2", "reason": "repeat_purchase", "channel": "email"}, {"message_id": "m3", "channel": "sms", "reason": "complaint_resolved"}},
		journey.KindActionRequested:   {{"action": "win_back", "kind": "winback", "action_id": "a1"}, {"action": "escalation", "kind": "escalation", "reason": "open_complaint", "case_id": "c9", "action_id": "a2"}},
		journey.KindFeedback:          {{"nps": 9, "comment": "great", "public": true}, {"csat": 3}, {"nps": 2, "csat": 1, "comment": "bad"}},
		journey.KindPurchase:          {{"amount": "12.50", "currency": "EUR", "items": 2, "order_id": "o1", "channel": "web", "discount": "1.00"}, {"amount": "1500", "currency": "JPY", "order_id": "o9"}},
		journey.KindVisit:             {{"store_id": "s1", "channel": "web"}, {"channel": "app"}, {"store_id": "s2", "channel": "store"}},
		journey.KindComplaintResolved: {{"case_id": "c1", "outcome": "compensated"}, {"case_id": "c2", "outcome": "rejected"}},
		journey.KindProfile:           {{"kind": "individual", "country": "FR", "traits": map[string]string{"b": "2", "a": "1"}}, {"kind": "business"}},
	}
	want := []string{
		"Returned order o1 for an exchange: “too big”.",
		"Returned order o0 for a refund of 12.50 EUR.",
		"Returned order o2 for a refund of 3.00 EUR: “x”.",
		"Returned order o3.",
		"Complained (medium severity); case c1.",
		"Complained about delivery (high severity), escalated to consumer association; case c2.",
		"Complained (low severity); case c3.",
		"Was thanked for repeat purchase by email.",
		"Was thanked for complaint resolved by sms.",
		"journey asked for a winback.",
		"journey asked for a escalation (open complaint) about case c9.",
		"Wrote a public review: NPS 9 — “great”.",
		"Gave feedback: CSAT 3 of 5.",
		"Gave feedback: NPS 2, CSAT 1 of 5 — “bad”.",
		"Bought 2 items for 12.50 EUR with a discount of 1.00 EUR (order o1) by web.",
		"Bought for 1500 JPY (order o9).",
		"Visited store s1 (web).",
		"Visited by app.",
		"Visited store s2.",
		"Case c1 closed: compensated.",
		"Case c2 closed: rejected.",
		"Profile updated: individual, country FR, a 1, b 2.",
		"Profile updated: business.",
	}
	var got []string
	for _, k := range []journey.Kind{journey.KindReturn, journey.KindComplaint, journey.KindThankYou, journey.KindActionRequested, journey.KindFeedback, journey.KindPurchase, journey.KindVisit, journey.KindComplaintResolved, journey.KindProfile} {
		for _, d := range kinds[k] {
			raw, err := journey.NewEvent("e1", "web/1", k, "cust-1", at, d)
			if err != nil {
				t.Errorf("%s %v: %v", k, d, err)
				continue
			}
			e := describe(&eventstore.Record{Seq: 1, Type: k, Raw: raw, EventTime: at, RecordedAt: at})
			got = append(got, strings.NewReplacer(isoOpen, "", isoClose, "").Replace(e.Sentence)) // the values' isolate marks: TestTouchpointValuesIsolated
			if k == journey.KindComplaint && e.CaseID != d["case_id"] {
				t.Errorf("%v: CaseID %q", d, e.CaseID)
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d sentences, want %d:\n%q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sentence %d = %q, want %q", i, got[i], want[i])
		}
	}
}
