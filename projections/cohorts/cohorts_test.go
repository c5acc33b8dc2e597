package cohorts

import (
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestBuilder: purchases in any order, the as-of bound (inclusive), the
// first purchase month as the cohort, empty months and several currencies.
func TestBuilder(t *testing.T) {
	b := NewBuilder(day("2024-03-31"))
	b.Add("a", day("2024-03-05"), 500, "EUR") // before a's first, given later
	b.Add("a", day("2024-01-10"), 1000, "EUR")
	b.Add("a", day("2024-01-20"), 250, "USD")
	b.Add("b", day("2024-01-15"), 300, "EUR")
	b.Add("c", day("2024-02-01"), 0, "")
	b.Add("c", day("2024-03-31"), 700, "EUR")
	if b.Add("b", day("2024-03-31").Add(time.Nanosecond), 999, "EUR") {
		t.Error("a purchase after as-of counted")
	}
	tab := b.Table(time.Now())
	if tab.Customers != 3 || tab.Purchases != 6 || tab.Months != 3 || len(tab.Cohorts) != 2 {
		t.Fatalf("table %+v", tab)
	}
	jan, feb := tab.Cohorts[0], tab.Cohorts[1]
	if jan.Month != "2024-01" || jan.Customers != 2 || len(jan.Periods) != 3 || feb.Month != "2024-02" || feb.Customers != 1 || len(feb.Periods) != 2 {
		t.Fatalf("cohorts %+v %+v", jan, feb)
	}
	want := []struct {
		p       Period
		revenue string
	}{{jan.Periods[0], "13.00 EUR, 2.50 USD"}, {jan.Periods[1], ""}, {jan.Periods[2], "5.00 EUR"}, {feb.Periods[0], ""}, {feb.Periods[1], "7.00 EUR"}}
	actives := []int{2, 0, 1, 1, 1}
	shares := []float64{1, 0, 0.5, 1, 1}
	for i, w := range want {
		if w.p.Active != actives[i] || w.p.Retention != shares[i] || w.p.Revenue.String() != w.revenue {
			t.Errorf("period %d: %+v (revenue %q), want active %d retention %v revenue %q", i, w.p, w.p.Revenue.String(), actives[i], shares[i], w.revenue)
		}
	}
	if jan.Periods[2].Month != "2024-03" || jan.Periods[2].Offset != 2 {
		t.Errorf("period month %s offset %d", jan.Periods[2].Month, jan.Periods[2].Offset)
	}
}
