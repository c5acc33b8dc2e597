package customer

import (
	"reflect"
	"testing"
)

func TestNPSAggregator(t *testing.T) {
	journeys := map[string][]string{
		"a": {
			"2024-05-03 feedback nps=10 source=pos/store-1/till-1",
			"2024-06-01 visit channel=store store_id=store-2",
			"2024-06-10 feedback nps=6 source=web/app", // no store in the source: the last visit's
		},
		"b": {"2024-05-20 feedback nps=8 csat=4"}, // no store anywhere
		"c": {
			"2024-06-15 feedback nps=9 source=pos/store-1/till-4",
			"2024-07-02 feedback nps=3 source=pos/store-1/till-4",  // after AsOf
			"2024-06-16 feedback csat=1 source=pos/store-1/till-4", // no NPS
		},
	}
	agg := NPSAggregator{AsOf: mustTime(t, "2024-06-30T23:59:59Z")}
	for cust, lines := range journeys {
		var evs []foldEvent
		for i, l := range lines {
			evs = append(evs, parseEventLine(t, cust, uint64(i+1), l))
		}
		sortFold(evs)
		agg.Add(fold(cust, evs))
	}
	got := agg.Result()
	// 4 answers: promoters 10, 9; passive 8; detractor 6 → (2−1)/4 = 25.
	want := NPSResult{
		Overall: NPS{Responses: 4, Promoters: 2, Passives: 1, Detractors: 1, Score: 25},
		ByStore: map[string]NPS{
			"store-1":    {Responses: 2, Promoters: 2, Score: 100},
			"store-2":    {Responses: 1, Detractors: 1, Score: -100},
			UnknownStore: {Responses: 1, Passives: 1, Score: 0},
		},
		ByMonth: map[string]NPS{
			"2024-05": {Responses: 2, Promoters: 1, Passives: 1, Score: 50},
			"2024-06": {Responses: 2, Promoters: 1, Detractors: 1, Score: 0},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("NPS result\n got %+v\nwant %+v", got, want)
	}
	var empty NPSAggregator
	if r := empty.Result(); r.Overall.Responses != 0 || r.ByStore == nil {
		t.Fatalf("empty result %+v", r)
	}
}
