package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
)

// Bounds of a page of CustomerList.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// ListQuery asks CustomerList for a page of customers: those whose id
// starts with Prefix (empty: every customer), after the id After
// (exclusive; empty: from the first), that match every filter given, at
// AsOf (zero: now).
type ListQuery struct {
	Prefix string
	After  string
	Limit  int // 0: DefaultListLimit; at most MaxListLimit
	AsOf   time.Time
	// Segment is "by:value" of one of SegmentBys (but cluster), e.g.
	// "churn:at_risk", "rfm:champions", "type:loyal", "rule:vip".
	Segment string
	Stage   string // a lifecycle stage (the same as Segment "stage:…")
	// R and FM, 1..5 each (0: any), select one cell of the RFM grid.
	R, FM int
	// Trait is "key:value": the customers whose profile trait key is value
	// (case-insensitive), e.g. "email:alice@example.com": a range read of
	// the trait index (traits.go; views built before it: a pass over the
	// states from Prefix, until a rebuild).
	Trait string
	// NewIn (YYYY-MM) keeps the customers first seen in that month (UTC);
	// LostIn (YYYY-MM) the churned customers lost in that month (LostAt):
	// the lists behind the dashboard's new and lost customers per month.
	NewIn, LostIn string
}

// ListEntry is one customer of a CustomerList page.
type ListEntry struct {
	Customer     string             `json:"customer"`
	Stage        string             `json:"stage"`
	Churn        string             `json:"churn"`
	Satisfaction float64            `json:"satisfaction"`
	Events       int                `json:"events"`
	LastSeen     time.Time          `json:"last_seen,omitzero"`
	Revenue      customer.Money     `json:"revenue,omitempty"`
	RFM          *customer.RFMScore `json:"rfm,omitempty"`
}

// ListPage is a page of CustomerList.
type ListPage struct {
	AsOf      time.Time   `json:"as_of"`
	Customers []ListEntry `json:"customers"`
	// NextAfter is the After of the next page; empty on the last.
	NextAfter string `json:"next_after,omitempty"`
}

// ErrBadListQuery: a ListQuery field breaks its rule (the error names it).
var ErrBadListQuery = errors.New("projections: bad list query")

// ListError is a bad ListQuery field: Field and Rule.
type ListError struct{ Field, Rule string }

func (e *ListError) Error() string     { return e.Field + ": " + e.Rule }
func (e *ListError) Unwrap() error     { return ErrBadListQuery }
func listErr(field, rule string) error { return &ListError{Field: field, Rule: rule} }

// check validates q and returns the segmentation and value of its Segment.
func (q *ListQuery) check() (by, value string, err error) {
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return "", "", listErr("limit", fmt.Sprintf("%d is not in 0..%d", q.Limit, MaxListLimit))
	}
	if q.R < 0 || q.R > 5 {
		return "", "", listErr("r", fmt.Sprintf("%d is not in 1..5", q.R))
	}
	if q.FM < 0 || q.FM > 5 {
		return "", "", listErr("fm", fmt.Sprintf("%d is not in 1..5", q.FM))
	}
	if q.Stage != "" && !slices.Contains(customer.Stages(), q.Stage) {
		return "", "", listErr("stage", fmt.Sprintf("%q is not a stage; want one of %v", q.Stage, customer.Stages()))
	}
	if q.Trait != "" {
		if k, _, ok := cutSegment(q.Trait); !ok || k == "" {
			return "", "", listErr("trait", fmt.Sprintf("%q is not key:value, e.g. email:alice@example.com", q.Trait))
		}
	}
	for _, m := range []struct{ field, v string }{{"new", q.NewIn}, {"lost", q.LostIn}} {
		if _, err := time.Parse("2006-01", m.v); m.v != "" && (err != nil || len(m.v) != 7) {
			return "", "", listErr(m.field, fmt.Sprintf("%q is not a month (YYYY-MM)", m.v))
		}
	}
	if q.Segment != "" {
		var ok bool
		by, value, ok = cutSegment(q.Segment)
		if !ok || value == "" || by == ByCluster || !slices.Contains(SegmentBys(), by) {
			return "", "", listErr("segment", fmt.Sprintf("%q is not by:value with by one of stage, highest_stage, flag, type, store, churn, rfm, rule", q.Segment))
		}
	}
	return by, value, nil
}

