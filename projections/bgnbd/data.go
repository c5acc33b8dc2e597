package bgnbd

import (
	"slices"
	"time"
)

// Day returns the calendar day of t in UTC as a day number since the Unix
// epoch (1970-01-01 is day 0), the day unit [FromPurchaseDays] expects.
func Day(t time.Time) int {
	u := t.UTC()
	y, m, d := u.Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// FromPurchaseDays summarises a purchase history for the calibration period
// ending on asOfDay. days are the calendar days (see [Day]) with at least one
// purchase; as in Fader, Hardie & Lee (2005), several purchases on the same
// day count as one transaction. Days after asOfDay are ignored, so the full
// history may be passed; days are expected sorted and distinct, but unsorted
// or repeated days are handled (at the cost of a copy).
//
// With first and last the first and last purchase days on or before asOfDay
// and unitDays the length of the model's time unit in days (7 for weeks):
//
//	X  = number of distinct purchase days − 1
//	TX = (last − first) / unitDays
//	T  = (asOfDay − first) / unitDays
//
// asOfDay is the last day of the calibration period, inclusive: purchases
// on asOfDay count, and T is measured to the start of that day (not to its
// end). This is the convention of the published CDNOW summary: a customer
// first buying on 1997-01-01 with calibration end 1997-09-30 has
// T = 272/7 = 38.86 weeks (the other convention would give 273/7 = 39.00).
//
// A history with no purchase on or before asOfDay has no BG/NBD summary; the
// zero Customer is returned and the caller should leave it out of a fit
// (it contributes nothing to the likelihood but counts as a customer).
func FromPurchaseDays(days []int, asOfDay int, unitDays float64) Customer {
	if !slices.IsSorted(days) || hasDup(days) {
		days = slices.Compact(slices.Sorted(slices.Values(days)))
	}
	n := 0
	for n < len(days) && days[n] <= asOfDay {
		n++
	}
	if n == 0 {
		return Customer{}
	}
	first, last := days[0], days[n-1]
	return Customer{
		X:  float64(n - 1),
		TX: float64(last-first) / unitDays,
		T:  float64(asOfDay-first) / unitDays,
	}
}

func hasDup(sorted []int) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return true
		}
	}
	return false
}
