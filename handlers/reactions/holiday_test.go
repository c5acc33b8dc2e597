package reactions

import (
	"context"
	"strings"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

var christmas = time.Date(2025, 12, 25, 0, 0, 0, 0, time.UTC)

// holidayThanks returns the holiday thank-yous received, by customer
// (times received).
func (g *rig) holidayThanks() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int{}
	for id, m := range g.msgs {
		if m.Kind == KindThankYou && m.Reason == "holiday" {
			out[m.Customer] += g.got[id]
		}
	}
	return out
}

// A holiday of the calendar asks exactly one thank-you of each eligible
// customer (bought, still active, not thanked within 7 days), on that UTC
// day only: none the day before or after, none again at a later sweep of
// the day, after a restart, after a rebuild of the views, or after a
// redelivery of every event.
func TestHolidayThanksEachEligibleCustomerOnce(t *testing.T) {
	g := newRig(t)
	g.clock.Set(christmas.Add(-time.Hour))
	cfg := Config{Winback: Policy{Off: true}, Escalation: Policy{Off: true},
		Holidays: []Holiday{{Date: "2025-12-26", Name: "Boxing Day", When: `customer.purchases > 5`}, {Date: "2025-12-25", Name: "Christmas"}}}
	r := g.open(cfg, true)
	at := func(m, d int) time.Time { return time.Date(2025, time.Month(m), d, 10, 0, 0, 0, time.UTC) }
	evs := []*journey.Event{
		// A: a regular buyer, last thanked on Dec 12 (13 days before): thanked.
		purchase(t, "a1", "A", at(11, 20)), purchase(t, "a2", "A", at(12, 1)), purchase(t, "a3", "A", at(12, 12)),
		// B: one recent purchase (no thank-you of its own): thanked.
		purchase(t, "b1", "B", at(12, 15)),
		// R: thanked for a repeat purchase on Dec 22, within 7 days: not.
		purchase(t, "r1", "R", at(12, 10)), purchase(t, "r2", "R", at(12, 22)),
		// L: lapsed since February: a win-back's job, not a greeting.
		purchase(t, "l1", "L", at(1, 10)), purchase(t, "l2", "L", at(2, 1)),
		// N: never bought.
		ev(t, "n1", journey.KindFeedback, "N", at(12, 20), map[string]any{"csat": 3}),
	}
	g.append(evs...)
	g.settle(r)
	sweep(t, r) // Dec 24, 23:00
	g.settle(r)
	g.dispatchAll(r)
	g.nc.Flush()
	time.Sleep(30 * time.Millisecond)
	if h := g.holidayThanks(); len(h) != 0 {
		t.Fatalf("holiday thank-yous the day before: %v", h)
	}
	regular := len(g.received()) // a2, a3, r2

	g.clock.Set(christmas.Add(10 * time.Hour))
	sweep(t, r)
	g.settle(r)
	g.dispatchAll(r)
	// A purchase of A on the holiday, after its holiday thank-you: within 7 days, not thanked again.
	g.append(purchase(t, "a4", "A", christmas.Add(11*time.Hour)))
	g.settle(r)
	g.clock.Set(christmas.Add(12 * time.Hour))
	sweep(t, r)
	g.settle(r)
	g.dispatchAll(r)

	// A restart later that day, then a rebuild of the views and a redelivery.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = g.open(cfg, true)
	defer r.Close()
	g.clock.Set(christmas.Add(14 * time.Hour))
	sweep(t, r)
	g.settle(r)
	if _, err := g.views.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := g.append(evs...); n != 0 {
		t.Fatalf("the redelivery appended %d events", n)
	}
	g.settle(r)
	g.clock.Set(christmas.Add(23 * time.Hour))
	sweep(t, r)
	g.settle(r)
	g.dispatchAll(r)
	// Boxing Day: its own condition (more than 5 purchases) holds for no one.
	g.clock.Set(christmas.Add(34 * time.Hour))
	sweep(t, r)
	g.settle(r)
	g.dispatchAll(r)

	got := g.waitReceived(regular + 2)
	h := g.holidayThanks()
	if len(h) != 2 || h["A"] != 1 || h["B"] != 1 {
		t.Fatalf("holiday thank-yous %v, want A and B once each", h)
	}
	for _, c := range []string{"A", "B"} {
		id := ActionID("holiday:"+c+":2025-12-25", KindThankYou)
		m, ok := g.msgs[id]
		if !ok || got[id] != 1 {
			t.Fatalf("no holiday thank-you %s for %s", id, c)
		}
		if m.Cause != "holiday:"+c+":2025-12-25" || !strings.Contains(m.Message, "Christmas") || m.Channel != "email" {
			t.Errorf("%s: %+v", c, m)
		}
		if m.AskedAt.Before(christmas) || !m.AskedAt.Before(christmas.Add(24*time.Hour)) {
			t.Errorf("%s: asked at %v, not on the holiday", c, m.AskedAt)
		}
	}
	// A's purchase on the holiday asked nothing (thanked that morning).
	if _, ok := g.msgs[ActionID("a4", KindThankYou)]; ok {
		t.Error("A was thanked twice within 7 days (holiday, then a purchase the same day)")
	}
}
