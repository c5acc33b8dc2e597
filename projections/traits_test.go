package projections

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
)

// traitSearch lists every customer of a trait search (paged by limit).
func traitSearch(t *testing.T, v *Views, trait, prefix string, limit int) []string {
	t.Helper()
	var got []string
	after := ""
	for {
		p, err := v.CustomerList(context.Background(), ListQuery{Trait: trait, Prefix: prefix, After: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Customers {
			got = append(got, e.Customer)
		}
		if p.NextAfter == "" {
			return got
		}
		after = p.NextAfter
	}
}

// byHand lists the customers whose trait key is value (any case), in id order.
func byHand(t *testing.T, v *Views, key, value string) []string {
	t.Helper()
	var out []string
	if err := v.Customers(context.Background(), testNow, false, func(c *customer.Answer) error {
		if strings.EqualFold(c.State.Traits[key], value) {
			out = append(out, c.State.Customer)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// traitKeysOf lists the customers named by the views' trait index keys.
func traitKeysOf(t *testing.T, v *Views) map[string]int {
	t.Helper()
	d, err := v.acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer d.use.RUnlock()
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: prefixTrait, UpperBound: prefixEnd(prefixTrait)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]int{}
	for it.First(); it.Valid(); it.Next() {
		c, ok := traitCustomer(it.Key())
		if !ok {
			t.Fatalf("bad trait key %q", it.Key())
		}
		out[c]++
	}
	return out
}

// TestTraitIndex: a trait search is served by the index (a range read,
// not a pass over the states) and lists exactly the customers whose
// trait has that value, in id order, paged, with a prefix; after the live
// projector changes a value, after a rebuild, and after Forget (which
// leaves no index key naming the customer). Views without the index's
// mark (built before it) still answer, by a pass.
func TestTraitIndex(t *testing.T) {
	_, log, v := loadedViews(t, simulated(t, 300, simDays, 31), &Options{Clock: fixedClock(testNow)})
	ctx := context.Background()
	// Every trait value of the population, and the customers by hand.
	type kv struct{ k, v string }
	values := map[kv]bool{}
	if err := v.Customers(ctx, testNow, false, func(c *customer.Answer) error {
		for k, val := range c.State.Traits {
			values[kv{k, val}] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(values) < 5 {
		t.Fatalf("the simulation gave %d trait values", len(values))
	}
	check := func(what string) {
		t.Helper()
		n := 0
		for tv := range values {
			if n++; n > 60 {
				break
			}
			want := byHand(t, v, tv.k, tv.v)
			before := traitIndexReads.Load()
			got := traitSearch(t, v, tv.k+":"+strings.ToUpper(tv.v), "", 2)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s:%s lists %v, want %v", what, tv.k, tv.v, got, want)
			}
			if traitIndexReads.Load() == before {
				t.Errorf("%s: the search of %s:%s was not served by the index", what, tv.k, tv.v)
			}
			if len(want) > 1 {
				p := want[1][:len(want[1])-1]
				var wp []string
				for _, c := range want {
					if strings.HasPrefix(c, p) {
						wp = append(wp, c)
					}
				}
				if got := traitSearch(t, v, tv.k+":"+tv.v, p, 1); !slices.Equal(got, wp) {
					t.Errorf("%s: %s:%s with prefix %s lists %v, want %v", what, tv.k, tv.v, p, got, wp)
				}
			}
		}
	}
	check("caught up")

	// The live projector: a new customer, and a changed value.
	var old kv
	for tv := range values {
		old = tv
		break
	}
	changed := byHand(t, v, old.k, old.v)[0]
	appendRaw(t, log, [][]byte{
		ev("tr-1", "profile", changed, testNow.Add(-2*time.Hour), `{"kind":"individual","traits":{"`+old.k+`":"Changed-Value"}}`),
		ev("tr-2", "profile", "cust-trait-new", testNow.Add(-time.Hour), `{"kind":"individual","traits":{"email":"new@example.com","loyalty_card":"4711"}}`),
	})
	catchUp(t, v)
	if got := traitSearch(t, v, old.k+":"+old.v, "", 50); slices.Contains(got, changed) {
		t.Errorf("%s still listed under its old %s %s: %v", changed, old.k, old.v, got)
	}
	if got := traitSearch(t, v, old.k+":changed-VALUE", "", 50); !slices.Equal(got, []string{changed}) {
		t.Errorf("the changed %s lists %v, want %s", old.k, got, changed)
	}
	if got := traitSearch(t, v, "loyalty_card:4711", "", 50); !slices.Equal(got, []string{"cust-trait-new"}) {
		t.Errorf("loyalty_card:4711 lists %v", got)
	}
	values[kv{old.k, "Changed-Value"}] = true
	values[kv{"loyalty_card", "4711"}] = true

	// A rebuild writes the index with the states.
	if _, err := v.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
	if got := traitSearch(t, v, "loyalty_card:4711", "", 50); !slices.Equal(got, []string{"cust-trait-new"}) {
		t.Errorf("rebuilt: loyalty_card:4711 lists %v", got)
	}

	// Forget: no index key names the customer.
	if keys := traitKeysOf(t, v); keys[changed] == 0 {
		t.Fatalf("no index key names %s before Forget", changed)
	}
	if _, err := v.Forget(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if keys := traitKeysOf(t, v); keys[changed] != 0 {
		t.Errorf("%d index keys name %s after Forget", keys[changed], changed)
	}
	if got := traitSearch(t, v, old.k+":changed-value", "", 50); len(got) != 0 {
		t.Errorf("forgotten, still listed: %v", got)
	}

	// Views without the mark answer by a pass.
	d, err := v.acquire()
	if err != nil {
		t.Fatal(err)
	}
	err = d.db.Delete(keyTraitIndex, pebble.Sync)
	d.use.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	before := traitIndexReads.Load()
	if got := traitSearch(t, v, "loyalty_card:4711", "", 50); !slices.Equal(got, []string{"cust-trait-new"}) || traitIndexReads.Load() != before {
		t.Errorf("without the mark: loyalty_card:4711 lists %v (index reads %d → %d)", got, before, traitIndexReads.Load())
	}
}
