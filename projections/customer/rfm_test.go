package customer

import (
	"testing"
)

func TestRFMQuintiles(t *testing.T) {
	var in []RFMInput
	for i := 1; i <= 10; i++ {
		in = append(in, RFMInput{RecencyDays: float64(i), Frequency: i, Monetary: int64(100 * i)})
	}
	r := NewRFMScorer(in)
	// 10 customers, 2 per quintile. Recency 1 day is the best (9 worse →
	// 1 + ⌊45/10⌋ = 5), 10 days the worst; F and M the other way round.
	for _, tc := range []struct {
		in   RFMInput
		want RFMScore
	}{
		{in[0], RFMScore{R: 5, F: 1, M: 1, FM: 1, Segment: RFMNew}},
		{in[9], RFMScore{R: 1, F: 5, M: 5, FM: 5, Segment: RFMCannotLose}},
		{in[4], RFMScore{R: 3, F: 3, M: 3, FM: 3, Segment: RFMNeedAttention}},
		{RFMInput{RecencyDays: 0.5, Frequency: 9, Monetary: 700}, RFMScore{R: 5, F: 5, M: 4, FM: 5, Segment: RFMChampions}},
		{RFMInput{RecencyDays: 30, Frequency: 1, Monetary: 50}, RFMScore{R: 1, F: 1, M: 1, FM: 1, Segment: RFMLost}},
	} {
		if got := r.Score(tc.in); got != tc.want {
			t.Errorf("Score(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	// Ties share the score of their lowest rank: 6 customers bought once,
	// 2 twice, 2 five times.
	var tied []RFMInput
	for _, f := range []int{1, 1, 1, 1, 1, 1, 2, 2, 5, 5} {
		tied = append(tied, RFMInput{Frequency: f})
	}
	rt := NewRFMScorer(tied)
	for f, want := range map[int]int{1: 1, 2: 4, 5: 5} {
		if got := rt.Score(RFMInput{Frequency: f}).F; got != want {
			t.Errorf("tied F for frequency %d = %d, want %d", f, got, want)
		}
	}
}

func TestRFMSegmentGrid(t *testing.T) {
	grid := [5][5]string{ // [R-1][FM-1]
		{RFMLost, RFMHibernating, RFMAtRisk, RFMAtRisk, RFMCannotLose},
		{RFMHibernating, RFMHibernating, RFMAtRisk, RFMAtRisk, RFMCannotLose},
		{RFMAboutToSleep, RFMAboutToSleep, RFMNeedAttention, RFMLoyal, RFMLoyal},
		{RFMPromising, RFMPotentialLoyalist, RFMPotentialLoyalist, RFMLoyal, RFMLoyal},
		{RFMNew, RFMPotentialLoyalist, RFMPotentialLoyalist, RFMChampions, RFMChampions},
	}
	seen := map[string]bool{}
	for r := 1; r <= 5; r++ {
		for fm := 1; fm <= 5; fm++ {
			got := RFMSegment(r, fm)
			if want := grid[r-1][fm-1]; got != want {
				t.Errorf("RFMSegment(%d, %d) = %s, want %s", r, fm, got, want)
			}
			seen[got] = true
		}
	}
	for _, s := range RFMSegments() {
		if !seen[s] {
			t.Errorf("segment %s unreachable", s)
		}
	}
}

func TestRFMInputOfAndDerive(t *testing.T) {
	var evs []foldEvent
	for i, l := range []string{
		"2024-06-01 purchase order_id=a amount=10.00 currency=GBP",
		"2024-06-10 purchase order_id=b amount=5.00 currency=EUR",
		"2024-06-11 purchase order_id=c amount=20.00 currency=GBP",
		"2024-06-12 return order_id=c amount=4.00 currency=GBP kind=refund",
	} {
		evs = append(evs, parseEventLine(t, "r", uint64(i+1), l))
	}
	s := fold("r", evs)
	asOf := mustTime(t, "2024-06-21")
	in, ok := RFMInputOf(s, asOf)
	if !ok || in != (RFMInput{RecencyDays: 10, Frequency: 3, Monetary: 2600}) {
		t.Fatalf("RFMInputOf = %+v, %v; want 10 days, 3, 2600 (GBP net)", in, ok)
	}
	if _, ok := RFMInputOf(NewState("p"), asOf); ok {
		t.Fatal("a prospect has an RFM input")
	}
	pop := &Population{RFM: NewRFMScorer([]RFMInput{in, {RecencyDays: 100, Frequency: 1, Monetary: 100}})}
	cu := (*Config)(nil).Derive(s, asOf, pop)
	if cu.RFM == nil || cu.RFM.R != 3 || cu.RFM.F != 3 || cu.RFM.M != 3 {
		// 2 customers: the better one has 1 worse → 1 + ⌊5/2⌋ = 3.
		t.Fatalf("Derive RFM = %+v", cu.RFM)
	}
}
