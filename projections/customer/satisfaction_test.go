package customer

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// handJourney is the worked example of RULES.md.
var handJourney = []string{
	"2024-01-03T00:00:00Z complaint case_id=k1 severity=high",
	"2024-04-02T00:00:00Z complaint_resolved case_id=k1 outcome=compensated",
	"2024-04-02T00:00:00Z purchase order_id=o1 amount=30.00 currency=GBP",
	"2024-07-01T00:00:00Z feedback csat=4 nps=8",
}

// TestSatisfactionByHand checks the formula on a journey computed by hand.
//
// as_of 2024-07-01, half-life 90 days, defaults:
//
//	event                    age    d     o    w     w·d    w·o·d
//	prior                     –     1    50   0.5   0.5    25
//	complaint high (open→closed, still a signal)
//	                        180 d  0.25   0    2     0.5     0
//	resolved: compensated    90 d  0.5   80   0.75  0.375  30
//	purchase                 90 d  0.5   75   0.1   0.05    3.75
//	CSAT 4 → 25·(4−1)         0 d  1     75   1     1      75
//	NPS 8 → 10·8              0 d  1     80   1     1      80
//	                                            Σ    3.425  213.75
//
//	score = 213.75 / 3.425 = 62.40876
//
// 90 days later (2024-09-29) every d halves, the prior does not:
//
//	Σ w·d = 0.5 + 2.925/2 = 1.9625, Σ w·o·d = 25 + 188.75/2 = 119.375,
//	score = 119.375 / 1.9625 = 60.82803
//
// and on 2024-01-03, right after the complaint (only the prior and the
// complaint, d = 1): 25 / (0.5 + 2) = 10.
func TestSatisfactionByHand(t *testing.T) {
	var evs []foldEvent
	for i, l := range handJourney {
		evs = append(evs, parseEventLine(t, "h", uint64(i+1), l))
	}
	s := fold("h", evs)
	for _, tc := range []struct {
		asOf string
		want float64
	}{
		{"2024-07-01T00:00:00Z", 213.75 / 3.425},
		{"2024-09-29T00:00:00Z", 119.375 / 1.9625},
		{"2024-01-03T00:00:00Z", 10},
	} {
		got := (*Config)(nil).SatisfactionScore(s, mustTime(t, tc.asOf))
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("as of %s: satisfaction %.6f, want %.6f", tc.asOf, got, tc.want)
		}
	}
	if got := 213.75 / 3.425; math.Abs(got-62.40876) > 1e-5 {
		t.Fatalf("the comment's arithmetic is off: %v", got)
	}
}

// TestSatisfactionWeightsConfigurable: changing a weight changes the score
// as the formula says.
func TestSatisfactionWeightsConfigurable(t *testing.T) {
	var evs []foldEvent
	for i, l := range handJourney {
		evs = append(evs, parseEventLine(t, "h", uint64(i+1), l))
	}
	s := fold("h", evs)
	c := DefaultConfig()
	c.Satisfaction.NPSWeight = 0      // drop NPS: Σ w·d 2.425, Σ w·o·d 133.75
	c.Satisfaction.HalfLifeDays = 180 // d: complaint 0.5, resolution/purchase 2^-0.5
	h := math.Sqrt(0.5)
	num := 25 + 0 + 0.75*80*h + 0.1*75*h + 75
	den := 0.5 + 2*0.5 + 0.75*h + 0.1*h + 1
	if got := c.SatisfactionScore(s, mustTime(t, "2024-07-01")); math.Abs(got-num/den) > 1e-9 {
		t.Fatalf("satisfaction %.6f, want %.6f", got, num/den)
	}
}

// TestSatisfactionReference compares Score with a direct implementation
// of the formula over the events themselves, on random journeys.
func TestSatisfactionReference(t *testing.T) {
	sc := DefaultSatisfaction()
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 7))
		evs := randomJourney(t, rng, "x", 1+rng.IntN(80))
		sortFold(evs)
		s := fold("x", evs)
		asOf := s.LastTime.Add(time.Duration(rng.IntN(200)) * time.Hour)
		num, den := 25.0, 0.5
		obs := func(at time.Time, o, w float64) {
			d := math.Pow(0.5, asOf.Sub(at).Hours()/24/90)
			num += w * o * d
			den += w * d
		}
		for _, e := range evs {
			d := e.ev.Data
			at := e.ev.Time
			switch e.ev.Type {
			case "purchase":
				obs(at, 75, 0.1)
			case "return":
				obs(at, 30, 0.25)
			case "complaint":
				w := map[string]float64{"low": 0.5, "medium": 1, "high": 2}[d.Severity]
				if d.EscalatedTo != "" {
					w = 3
				}
				obs(at, 0, w)
			case "complaint_resolved":
				o := map[string]Observation{"resolved": {70, 0.5}, "compensated": {80, 0.75}, "rejected": {10, 0.5}}[d.Outcome]
				obs(at, o.Value, o.Weight)
			case "feedback":
				if d.CSAT > 0 {
					obs(at, 25*float64(d.CSAT-1), 1)
				}
				if d.NPS >= 0 {
					obs(at, 10*float64(d.NPS), 1)
				}
			}
		}
		if got, want := sc.Score(s, asOf), num/den; math.Abs(got-want) > 1e-9 {
			t.Fatalf("seed %d: Score %.9f, reference %.9f", seed, got, want)
		}
	}
}

func TestMaxSignals(t *testing.T) {
	s := NewState("m")
	ev := parseEventLine(t, "m", 1, "2024-01-01 purchase order_id=o amount=1.00 currency=GBP")
	for i := range MaxSignals + 10 {
		ev.ev.Time = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		s.Apply(ev.ev, uint64(i+1))
	}
	// At the 1025th signal the oldest 256 go: 768 + 10 remain, the oldest
	// being the 257th.
	if len(s.Signals) != MaxSignals*3/4+10 || s.Purchases != MaxSignals+10 {
		t.Fatalf("signals %d purchases %d", len(s.Signals), s.Purchases)
	}
	if want := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(MaxSignals / 4 * time.Hour).Unix(); s.Signals[0].At != want {
		t.Fatalf("oldest kept signal at %d, want %d", s.Signals[0].At, want)
	}
}
