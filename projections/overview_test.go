package projections

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
)

// TestOverviewContents: the new and lost customers per month, the RFM
// cells' revenue and the currencies are those of every customer's answer
// counted by hand; the lists behind new and lost per month hold exactly
// the customers counted; the keeper's events per day are the log's.
func TestOverviewContents(t *testing.T) {
	_, log, v := loadedViews(t, simulated(t, 300, simDays, 23), &Options{Clock: fixedClock(testNow)})
	ctx := context.Background()
	for _, asOf := range []time.Time{{}, simStart.Add(80 * 24 * time.Hour)} {
		o, err := v.Overview(ctx, asOf)
		if err != nil {
			t.Fatal(err)
		}
		newBy, lostBy, cur := map[string]int{}, map[string]int{}, map[string]int{}
		var rev [5][5]customer.Money
		err = v.Customers(ctx, asOf, true, func(c *customer.Answer) error {
			if !c.State.FirstSeen.IsZero() { // a customer known only from a referral mark
				newBy[c.State.FirstSeen.UTC().Format("2006-01")]++
			}
			if c.Churn == customer.ChurnChurned {
				lostBy[LostAt(c.State, c, c.AsOf).UTC().Format("2006-01")]++
			}
			for k := range c.State.Revenue {
				cur[k]++
			}
			if s := c.RFM; s != nil {
				for k, a := range c.State.Revenue {
					if rev[s.R-1][s.FM-1] == nil {
						rev[s.R-1][s.FM-1] = customer.Money{}
					}
					rev[s.R-1][s.FM-1][k] += a
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(o.NewByMonth, newBy) || !maps.Equal(o.LostByMonth, lostBy) || !maps.Equal(o.Currencies, cur) {
			t.Errorf("as of %v: new %v lost %v currencies %v; by hand %v %v %v", asOf, o.NewByMonth, o.LostByMonth, o.Currencies, newBy, lostBy, cur)
		}
		if len(lostBy) == 0 && asOf.IsZero() {
			t.Error("no churned customer now: the test does not cover lost per month")
		}
		cells := 0
		for r := range 5 {
			for fm := range 5 {
				if !maps.Equal(o.GridRevenue[r][fm], rev[r][fm]) {
					t.Errorf("as of %v: cell R%d FM%d revenue %v, by hand %v", asOf, r+1, fm+1, o.GridRevenue[r][fm], rev[r][fm])
				}
				if len(rev[r][fm]) > 0 {
					cells++
				}
			}
		}
		if cells == 0 {
			t.Error("no cell has revenue")
		}
		for _, m := range []struct {
			field  string
			counts map[string]int
		}{{"new", o.NewByMonth}, {"lost", o.LostByMonth}} {
			for month, want := range m.counts {
				q := ListQuery{Limit: MaxListLimit, AsOf: asOf}
				if m.field == "new" {
					q.NewIn = month
				} else {
					q.LostIn = month
				}
				p, err := v.CustomerList(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Customers) != want {
					t.Errorf("as of %v: %s in %s: %d listed, %d counted", asOf, m.field, month, len(p.Customers), want)
				}
			}
		}
	}
	for _, q := range []ListQuery{{NewIn: "2025-13"}, {LostIn: "2025"}, {NewIn: "2025-1"}} {
		var le *ListError
		if _, err := v.CustomerList(ctx, q); !errors.As(err, &le) {
			t.Errorf("%+v: %v, want a ListError", q, err)
		}
	}

	// The keeper's events per day: the log's records by event day.
	k := v.KeepOverview(nil)
	defer k.Close()
	o, err := k.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byDay := map[string]int{}
	if err := log.ScanRaw(ctx, 1, 0, func(rec *eventstore.RawRecord) error {
		byDay[time.Unix(rec.EventSec, 0).UTC().Format(time.DateOnly)]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(o.EventsByDay, byDay) || len(byDay) < 100 {
		t.Errorf("events by day: %d days kept, the log has %d", len(o.EventsByDay), len(byDay))
	}
	past := simStart.Add(40 * 24 * time.Hour)
	op, err := k.At(ctx, past)
	if err != nil {
		t.Fatal(err)
	}
	for d, n := range op.EventsByDay {
		if d > past.Format(time.DateOnly) || byDay[d] != n {
			t.Errorf("as of %v: %s has %d events (the log %d)", past, d, n, byDay[d])
		}
	}
	if len(op.EventsByDay) == 0 || op.Customers >= o.Customers {
		t.Errorf("as of %v: %d days, %d customers (now %d)", past, len(op.EventsByDay), op.Customers, o.Customers)
	}
}

// TestOverviewKeeperFollowsTheViews: the keeper's overview of now is
// served from memory (requests make no pass: the pass counter does not
// move over many reads), a new event folded by Follow shows in it within
// the documented staleness (MinInterval plus a poll and the pass), and
// the keeper stops when the views close.
func TestOverviewKeeperFollowsTheViews(t *testing.T) {
	_, log, v := loadedViews(t, simulated(t, 200, simDays, 29), &Options{Clock: fixedClock(testNow)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	followed := make(chan error, 1)
	go func() { followed <- v.Follow(ctx) }()
	const minInterval = 300 * time.Millisecond
	k := v.KeepOverview(&OverviewOptions{Poll: 20 * time.Millisecond, MinInterval: minInterval})
	o0, err := k.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * minInterval) // nothing changes: no pass
	p0 := k.Passes()
	for range 1000 {
		o, err := k.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if o != o0 {
			t.Fatal("the overview changed while the views did not")
		}
	}
	if p := k.Passes(); p != p0 || p != 1 {
		t.Fatalf("1000 reads made %d passes (before %d): want one pass in all", p-p0, p0)
	}

	at := testNow.Add(-time.Hour)
	appendRaw(t, log, [][]byte{purchase("keep-1", "cust-keeper-new", at)})
	t0 := time.Now()
	var o *Overview
	for {
		if o, err = k.Current(ctx); err != nil {
			t.Fatal(err)
		}
		if o.Customers == o0.Customers+1 {
			break
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("the new customer is not in the overview after %v (%d customers, checkpoint %d, views %d)", time.Since(t0), o.Customers, o.Checkpoint, v.Checkpoint())
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(t0)
	t.Logf("the new event showed in the overview after %v", took)
	if took > minInterval+2*time.Second {
		t.Errorf("the new event took %v to show; the documented staleness is %v plus a poll and a pass", took, minInterval)
	}
	month, day := MonthOf(at), at.UTC().Format(time.DateOnly)
	if o.NewByMonth[month] != o0.NewByMonth[month]+1 || o.EventsByDay[day] != o0.EventsByDay[day]+1 || o.Checkpoint != log.DurableSeq() {
		t.Errorf("after one new customer's purchase: new in %s %d → %d, events on %s %d → %d, checkpoint %d (log %d)",
			month, o0.NewByMonth[month], o.NewByMonth[month], day, o0.EventsByDay[day], o.EventsByDay[day], o.Checkpoint, log.DurableSeq())
	}
	if k.Passes() != 2 {
		t.Errorf("%d passes, want 2 (the first and the one after the event)", k.Passes())
	}
	cancel()
	<-followed
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the keeper did not stop when the views closed")
	}
}

// TestSatisfactionTrend: the trend has a point after each signal second
// and one at the as-of instant, each the score at that instant; the last
// is the answer's satisfaction; a complaint lowers it, praise raises it.
func TestSatisfactionTrend(t *testing.T) {
	t0 := testNow.Add(-60 * 24 * time.Hour)
	day := 24 * time.Hour
	raws := [][]byte{
		purchase("s-1", "cust-trend", t0),
		ev("s-2", "feedback", "cust-trend", t0.Add(day), `{"nps":10}`),
		ev("s-3", "complaint", "cust-trend", t0.Add(10*day), `{"case_id":"c-1","severity":"high","category":"delivery"}`),
		ev("s-4", "feedback", "cust-trend", t0.Add(20*day), `{"csat":5}`),
	}
	_, _, v := loadedViews(t, raws, &Options{Clock: fixedClock(testNow)})
	a, err := v.Customer(context.Background(), "cust-trend", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tr := v.SatisfactionTrend(a.State, a.AsOf, 0)
	if len(tr) != len(a.State.Signals)+1 || len(a.State.Signals) < 4 {
		t.Fatalf("%d points for %d signals: %+v", len(tr), len(a.State.Signals), tr)
	}
	if last := tr[len(tr)-1]; !last.At.Equal(a.AsOf) || last.Score != a.Satisfaction {
		t.Errorf("last point %+v, the answer %v at %v", last, a.Satisfaction, a.AsOf)
	}
	// After praise (1), after the complaint (2), after the CSAT 5 (3).
	if !(tr[1].Score > tr[0].Score && tr[2].Score < tr[1].Score && tr[3].Score > tr[2].Score) {
		t.Errorf("the trend does not follow the signals: %+v", tr)
	}
	before := v.SatisfactionTrend(a.State, t0.Add(5*day), 0)
	if len(before) != 3 || before[1].Score != tr[1].Score || before[2].Score != v.opts.Config.SatisfactionScore(a.State, t0.Add(5*day)) {
		t.Errorf("as of day 5: %+v", before)
	}
	// At most 2 of the signal instants: the first and the last, and now.
	if few := v.SatisfactionTrend(a.State, a.AsOf, 2); len(few) != 3 || few[0] != tr[0] || few[1] != tr[len(tr)-2] || few[2] != tr[len(tr)-1] {
		t.Errorf("at most 2 points: %+v (all: %+v)", few, tr)
	}
}

// TestOverviewKeeperIdle: the keeper counts nothing before the first
// request, stops counting when nobody asked for Idle (the views may change
// under it: no pass), and a request after the idle spell is answered at
// once with the last count and wakes it: the change shows soon after.
func TestOverviewKeeperIdle(t *testing.T) {
	_, log, v := loadedViews(t, simulated(t, 100, simDays, 31), &Options{Clock: fixedClock(testNow)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	followed := make(chan error, 1)
	go func() { followed <- v.Follow(ctx) }()
	defer func() { cancel(); <-followed }()
	const idle = 300 * time.Millisecond
	k := v.KeepOverview(&OverviewOptions{Poll: 20 * time.Millisecond, MinInterval: 50 * time.Millisecond, Idle: idle})
	defer k.Close()
	time.Sleep(200 * time.Millisecond)
	if p := k.Passes(); p != 0 {
		t.Fatalf("%d passes before any request, want 0", p)
	}
	o0, err := k.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * idle) // nobody asks: idle
	p0 := k.Passes()
	appendRaw(t, log, [][]byte{purchase("idle-1", "cust-idle-new", testNow.Add(-time.Hour))})
	natsWait := time.Now().Add(10 * time.Second)
	for v.Checkpoint() != log.DurableSeq() && time.Now().Before(natsWait) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // many polls, the views changed
	if p := k.Passes(); p != p0 {
		t.Fatalf("%d passes while nobody asked, want none", p-p0)
	}
	o, err := k.Current(ctx) // answered with the last count, and wakes the keeper
	if err != nil {
		t.Fatal(err)
	}
	if o.Customers != o0.Customers || o.Checkpoint >= log.DurableSeq() {
		// (Not o0 itself: a count may have been made in the watched window
		// after the first, while Follow was still moving the views.)
		t.Fatalf("the request after the idle spell was not answered from the kept count: %d customers at %d (kept %d; log %d)",
			o.Customers, o.Checkpoint, o0.Customers, log.DurableSeq())
	}
	for t0 := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if o, err = k.Current(ctx); err != nil {
			t.Fatal(err)
		}
		if o.Customers == o0.Customers+1 {
			break
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("the new customer is not counted %v after the wake-up", time.Since(t0))
		}
	}
}
