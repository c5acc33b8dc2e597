package reactions

import (
	"context"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

// sweepConfig: the repeat purchases' thank-yous are the journey tests'.
var sweepConfig = Config{ThankYou: Policy{Off: true}}

func sweep(t *testing.T, r *Reactor) int {
	t.Helper()
	n, err := r.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Time passes without events: 400 days forward, the sweeper asks exactly
// one win-back per silent customer, each with its report and its likely
// reason, and none for the customer who kept buying; further sweeps (and
// a restart) ask none again.
func TestSweeperWinbackOncePerSilentCustomer(t *testing.T) {
	g := newRig(t)
	g.clock.Set(t0.Add(41 * day))
	r := g.open(sweepConfig, true)
	var evs []*journey.Event
	for _, c := range []string{"lapsed", "complainer", "returner", "bargain", "active"} {
		for i := range 3 {
			e := purchase(t, c+"-p"+string(rune('0'+i)), c, t0.Add(time.Duration(i)*20*day))
			if c == "bargain" {
				e = ev(t, c+"-p"+string(rune('0'+i)), journey.KindPurchase, c, t0.Add(time.Duration(i)*20*day),
					map[string]any{"order_id": "o" + string(rune('0'+i)), "amount": "20.00", "discount": "5.00", "currency": "EUR"})
			}
			evs = append(evs, e)
		}
	}
	evs = append(evs,
		ev(t, "complainer-k", journey.KindComplaint, "complainer", t0.Add(40*day+time.Hour), map[string]any{"case_id": "k9", "severity": "low"}),
		ev(t, "returner-r", journey.KindReturn, "returner", t0.Add(40*day+time.Hour), map[string]any{"order_id": "o2", "amount": "20.00", "currency": "EUR", "kind": "refund"}),
	)
	g.append(evs...)
	g.settle(r)
	sweep(t, r)
	g.settle(r)
	g.dispatchAll(r)
	if k := g.byKind(); k[KindWinback] != 0 {
		t.Fatalf("win-backs before time passed: %v", k)
	}

	// 400 days later; "active" kept buying every 20 days.
	g.clock.Advance(400 * day)
	var more []*journey.Event
	for i := 3; i*20 <= 440; i++ {
		more = append(more, purchase(t, "active-p"+string(rune('a'+i)), "active", t0.Add(time.Duration(i)*20*day)))
	}
	g.append(more...)
	g.settle(r)
	for range 3 {
		sweep(t, r)
		g.settle(r)
		g.clock.Advance(time.Hour)
	}
	g.dispatchAll(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = g.open(sweepConfig, true)
	defer r.Close()
	g.clock.Advance(day)
	sweep(t, r)
	g.settle(r)
	g.dispatchAll(r)

	g.waitReceived(4 + 1) // four win-backs, one escalation of the low complaint (7 days)
	wantReason := map[string]string{"lapsed": ReasonLapsed, "complainer": ReasonUnresolvedComplaint, "returner": ReasonFellAfterReturn, "bargain": ReasonPromotional}
	seen := map[string]bool{}
	for _, m := range g.msgs {
		if m.Kind != KindWinback {
			continue
		}
		if seen[m.Customer] {
			t.Errorf("a second win-back for %s", m.Customer)
		}
		seen[m.Customer] = true
		rep := m.Report
		if rep == nil {
			t.Fatalf("win-back of %s without a report", m.Customer)
		}
		if m.Reason != wantReason[m.Customer] || rep.LikelyReason != m.Reason {
			t.Errorf("%s: likely reason %q, want %q", m.Customer, m.Reason, wantReason[m.Customer])
		}
		if rep.Churn != "churned" || rep.Stage != "churned" || rep.HighestStage == "" || rep.Purchases != 3 ||
			rep.DaysSinceLastPurchase < 400 || rep.ExpectedGapDays != 20 || len(rep.LastTouchpoints) == 0 || rep.LifetimeRevenue["EUR"] != 60 {
			t.Errorf("%s: report %+v", m.Customer, rep)
		}
	}
	if len(seen) != 4 || seen["active"] {
		t.Fatalf("win-backs for %v, want the four silent customers", seen)
	}
}

// Each complaint still open after its SLA (high 24 h, medium 72 h, low 7
// days) is escalated once, at the sweep after its deadline; one resolved
// in time never is; the escalation is done when its case is resolved.
func TestEscalationBySLAOnce(t *testing.T) {
	g := newRig(t)
	r := g.open(Config{Winback: Policy{Off: true}}, true)
	defer r.Close()
	g.append(
		ev(t, "h", journey.KindComplaint, "X", t0, map[string]any{"case_id": "kh", "severity": "high"}),
		ev(t, "m", journey.KindComplaint, "Y", t0, map[string]any{"case_id": "km", "severity": "medium"}),
		ev(t, "l", journey.KindComplaint, "Z", t0, map[string]any{"case_id": "kl", "severity": "low"}),
		ev(t, "q", journey.KindComplaint, "Q", t0, map[string]any{"case_id": "kq", "severity": "high"}),
		ev(t, "qr", journey.KindComplaintResolved, "Q", t0.Add(time.Hour), map[string]any{"case_id": "kq", "outcome": "rejected"}),
	)
	g.settle(r)
	escalated := func() map[string]int {
		g.dispatchAll(r)
		g.nc.Flush()
		time.Sleep(30 * time.Millisecond)
		out := map[string]int{}
		g.mu.Lock()
		defer g.mu.Unlock()
		for id, m := range g.msgs {
			if m.Kind == KindEscalation {
				out[m.CaseID] += g.got[id]
			}
		}
		return out
	}
	for _, step := range []struct {
		at   time.Duration
		want map[string]int
	}{
		{23 * time.Hour, map[string]int{}},
		{25 * time.Hour, map[string]int{"kh": 1}},
		{71 * time.Hour, map[string]int{"kh": 1}},
		{73 * time.Hour, map[string]int{"kh": 1, "km": 1}},
		{8 * day, map[string]int{"kh": 1, "km": 1, "kl": 1}},
		{30 * day, map[string]int{"kh": 1, "km": 1, "kl": 1}},
	} {
		g.clock.Set(t0.Add(step.at))
		sweep(t, r)
		g.settle(r)
		got := escalated()
		if len(got) != len(step.want) {
			t.Fatalf("at +%v: escalated %v, want %v", step.at, got, step.want)
		}
		for k, n := range step.want {
			if got[k] != n {
				t.Fatalf("at +%v: escalated %v, want %v", step.at, got, step.want)
			}
		}
	}
	g.append(ev(t, "hr", journey.KindComplaintResolved, "X", t0.Add(31*day), map[string]any{"case_id": "kh", "outcome": "resolved"}))
	g.settle(r)
	a, err := g.views.Customer(context.Background(), "X", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Actions) != 2 || a.Actions[0].Kind != KindEscalation || a.Actions[0].Status != "done" {
		t.Fatalf("X's actions after the resolution: %+v", a.Actions)
	}
}

// The sweeper judges no customer from a state older than the log: a
// lapsed customer's purchase that the views have not folded yet keeps the
// win-back back (it failed before the check: a win-back for a customer
// who had just bought).
func TestSweeperWaitsForTheViews(t *testing.T) {
	g := newRig(t)
	r := g.open(sweepConfig, true)
	defer r.Close()
	g.append(purchase(t, "w1", "W", t0), purchase(t, "w2", "W", t0.Add(10*day)))
	g.settle(r)
	g.clock.Set(t0.Add(200 * day))
	g.append(purchase(t, "w3", "W", t0.Add(199*day))) // in the log, not in the views
	if n := sweep(t, r); n != 1 {
		t.Fatalf("swept %d customers, want W", n)
	}
	g.settle(r)
	sweep(t, r)
	g.settle(r)
	g.dispatchAll(r)
	g.nc.Flush()
	time.Sleep(50 * time.Millisecond)
	if k := g.byKind(); k[KindWinback] != 0 {
		t.Fatalf("a win-back for a customer who just bought: %v", k)
	}
	a, err := g.views.Customer(context.Background(), "W", time.Time{})
	if err != nil || a.Churn != "active" {
		t.Fatalf("W: %v %v", err, a.Churn)
	}
}
