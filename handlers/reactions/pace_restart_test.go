package reactions

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
)

// A paced lane writes its position as it goes: with thank-yous at one a
// minute, a pass of 5 takes 4 minutes; killed after its third publish
// (before the pass's end), the restart publishes the third again (its
// acknowledgement raced the kill) and the last two, not the whole pass —
// a pass of thousands at such a pace spans more than JetStream's 24 h
// dedupe window, and publishing its first ones again would store them
// twice.
func TestPacedLaneKeepsPositionWithinPass(t *testing.T) {
	g := newRig(t)
	g.clock.Set(t0.Add(2 * time.Hour))
	cfg := Config{ThankYou: Policy{PerSecond: 1.0 / 60}, Winback: Policy{Off: true}}
	r := g.open(cfg, true)
	virtualPace(r)
	var evs []*journey.Event
	for i := range 5 {
		c := fmt.Sprintf("c%d", i)
		evs = append(evs, purchase(t, c+"-1", c, t0), purchase(t, c+"-2", c, t0.Add(time.Hour)))
	}
	g.append(evs...)
	g.settle(r)
	ctx := context.Background()
	if err := ProvisionStream(ctx, g.js, ""); err != nil {
		t.Fatal(err)
	}
	l := r.lanes[1]
	if l.kind != KindThankYou {
		t.Fatalf("lanes %+v", r.lanes)
	}
	n := 0
	afterPublish = func(string) error {
		if n++; n == 3 {
			return errors.New("killed")
		}
		return nil
	}
	defer func() { afterPublish = nil }()
	pos, _, _ := getSeq(r.db, l.key)
	if err := r.dispatchLane(ctx, l, pos+1, g.store.DurableSeq()); err == nil {
		t.Fatal("the killed pass ended")
	}
	r.Close()

	r = g.open(cfg, true)
	defer r.Close()
	virtualPace(r)
	var again []string
	afterPublish = func(id string) error { again = append(again, id); return nil }
	g.dispatchAll(r)
	want := []string{ActionID("c2-2", KindThankYou), ActionID("c3-2", KindThankYou), ActionID("c4-2", KindThankYou)}
	if fmt.Sprint(again) != fmt.Sprint(want) {
		t.Fatalf("after the restart the lane published %v, want %v (the third again, then the rest)", again, want)
	}
	natstest_wait(t, g, 5)
}

// The pace measures from when a publish goes, not from its slot: a wait
// that overran by 30 ms (a busy machine) does not let the next publish
// come 70 ms later at 10 a second.
func TestPaceOverrunDoesNotCatchUp(t *testing.T) {
	g := newRig(t)
	r := g.open(Config{ThankYou: Policy{PerSecond: 10}}, false)
	defer r.Close()
	v := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := 0
	r.paceNow = func() time.Time { return v }
	r.paceSleep = func(ctx context.Context, d time.Duration) bool {
		if calls++; calls == 2 {
			d += 30 * time.Millisecond // this wait overran
		}
		if d > 0 {
			v = v.Add(d)
		}
		return true
	}
	l := &lane{kind: KindThankYou}
	var at []time.Time
	for range 4 {
		r.pace(context.Background(), l, 10)
		at = append(at, v)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 100*time.Millisecond {
			t.Fatalf("publish %d came %v after the one before, want at least 100ms at 10/s (times %v)", i, gap, at)
		}
	}
}
