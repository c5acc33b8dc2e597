package customer

import (
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

func mustEvent(t *testing.T, id string, kind journey.Kind, at time.Time, data map[string]any) *journey.Event {
	t.Helper()
	src := "pos/store-1"
	if kind.Engine() {
		src = journey.EngineSource
	}
	raw, err := journey.NewEvent(id, src, kind, "c-1", at, data)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := journey.DecodeStored(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// The action records fold into the state without moving its touchpoint
// facts, a confirmation marks them done, the answer lists them with their
// status, and the encoding round-trips them (and encodes a state without
// actions as before).
func TestStateActions(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := NewState("c-1")
	s.Apply(mustEvent(t, "p1", journey.KindPurchase, t0, map[string]any{"order_id": "o1", "amount": "10.00", "currency": "EUR"}), 1)
	before, _ := s.MarshalBinary()
	s.Apply(mustEvent(t, "a1", journey.KindActionRequested, t0, map[string]any{"kind": "thank_you", "reason": "repeat_purchase"}), 2)
	s.Apply(mustEvent(t, "a2", journey.KindActionRequested, t0.Add(time.Hour), map[string]any{"kind": "escalation", "reason": "sla_high", "case_id": "k1"}), 3)
	s.Apply(mustEvent(t, "a3", journey.KindActionRequested, t0.Add(2*time.Hour), map[string]any{"kind": "winback", "reason": "simply_lapsed"}), 4)
	if s.Events != 1 || !s.LastSeen.Equal(t0) || len(s.Actions) != 3 {
		t.Fatalf("after the records: events %d last seen %v actions %d", s.Events, s.LastSeen, len(s.Actions))
	}
	s.Apply(mustEvent(t, "t1", journey.KindThankYou, t0.Add(3*time.Hour), map[string]any{"message_id": "a1", "reason": "repeat_purchase", "channel": "email"}), 5)
	s.Apply(mustEvent(t, "r1", journey.KindComplaintResolved, t0.Add(4*time.Hour), map[string]any{"case_id": "other", "outcome": "resolved"}), 6)
	ans := (&Config{}).Derive(s, t0.Add(5*time.Hour), nil)
	want := map[string]string{"a1": ActionDone, "a2": ActionPending, "a3": ActionPending}
	if len(ans.Actions) != 3 {
		t.Fatalf("answer actions %+v", ans.Actions)
	}
	for _, a := range ans.Actions {
		if a.Status != want[a.ID] {
			t.Errorf("action %s: status %s, want %s", a.ID, a.Status, want[a.ID])
		}
	}
	s.Apply(mustEvent(t, "p2", journey.KindPurchase, t0.Add(6*time.Hour), map[string]any{"order_id": "o2", "amount": "10.00", "currency": "EUR"}), 7)
	if s.Actions[2].Done.IsZero() {
		t.Error("a purchase did not confirm the pending win-back")
	}
	b, _ := s.MarshalBinary()
	var back State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if len(back.Actions) != 3 || back.Actions[1] != s.Actions[1] || !back.Actions[0].Done.Equal(s.Actions[0].Done) {
		t.Fatalf("round trip: %+v, want %+v", back.Actions, s.Actions)
	}
	var old State
	if err := old.UnmarshalBinary(before); err != nil || old.Actions != nil {
		t.Fatalf("a state without actions: %v %v", err, old.Actions)
	}
	for i := range MaxActions + 4 {
		s.Apply(mustEvent(t, "x"+string(rune('a'+i)), journey.KindActionRequested, t0.Add(7*time.Hour), map[string]any{"kind": "thank_you"}), uint64(8+i))
	}
	if len(s.Actions) != MaxActions {
		t.Fatalf("%d actions kept, want %d", len(s.Actions), MaxActions)
	}
}
