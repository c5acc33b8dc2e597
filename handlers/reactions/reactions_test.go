package reactions

import (
	"context"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/internal/natstest"
	"github.com/journey-cdp/journey/projections/customer"
)

const day = 24 * time.Hour

// journeyConfig: the journey tests are about the thank-yous (E, with one
// purchase 11 days ago against a population median gap of 5 days, is
// at_risk: the sweeper's tests cover that).
var journeyConfig = Config{Winback: Policy{Off: true}}

// journeyEvents: A buys three times (the 2nd and the 3rd thank, a CSAT 5
// between them does not: within 7 days of the 2nd's); B's complaint is
// resolved (thanked); C refers D (thanked) and gives NPS 9 an hour later
// (not: within 7 days); E buys once and is unhappy (nothing).
func journeyEvents(t *testing.T) []*journey.Event {
	return []*journey.Event{
		purchase(t, "a1", "A", t0),
		purchase(t, "a2", "A", t0.Add(day)),
		ev(t, "a3", journey.KindFeedback, "A", t0.Add(2*day), map[string]any{"csat": 5}),
		purchase(t, "a4", "A", t0.Add(10*day)),
		ev(t, "b1", journey.KindComplaint, "B", t0, map[string]any{"case_id": "k1", "severity": "high"}),
		ev(t, "b2", journey.KindComplaintResolved, "B", t0.Add(2*time.Hour), map[string]any{"case_id": "k1", "outcome": "resolved"}),
		ev(t, "c1", journey.KindReferral, "C", t0, map[string]any{"referred": "D"}),
		ev(t, "c2", journey.KindFeedback, "C", t0.Add(time.Hour), map[string]any{"nps": 9}),
		purchase(t, "e1", "E", t0),
		ev(t, "e2", journey.KindFeedback, "E", t0.Add(time.Hour), map[string]any{"csat": 2}),
	}
}

// A journey published: exactly the expected thank-yous arrive on
// journey.actions.thank_you, each once, with its cause, reason, channel and
// message; a thank_you touchpoint naming one marks it done; a restart, a
// rebuild of the views and a redelivery of every event ask for none again.
func TestJourneyActionsExactlyOnce(t *testing.T) {
	g := newRig(t)
	g.clock.Set(t0.Add(11 * day))
	stop := g.start(g.open(journeyConfig, true))
	evs := journeyEvents(t)
	g.append(evs...)
	got := g.waitReceived(4)

	want := map[string]string{ // cause → reason
		"a2": "repeat_purchase", "a4": "repeat_purchase", "b2": "complaint_resolved", "c1": "referral",
	}
	for cause, reason := range want {
		id := ActionID(cause, KindThankYou)
		if got[id] != 1 {
			t.Errorf("no thank-you for %s (%s)", cause, reason)
			continue
		}
		m := g.msgs[id]
		if m.Reason != reason || m.Cause != cause || m.Kind != KindThankYou || m.Channel != "email" || m.Message == "" || m.ActionID != id {
			t.Errorf("thank-you for %s: %+v", cause, m)
		}
		if g.subj[id] != "journey.actions.thank_you" {
			t.Errorf("subject %q", g.subj[id])
		}
	}
	// The messaging system confirms the first: it shows done.
	first := ActionID("a2", KindThankYou)
	g.append(ev(t, "ty1", journey.KindThankYou, "A", t0.Add(11*day), map[string]any{"message_id": first, "reason": "repeat_purchase", "channel": "email"}))
	natstest.WaitFor(t, 5*time.Second, func() error {
		a, err := g.views.Customer(context.Background(), "A", time.Time{})
		if err != nil {
			return err
		}
		for _, x := range a.Actions {
			if x.ID == first && x.Status == customer.ActionDone {
				return nil
			}
		}
		return errorf("A's actions: %+v", a.Actions)
	})
	stop()

	// Restart, rebuild, redelivery (and a re-import is the same appends).
	r := g.open(journeyConfig, true)
	stop = g.start(r)
	if _, err := g.views.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := g.append(evs...); n != 0 {
		t.Fatalf("redelivery appended %d events", n)
	}
	g.append(purchase(t, "e3", "E", t0.Add(11*day))) // a new one: E's 2nd purchase
	g.waitReceived(5)
	stop()
	if a, err := g.views.Customer(context.Background(), "A", time.Time{}); err != nil || len(a.Actions) != 2 || a.State.Events != 5 {
		t.Fatalf("A after all: %v %+v (events %d)", err, a.Actions, a.State.Events)
	}
}

type testErr string

func (e testErr) Error() string { return string(e) }

func errorf(format string, args ...any) error { return testErr(sprintf(format, args...)) }