func cutSegment(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// matches reports whether the answer cu (of state st) is in the segment
// by:value.
func matches(by, value string, cu *customer.Answer, st *customer.State) bool {
	switch by {
	case "":
		return true
	case ByStage:
		return cu.Stage == value
	case ByHighestStage:
		return cu.HighestStage == value
	case ByChurn:
		return cu.Churn == value
	case ByFlag:
		return slices.Contains(cu.Flags, value)
	case ByType:
		return slices.Contains(cu.Types, value)
	case ByRule:
		return slices.Contains(cu.Segments, value)
	case ByStore:
		if value == NoStore {
			return len(st.Stores) == 0
		}
		return slices.Contains(st.Stores, value)
	case ByRFM:
		if cu.RFM == nil {
			return value == NoRFM
		}
		return cu.RFM.Segment == value
	}
	return false
}

// withAnswers calls fn with a reader of the customer states at asOf (zero:
// now), the instant and the population (with RFM quintiles when rfm): now,
// the stored states and the cached quintiles; as of an instant, as
// withPopulation.
func (v *Views) withAnswers(ctx context.Context, asOf time.Time, rfm bool, fn func(r pebble.Reader, at time.Time, pop *customer.Population) error) error {
	if !asOf.IsZero() {
		return v.withPopulation(ctx, asOf, rfm, fn)
	}
	d, err := v.acquire()
	if err != nil {
		return err
	}
	defer d.use.RUnlock()
	now := v.now().UTC()
	pop := d.meta.Load().pop
	pop.RFM = nil
	if rfm {
		if pop.RFM, err = v.cachedRFM(ctx, d, now); err != nil {
			return err
		}
	}
	return fn(d.db, now, &pop)
}

// CustomerList is a page of the customers of q, in customer id order: a
// range scan of the stored customer keys from the prefix (or after After),
// each derived at the instant and kept when it matches q's filters. A
// filter that few customers match reads on through the states until the
// page fills or the prefix ends.
func (v *Views) CustomerList(ctx context.Context, q ListQuery) (*ListPage, error) {
	by, value, err := q.check()
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	traitKey, traitValue, _ := cutSegment(q.Trait)
	page := &ListPage{Customers: []ListEntry{}}
	// Every entry carries its RFM score, filtered on or not (cached now,
	// part of the population pass as of an instant).
	err = v.withAnswers(ctx, q.AsOf, true, func(r pebble.Reader, at time.Time, pop *customer.Population) error {
		page.AsOf = at
		// keep adds the customer id (state e) to the page when it matches
		// q; full: the page is full and id is past it.
		keep := func(id string, e *entry) (full bool) {
			if q.Trait != "" && !strings.EqualFold(e.st.Traits[traitKey], traitValue) {
				return false
			}
			if q.NewIn != "" && (e.st.FirstSeen.IsZero() || MonthOf(e.st.FirstSeen) != q.NewIn) {
				return false
			}
			cu := v.derive(e.st, at, pop)
			if q.LostIn != "" && (cu.Churn != customer.ChurnChurned || MonthOf(LostAt(e.st, cu, at)) != q.LostIn) {
				return false
			}
			if q.Stage != "" && cu.Stage != q.Stage {
				return false
			}
			if !matches(by, value, cu, e.st) {
				return false
			}
			if q.R > 0 && (cu.RFM == nil || cu.RFM.R != q.R) {
				return false
			}
			if q.FM > 0 && (cu.RFM == nil || cu.RFM.FM != q.FM) {
				return false
			}
			if len(page.Customers) == limit {
				page.NextAfter = page.Customers[limit-1].Customer
				return true
			}
			page.Customers = append(page.Customers, ListEntry{Customer: id, Stage: cu.Stage, Churn: cu.Churn,
				Satisfaction: cu.Satisfaction, Events: e.st.Events, LastSeen: e.st.LastSeen,
				Revenue: e.st.Revenue, RFM: cu.RFM})
			return false
		}
		// The bounds of the ids: from the prefix (or after After).
		from, fromExcl := q.Prefix, false
		if q.After != "" && q.After >= q.Prefix {
			from, fromExcl = q.After, true
		}
		if q.Trait != "" && hasTraitIndex(r) {
			// The customers holding the trait, from the index (traits.go).
			traitIndexReads.Add(1)
			p := traitPrefix(nil, traitKey, traitValue)
			lower := append(bytes.Clone(p), from...)
			if fromExcl {
				lower = append(lower, 0)
			}
			upper := prefixEnd(append(bytes.Clone(p), q.Prefix...))
			it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
			if err != nil {
				return err
			}
			defer it.Close()
			for it.First(); it.Valid(); it.Next() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				id := string(it.Key()[len(p):])
				e, err := loadEntry(r, id)
				if err != nil {
					return err
				}
				if e != nil && keep(id, e) {
					break
				}
			}
			return it.Error()
		}
		lower := stateKey(from)
		if fromExcl {
			lower = append(lower, 0)
		}
		upper := prefixEnd(stateKey(q.Prefix))
		if q.Prefix == "" {
			upper = prefixEnd(prefixState)
		}
		it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return err
		}
		defer it.Close()
		n := 0
		for it.First(); it.Valid(); it.Next() {
			if n++; n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			id := string(it.Key()[len(prefixState):])
			e, err := decodeEntry(id, it.Value())
			if err != nil {
				return err
			}
			if keep(id, e) {
				break
			}
		}
		return it.Error()
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
