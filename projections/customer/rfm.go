package customer

import (
	"slices"
	"sort"
	"time"
)

// Named RFM segments.
const (
	RFMChampions         = "champions"
	RFMLoyal             = "loyal"
	RFMPotentialLoyalist = "potential_loyalist"
	RFMNew               = "new"
	RFMPromising         = "promising"
	RFMNeedAttention     = "need_attention"
	RFMAboutToSleep      = "about_to_sleep"
	RFMAtRisk            = "at_risk"
	RFMCannotLose        = "cannot_lose"
	RFMHibernating       = "hibernating"
	RFMLost              = "lost"
)

// RFMSegments lists the named RFM segments.
func RFMSegments() []string {
	return []string{RFMChampions, RFMLoyal, RFMPotentialLoyalist, RFMNew, RFMPromising, RFMNeedAttention,
		RFMAboutToSleep, RFMAtRisk, RFMCannotLose, RFMHibernating, RFMLost}
}

// RFMInput is one customer's recency, frequency and monetary value at an
// instant.
type RFMInput struct {
	RecencyDays float64 // days since the last purchase
	Frequency   int     // purchases
	Monetary    int64   // net revenue (revenue − refunds), minor units of the main currency
}

// RFMInputOf returns the RFM input of s at asOf, and false for a customer
// without a purchase (who has no RFM score). Monetary is in the customer's
// main currency (the one with the largest revenue; ties: the first
// alphabetically); RFM does no currency conversion, so a population that
// trades in several currencies compares amounts in different units.
func RFMInputOf(s *State, asOf time.Time) (RFMInput, bool) {
	if s.Purchases == 0 || s.LastPurchase.IsZero() {
		return RFMInput{}, false
	}
	main := ""
	for c, v := range s.Revenue {
		if main == "" || v > s.Revenue[main] || (v == s.Revenue[main] && c < main) {
			main = c
		}
	}
	return RFMInput{
		RecencyDays: asOf.Sub(s.LastPurchase).Hours() / 24,
		Frequency:   s.Purchases,
		Monetary:    s.Revenue[main] - s.Refunds[main],
	}, true
}

// RFMScore is a customer's RFM quintile scores (1–5, 5 best), FM (the mean
// of F and M, rounded half up) and named segment.
type RFMScore struct {
	R       int    `json:"r"`
	F       int    `json:"f"`
	M       int    `json:"m"`
	FM      int    `json:"fm"`
	Segment string `json:"segment"`
}

// RFMScorer scores customers against a population's RFM quintiles. It is
// immutable and safe for concurrent use.
type RFMScorer struct {
	rec  []float64 // sorted ascending
	freq []int
	mon  []int64
}

// NewRFMScorer builds the quintiles from every customer's RFMInput at one
// instant (customers without a purchase left out).
func NewRFMScorer(inputs []RFMInput) *RFMScorer {
	r := &RFMScorer{
		rec:  make([]float64, len(inputs)),
		freq: make([]int, len(inputs)),
		mon:  make([]int64, len(inputs)),
	}
	for i, in := range inputs {
		r.rec[i], r.freq[i], r.mon[i] = in.RecencyDays, in.Frequency, in.Monetary
	}
	slices.Sort(r.rec)
	slices.Sort(r.freq)
	slices.Sort(r.mon)
	return r
}

// Len is the number of customers the scorer was built from.
func (r *RFMScorer) Len() int { return len(r.rec) }

// quintile turns "k of n customers are strictly worse" into a score 1–5:
// 1 + ⌊5k/n⌋, at most 5. Ties share the score of their lowest rank.
func quintile(k, n int) int {
	if n == 0 {
		return 1
	}
	return min(1+5*k/n, 5)
}

// Score returns the scores of one customer. R: the fewer days since the
// last purchase the better (k = customers with more days); F and M: the
// more the better (k = customers with less).
func (r *RFMScorer) Score(in RFMInput) RFMScore {
	n := len(r.rec)
	worseR := n - sort.Search(n, func(i int) bool { return r.rec[i] > in.RecencyDays })
	worseF := sort.Search(n, func(i int) bool { return r.freq[i] >= in.Frequency })
	worseM := sort.Search(n, func(i int) bool { return r.mon[i] >= in.Monetary })
	s := RFMScore{R: quintile(worseR, n), F: quintile(worseF, n), M: quintile(worseM, n)}
	s.FM = (s.F + s.M + 1) / 2
	s.Segment = RFMSegment(s.R, s.FM)
	return s
}

// RFMSegment names the segment of an R score and an FM score (1–5 each),
// on the usual R × FM grid:
//
//	R \ FM    1               2               3               4          5
//	5         new             potential_lo.   potential_lo.   champions  champions
//	4         promising       potential_lo.   potential_lo.   loyal      loyal
//	3         about_to_sleep  about_to_sleep  need_attention  loyal      loyal
//	2         hibernating     hibernating     at_risk         at_risk    cannot_lose
//	1         lost            hibernating     at_risk         at_risk    cannot_lose
func RFMSegment(r, fm int) string {
	switch {
	case r >= 5 && fm >= 4:
		return RFMChampions
	case r >= 3 && fm >= 4:
		return RFMLoyal
	case r >= 4 && fm >= 2:
		return RFMPotentialLoyalist
	case r >= 5:
		return RFMNew
	case r == 4:
		return RFMPromising
	case r == 3 && fm == 3:
		return RFMNeedAttention
	case r == 3:
		return RFMAboutToSleep
	case fm >= 5:
		return RFMCannotLose
	case fm >= 3:
		return RFMAtRisk
	case r <= 1 && fm <= 1:
		return RFMLost
	default:
		return RFMHibernating
	}
}
