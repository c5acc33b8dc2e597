package bench

import (
	"context"
	"testing"
)

// TestWeb: bench web, small, times both pages over HTTP (the customer
// page of the long customer holds its history; the dashboard is served
// without a pass over the customers) beside their baselines.
func TestWeb(t *testing.T) {
	rs, err := Web(context.Background(), t.TempDir(), WebConfig{Customers: 300, History: 200, Requests: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Page != "customer" || rs[1].Page != "dashboard" {
		t.Fatalf("results %+v", rs)
	}
	for _, r := range rs {
		if r.Requests != 5 || r.Customers != 300 || !(r.MeanMS > 0) || r.P99MS < r.LatencyMS || r.Bytes == 0 || r.BaselineLatencyMS <= 0 || r.Baseline == "" || r.Events != 300*3+200 {
			t.Errorf("incomplete %s result %+v", r.Page, r)
		}
	}
	if rs[1].Passes != 0 || rs[1].FirstPassMS <= 0 {
		t.Errorf("dashboard: %d passes during the requests (want 0), first pass %v ms", rs[1].Passes, rs[1].FirstPassMS)
	}
	if rs[0].Bytes < 200*200 {
		t.Errorf("the long customer's page is %d bytes for 200 events", rs[0].Bytes)
	}
}
