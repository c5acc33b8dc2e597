package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/web"
)

// benchUI is the web page over a log of customers × perCustomer events
// (visits and purchases), without access control.
func benchUI(b *testing.B, customers, perCustomer int) *web.UI {
	b.Helper()
	dir := b.TempDir()
	st, err := eventstore.Open(filepath.Join(dir, "log"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	var reqs []eventstore.Request
	flush := func() {
		if len(reqs) == 0 {
			return
		}
		if _, err := st.Append(context.Background(), reqs); err != nil {
			b.Fatal(err)
		}
		reqs = reqs[:0]
	}
	base := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	for c := range customers {
		for i := range perCustomer {
			at := base.Add(time.Duration(i*7+c%5) * time.Hour)
			kind, data := journey.KindVisit, map[string]any{"channel": "store", "store_id": "store-042"}
			if i%3 == 1 {
				kind, data = journey.KindPurchase, map[string]any{"order_id": fmt.Sprintf("o-%d-%d", c, i), "amount": "19.90", "currency": "EUR", "items": 2}
			}
			reqs = append(reqs, request(b, fmt.Sprintf("b-%d-%d", c, i), "pos/store-042/till-1", kind, fmt.Sprintf("cust-%06d", c), at, data))
			if len(reqs) == 1000 {
				flush()
			}
		}
	}
	flush()
	now := base.Add(time.Duration(perCustomer*7+24) * time.Hour)
	v, err := projections.Open(filepath.Join(dir, "views"), st, &projections.Options{Clock: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = v.Close() })
	if _, err := v.CatchUp(context.Background()); err != nil {
		b.Fatal(err)
	}
	return web.New(web.Options{Store: st, Views: v})
}

// benchPage renders path b.N times and reports the p99 besides the mean.
func benchPage(b *testing.B, ui *web.UI, path string) {
	b.Helper()
	var took []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		w := httptest.NewRecorder()
		ui.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		took = append(took, time.Since(t0))
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, w.Code, w.Body.String())
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkCustomerPage: the page of a customer with 1,000 events.
func BenchmarkCustomerPage(b *testing.B) {
	benchPage(b, benchUI(b, 1, 1000), "/ui/customers/cust-000000")
}

// BenchmarkDashboard: the dashboard over 10,000 customers (a pass over
// the states per request: the aggregates are not kept by the projector).
func BenchmarkDashboard(b *testing.B) {
	benchPage(b, benchUI(b, 10_000, 3), "/ui/dashboard")
}
