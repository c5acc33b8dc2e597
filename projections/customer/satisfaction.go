package customer

import (
	"math"
	"time"
)

// observations is a SatisfactionConfig as a table indexed by SignalKind:
// each kind's value (0–100) and weight. CSAT and NPS take their value from
// the signal's score, so only their weight is kept. Score and everLoyal
// build it once per call.
type observations [signalKinds]Observation

func (sc *SatisfactionConfig) observations() observations {
	return observations{
		SignalCSAT:               {Weight: sc.CSATWeight},
		SignalNPS:                {Weight: sc.NPSWeight},
		SignalComplaintLow:       sc.ComplaintLow,
		SignalComplaintMedium:    sc.ComplaintMedium,
		SignalComplaintHigh:      sc.ComplaintHigh,
		SignalComplaintEscalated: sc.ComplaintEscalated,
		SignalResolved:           sc.Resolved,
		SignalCompensated:        sc.Compensated,
		SignalRejected:           sc.Rejected,
		SignalReturn:             sc.Return,
		SignalPurchase:           sc.Purchase,
	}
}

// observe returns the observed value (0–100) and weight of a signal (a
// kind the table does not know weighs nothing).
func (t *observations) observe(sg Signal) (o, w float64) {
	if int(sg.Kind) >= len(t) {
		return 0, 0
	}
	ob := t[sg.Kind]
	switch sg.Kind {
	case SignalCSAT:
		ob.Value = 25 * float64(sg.Value-1)
	case SignalNPS:
		ob.Value = 10 * float64(sg.Value)
	}
	return ob.Value, ob.Weight
}

// Score returns the satisfaction score (0–100) of s at asOf:
//
//	(Σ w·o·d + w₀·o₀) / (Σ w·d + w₀),  d = 0.5^((asOf − t) / half-life)
//
// over the signals with event time t ≤ asOf (Unix-second precision).
func (sc *SatisfactionConfig) Score(s *State, asOf time.Time) float64 {
	now := asOf.Unix()
	hl := sc.HalfLifeDays * 86400
	num, den := sc.Prior.Weight*sc.Prior.Value, sc.Prior.Weight
	obs := sc.observations()
	for _, sg := range s.Signals {
		if sg.At > now {
			continue
		}
		o, w := obs.observe(sg)
		if w == 0 {
			continue
		}
		d := math.Exp2(-float64(now-sg.At) / hl)
		num += w * o * d
		den += w * d
	}
	return num / den
}

// SatisfactionScore is the satisfaction score of s at asOf under c (nil:
// defaults); see SatisfactionConfig.Score.
func (c *Config) SatisfactionScore(s *State, asOf time.Time) float64 {
	return c.satisfaction().Score(s, asOf)
}

// everLoyal reports whether the loyal rule (≥ 3 purchase days in the
// trailing 365 days and satisfaction ≥ 60) held right after some signal up
// to asOf, or at asOf. Between two signals the score moves monotonically
// toward the prior and the trailing count can only fall, so these instants
// are the only ones where the rule can first hold.
func (sc *SatisfactionConfig) everLoyal(s *State, asOf time.Time) bool {
	days := s.ShoppingDays
	if len(days) < 3 {
		return false
	}
	now := asOf.Unix()
	hl := sc.HalfLifeDays * 86400
	pw, pv := sc.Prior.Weight, sc.Prior.Value
	var num, den float64 // decayed sums, referenced to time ref
	var ref int64
	lo, hi := 0, 0 // days[lo:hi] are the purchase days in the trailing window
	check := func(at int64) bool {
		day := int32(dayOf(time.Unix(at, 0)))
		for hi < len(days) && days[hi] <= day {
			hi++
		}
		for lo < hi && days[lo] <= day-365 {
			lo++
		}
		if hi-lo < 3 {
			return false
		}
		return (num+pw*pv)/(den+pw) >= loyalSatisfaction
	}
	obs := sc.observations()
	sigs := s.Signals
	for i := 0; i < len(sigs); i++ {
		sg := sigs[i]
		if sg.At > now {
			break
		}
		if sg.At != ref {
			f := math.Exp2(-float64(sg.At-ref) / hl)
			num, den, ref = num*f, den*f, sg.At
		}
		if o, w := obs.observe(sg); w != 0 {
			num += w * o
			den += w
		}
		if i+1 < len(sigs) && sigs[i+1].At == sg.At {
			continue // judge after every signal of the same instant
		}
		if check(sg.At) {
			return true
		}
	}
	f := math.Exp2(-float64(now-ref) / hl)
	num, den = num*f, den*f
	return check(now)
}

// loyalSatisfaction is the satisfaction a loyal customer has at least.
const loyalSatisfaction = 60
