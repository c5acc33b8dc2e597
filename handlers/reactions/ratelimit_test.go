package reactions

import (
	"context"
	"fmt"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

// virtualPace drives r's pacing with a virtual wall clock: a wait moves
// the clock on at once. It returns the clock's reading.
func virtualPace(r *Reactor) (now func() time.Time) {
	v := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r.paceNow = func() time.Time { return v }
	r.paceSleep = func(ctx context.Context, d time.Duration) bool {
		if d > 0 {
			v = v.Add(d)
		}
		return ctx.Err() == nil
	}
	return func() time.Time { return v }
}

// A reaction's per_second limits its dispatch: 30 thank-yous at 10 per
// second take 2.9 s of (virtual) wall time, no 1-second window holds more
// than 10, and the first window holds exactly 10; they go in log order,
// none is dropped; the escalations (no per_second) take no pacing; after
// an idle spell the next one goes at once, and the ones after it are
// paced again.
func TestPerSecondLimitsDispatch(t *testing.T) {
	g := newRig(t)
	g.clock.Set(t0.Add(2 * time.Hour))
	cfg := Config{ThankYou: Policy{PerSecond: 10}, Winback: Policy{Off: true}}
	r := g.open(cfg, true)
	defer r.Close()
	now := virtualPace(r)
	type sent struct {
		at   time.Time
		kind string
		id   string
	}
	var log []sent
	afterPublish = func(id string) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		log = append(log, sent{now(), "", id})
		return nil
	}
	defer func() { afterPublish = nil }()

	const n = 30
	var evs []*journey.Event
	var want []string // the thank-yous, in log order
	for i := range n {
		c := fmt.Sprintf("c%02d", i)
		evs = append(evs, purchase(t, c+"-1", c, t0), purchase(t, c+"-2", c, t0.Add(time.Hour)))
		want = append(want, ActionID(c+"-2", KindThankYou))
	}
	for i := range 3 {
		evs = append(evs, ev(t, sprintf("k%d", i), journey.KindComplaint, sprintf("x%d", i), t0, map[string]any{"case_id": sprintf("k%d", i), "severity": "high"}))
	}
	g.append(evs...)
	g.settle(r)
	g.clock.Set(t0.Add(26 * time.Hour))
	sweep(t, r) // three escalations, after the thank-yous in the log
	g.settle(r)
	g.dispatchAll(r)
	g.waitReceived(n + 3)

	for i := range log {
		log[i].kind = g.msgs[log[i].id].Kind
	}
	var thanks []sent
	for i, s := range log {
		if s.kind == KindThankYou {
			thanks = append(thanks, s)
			continue
		}
		if s.kind != KindEscalation {
			t.Fatalf("unexpected %+v", s)
		}
		if i > 0 && s.at.After(log[i-1].at) {
			t.Errorf("the escalation %s waited %v: only thank_you is paced", s.id, s.at.Sub(log[i-1].at))
		}
	}
	if len(thanks) != n {
		t.Fatalf("%d thank-yous dispatched, want %d", len(thanks), n)
	}
	for i, s := range thanks {
		if s.id != want[i] {
			t.Fatalf("thank-you %d is %s, want %s (log order)", i, s.id, want[i])
		}
		k := 0
		for _, u := range thanks[i:] {
			if u.at.Before(s.at.Add(time.Second)) {
				k++
			}
		}
		if k > 10 {
			t.Fatalf("%d thank-yous within a second from the %dth (%v): per_second is 10", k, i, s.at)
		}
		if i == 0 && k != 10 {
			t.Fatalf("the first second dispatched %d thank-yous, want 10", k)
		}
	}
	if span := thanks[n-1].at.Sub(thanks[0].at); span != 2900*time.Millisecond {
		t.Fatalf("30 thank-yous at 10/s took %v, want 2.9s", span)
	}

	// An idle minute, then three more: the first at once, then 100 ms apart.
	idle := now().Add(time.Minute)
	r.paceSleep(context.Background(), idle.Sub(now()))
	for i := range 3 {
		c := fmt.Sprintf("c%02d", i)
		g.append(purchase(t, c+"-3", c, t0.Add(9*day)))
	}
	g.clock.Set(t0.Add(9*day + time.Hour))
	log = nil
	g.settle(r)
	g.dispatchAll(r)
	g.waitReceived(n + 6)
	if len(log) != 3 || !log[0].at.Equal(idle) || log[1].at.Sub(log[0].at) != 100*time.Millisecond || log[2].at.Sub(log[1].at) != 100*time.Millisecond {
		t.Fatalf("after an idle minute (%v): %+v", idle, log)
	}
}

// A paced kind does not hold back the others: with thank-yous at 2 per
// second (6 take 2.5 s), the escalations decided after them in the log
// arrive while thank-yous are still waiting (before the lanes, the one
// dispatcher published in log order, and every escalation waited for the
// thank-yous ahead of it). A restart keeps the lanes' positions: nothing
// is published twice.
func TestPacedKindDoesNotHoldBackOthers(t *testing.T) {
	g := newRig(t)
	g.clock.Set(t0.Add(2 * time.Hour))
	cfg := Config{ThankYou: Policy{PerSecond: 2}, Winback: Policy{Off: true}}
	r := g.open(cfg, true)
	var evs []*journey.Event
	for i := range 6 {
		c := fmt.Sprintf("c%02d", i)
		evs = append(evs, purchase(t, c+"-1", c, t0), purchase(t, c+"-2", c, t0.Add(time.Hour)))
	}
	for i := range 3 {
		evs = append(evs, ev(t, sprintf("k%d", i), journey.KindComplaint, sprintf("x%d", i), t0, map[string]any{"case_id": sprintf("k%d", i), "severity": "high"}))
	}
	g.append(evs...)
	g.settle(r)
	g.clock.Set(t0.Add(26 * time.Hour))
	sweep(t, r)
	g.settle(r) // the log: 6 thank-yous, then 3 escalations; nothing dispatched yet
	stop := g.start(r)
	g.nc.Flush()
	deadline := time.Now().Add(10 * time.Second)
	for g.byKind()[KindEscalation] < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	k := g.byKind()
	if k[KindEscalation] != 3 || k[KindThankYou] >= 6 {
		t.Fatalf("when the escalations were in: %v (they waited for the paced thank-yous)", k)
	}
	g.waitReceived(9)
	stop()
	r = g.open(cfg, true)
	stop = g.start(r)
	time.Sleep(200 * time.Millisecond)
	stop()
	g.waitReceived(9)
}
