package customer

import (
	"time"
)

// UnknownStore is the store of an NPS answer that names none.
const UnknownStore = "unknown"

// NPS is a Net Promoter Score tally: answers 9–10 are promoters, 7–8
// passives, 0–6 detractors; Score = % promoters − % detractors (−100..100).
type NPS struct {
	Responses  int     `json:"responses"`
	Promoters  int     `json:"promoters"`
	Passives   int     `json:"passives"`
	Detractors int     `json:"detractors"`
	Score      float64 `json:"nps"`
}

func (n *NPS) add(score int) {
	n.Responses++
	switch {
	case score >= 9:
		n.Promoters++
	case score >= 7:
		n.Passives++
	default:
		n.Detractors++
	}
	n.Score = 100 * float64(n.Promoters-n.Detractors) / float64(n.Responses)
}

// NPSResult is the population NPS overall, by store and by month
// ("2006-01", UTC).
type NPSResult struct {
	Overall NPS            `json:"overall"`
	ByStore map[string]NPS `json:"by_store"`
	ByMonth map[string]NPS `json:"by_month"`
}

// NPSAggregator tallies population NPS by store and by month. It counts
// answers, not customers: a customer who answered twice counts twice.
//
// The store of an answer is the store named by the feedback event's source
// (a "store…" path segment, e.g. "pos/store-042/till-3"), else the store of
// the customer's latest visit or purchase before it (visit store_id, else a
// "store…" segment of that event's source), else UnknownStore.
//
// The zero value is ready to use; it is not safe for concurrent use.
type NPSAggregator struct {
	// AsOf, when set, leaves out answers after it.
	AsOf time.Time
	res  NPSResult
}

// Add adds every NPS answer folded into s.
func (a *NPSAggregator) Add(s *State) {
	for _, sg := range s.Signals {
		if sg.Kind != SignalNPS {
			continue
		}
		store := UnknownStore
		if sg.Store > 0 && int(sg.Store) <= len(s.Stores) {
			store = s.Stores[sg.Store-1]
		}
		a.AddAnswer(store, time.Unix(sg.At, 0), int(sg.Value))
	}
}

// AddAnswer adds one NPS answer (0–10) given at t in store ("" means
// UnknownStore). Scores outside 0–10 are ignored.
func (a *NPSAggregator) AddAnswer(store string, t time.Time, score int) {
	if score < 0 || score > 10 || (!a.AsOf.IsZero() && t.After(a.AsOf)) {
		return
	}
	if store == "" {
		store = UnknownStore
	}
	if a.res.ByStore == nil {
		a.res.ByStore = map[string]NPS{}
		a.res.ByMonth = map[string]NPS{}
	}
	a.res.Overall.add(score)
	n := a.res.ByStore[store]
	n.add(score)
	a.res.ByStore[store] = n
	month := t.UTC().Format("2006-01")
	n = a.res.ByMonth[month]
	n.add(score)
	a.res.ByMonth[month] = n
}

// Result returns the tallies so far (the maps are the aggregator's own;
// do not modify them while adding).
func (a *NPSAggregator) Result() NPSResult {
	r := a.res
	if r.ByStore == nil {
		r.ByStore, r.ByMonth = map[string]NPS{}, map[string]NPS{}
	}
	return r
}
