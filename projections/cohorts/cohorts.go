// Package cohorts computes cohort retention: customers grouped by the UTC
// month of their first purchase and, for that month and every later one,
// how many of them purchased (and the share of the cohort) and the revenue
// they brought, per currency, exact in minor units.
//
// The customer states keep a customer's purchase days but only the total
// revenue per currency, not the revenue of each month, so the table is
// computed in one streaming pass over the purchase events of the log (the
// same events the states are folded from), taking only events with time ≤
// the as-of instant. Memory is one small record per purchasing customer
// and per month they purchased in; the pass allocates nothing for other
// events.
package cohorts

import (
	"context"
	"fmt"
	"slices"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
)

// Table is the cohort retention table as of an instant.
type Table struct {
	AsOf time.Time `json:"as_of"`
	// Customers is the number of customers with a purchase (the sum of the
	// cohort sizes); Purchases the purchase events counted.
	Customers int `json:"customers"`
	Purchases int `json:"purchases"`
	// Months is the number of columns: from the first cohort's month to
	// the month of the latest purchase (offsets 0..Months-1).
	Months  int      `json:"months"`
	Cohorts []Cohort `json:"cohorts"`
}

// Cohort is the customers whose first purchase fell in Month.
type Cohort struct {
	Month     string `json:"month"` // "2010-12" (UTC)
	Customers int    `json:"customers"`
	// Periods are the cohort's month and each later one up to the table's
	// last month: Periods[i] is i months after Month.
	Periods []Period `json:"periods"`
}

// Period is one cohort in one month.
type Period struct {
	Month  string `json:"month"`  // "2011-01"
	Offset int    `json:"offset"` // months since the cohort's month
	// Active is how many of the cohort's customers purchased in Month;
	// Retention is Active / cohort size (1 at offset 0).
	Active    int     `json:"active"`
	Retention float64 `json:"retention"`
	// Revenue is the purchase amounts of the cohort's customers in Month,
	// per currency (JSON: {"GBP":"1370.56"}, exact decimal strings).
	Revenue customer.Money `json:"revenue"`
}

// monthIndex numbers UTC months: year*12 + month-1.
func monthIndex(t time.Time) int {
	t = t.UTC()
	return t.Year()*12 + int(t.Month()) - 1
}

func monthName(i int) string {
	y, m := i/12, i%12+1
	return fmt.Sprintf("%04d-%02d", y, m)
}

// monthRevenue is one customer's purchases in one month.
type monthRevenue struct {
	month   int
	revenue customer.Money // nil when no amount
}

// customerAcc is what Builder keeps of one customer: the months with a
// purchase, ascending, with their revenue.
type customerAcc struct {
	months []monthRevenue
}

// Builder accumulates purchases (in any order) into a Table.
type Builder struct {
	asOf      time.Time
	customers map[string]*customerAcc
	purchases int
}

// NewBuilder returns a Builder of the purchases with time ≤ asOf (zero:
// every purchase).
func NewBuilder(asOf time.Time) *Builder {
	return &Builder{asOf: asOf.UTC(), customers: map[string]*customerAcc{}}
}

// Add counts one purchase of cust at t of amount minor units of currency
// (an amount of 0 with no currency adds no revenue, as the fold does). A
// purchase later than the Builder's asOf is ignored; Add reports whether
// it counted.
func (b *Builder) Add(cust string, t time.Time, amount int64, currency string) bool {
	if !b.asOf.IsZero() && t.After(b.asOf) {
		return false
	}
	acc := b.customers[cust]
	if acc == nil {
		acc = &customerAcc{}
		b.customers[cust] = acc
	}
	b.purchases++
	m := monthIndex(t)
	i, found := slices.BinarySearchFunc(acc.months, m, func(e monthRevenue, m int) int { return e.month - m })
	if !found {
		acc.months = slices.Insert(acc.months, i, monthRevenue{month: m})
	}
	if amount != 0 || currency != "" {
		if acc.months[i].revenue == nil {
			acc.months[i].revenue = customer.Money{}
		}
		acc.months[i].revenue[currency] += amount
	}
	return true
}

// Table returns the retention table of the purchases added. AsOf is the
// Builder's instant, or now when it was zero.
func (b *Builder) Table(now time.Time) *Table {
	t := &Table{AsOf: b.asOf, Customers: len(b.customers), Purchases: b.purchases, Cohorts: []Cohort{}}
	if t.AsOf.IsZero() {
		t.AsOf = now.UTC()
	}
	if len(b.customers) == 0 {
		return t
	}
	first, last := int(^uint(0)>>1), -1
	for _, acc := range b.customers {
		first = min(first, acc.months[0].month)
		last = max(last, acc.months[len(acc.months)-1].month)
	}
	t.Months = last - first + 1
	type cohortAcc struct {
		size    int
		active  []int
		revenue []customer.Money
	}
	byMonth := map[int]*cohortAcc{}
	for _, acc := range b.customers {
		cm := acc.months[0].month
		c := byMonth[cm]
		if c == nil {
			n := last - cm + 1
			c = &cohortAcc{active: make([]int, n), revenue: make([]customer.Money, n)}
			byMonth[cm] = c
		}
		c.size++
		for _, mr := range acc.months {
			off := mr.month - cm
			c.active[off]++
			for cur, v := range mr.revenue {
				if c.revenue[off] == nil {
					c.revenue[off] = customer.Money{}
				}
				c.revenue[off][cur] += v
			}
		}
	}
	for cm := first; cm <= last; cm++ {
		c := byMonth[cm]
		if c == nil {
			continue
		}
		co := Cohort{Month: monthName(cm), Customers: c.size, Periods: make([]Period, len(c.active))}
		for off := range c.active {
			rev := c.revenue[off]
			if rev == nil {
				rev = customer.Money{}
			}
			co.Periods[off] = Period{Month: monthName(cm + off), Offset: off, Active: c.active[off],
				Retention: float64(c.active[off]) / float64(c.size), Revenue: rev}
		}
		t.Cohorts = append(t.Cohorts, co)
	}
	return t
}

// Compute builds the table from the purchase events of log with time ≤
// asOf (zero: every one; the table's AsOf is then now), in one streaming
// pass over the log.
func Compute(ctx context.Context, log *eventstore.Store, asOf time.Time, now time.Time) (*Table, error) {
	b := NewBuilder(asOf)
	var ev journey.Event
	var limitSec int64
	var limitNsec int32
	if !asOf.IsZero() {
		limitSec, limitNsec = asOf.Unix(), int32(asOf.Nanosecond())
	}
	err := log.ScanRaw(ctx, 1, 0, func(r *eventstore.RawRecord) error {
		if r.Type != journey.KindPurchase {
			return nil
		}
		if !asOf.IsZero() && (r.EventSec > limitSec || (r.EventSec == limitSec && r.EventNsec > limitNsec)) {
			return nil
		}
		if r.Erased {
			return nil // its customer was forgotten
		}
		if err := journey.DecodeStoredInto(r.Raw, &ev); err != nil {
			return fmt.Errorf("cohorts: event %d: %w", r.Seq, err)
		}
		cust := string(r.Customer)
		b.Add(cust, ev.Time, ev.Data.Amount, ev.Data.Currency)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Table(now), nil
}
