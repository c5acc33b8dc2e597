package handlers

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/checkpoint"
)

// TestOpenAPIMatchesRoutes: /v1/openapi.json is OpenAPI 3.1 and names
// exactly the routes the HTTP surface registers (method and path), each
// with the roles that may call it; it is served without a token.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	r := newAuthRig(t)
	code, hdr, body := r.do(t, "GET", "/v1/openapi.json", "", nil)
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", code, hdr.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if roles, _ := op["x-roles"].([]any); len(roles) == 0 {
				t.Errorf("%s %s names no x-roles", method, path)
			}
		}
	}
	// Every route registered with everything configured (metrics, checkpoints).
	kp, err := checkpoint.OpenKeeper(t.TempDir(), r.q.Store, checkpoint.KeeperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHTTPHandler(HTTPOptions{Store: r.q.Store, Views: r.q.Views, Metrics: NewMetrics(), Checkpoints: kp}).(jsonErrors).h
	registered := slices.Clone(h.routes)
	slices.Sort(documented)
	slices.Sort(registered)
	for _, p := range registered {
		if !slices.Contains(documented, p) {
			t.Errorf("route %s is registered but not in openapi.json", p)
		}
	}
	for _, p := range documented {
		if !slices.Contains(registered, p) {
			t.Errorf("openapi.json names %s, which is not a registered route", p)
		}
	}
	if len(registered) < 20 {
		t.Errorf("only %d routes registered: %v", len(registered), registered)
	}
}

// TestCustomerList: GET /v1/customers pages the customers by id prefix
// (reader or analyst); every customer at once and the population filters
// need analyst; bad
// parameters are 400 naming the field.
func TestCustomerList(t *testing.T) {
	r := newAuthRig(t)
	var page struct {
		Customers []struct {
			Customer string `json:"customer"`
			Stage    string `json:"stage"`
		} `json:"customers"`
		NextAfter string `json:"next_after"`
	}
	get := func(path, who string, want int) {
		t.Helper()
		code, _, b := r.do(t, "GET", path, who, nil)
		if code != want {
			t.Fatalf("GET %s as %s: %d %s, want %d", path, who, code, b, want)
		}
		page.Customers, page.NextAfter = nil, ""
		if code == 200 {
			if err := json.Unmarshal(b, &page); err != nil {
				t.Fatal(err)
			}
		}
	}
	get("/v1/customers?prefix=cust-&limit=2", "reader", 200)
	if len(page.Customers) != 2 || page.Customers[0].Customer != "cust-0" || page.Customers[1].Customer != "cust-1" || page.NextAfter != "cust-1" {
		t.Fatalf("first page %+v", page)
	}
	get("/v1/customers?prefix=cust-&limit=2&after=cust-1", "reader", 200)
	if len(page.Customers) != 1 || page.Customers[0].Customer != "cust-2" || page.NextAfter != "" {
		t.Fatalf("second page %+v", page)
	}
	get("/v1/customers?prefix=nobody", "reader", 200)
	if len(page.Customers) != 0 {
		t.Fatalf("prefix nobody: %+v", page)
	}
	get("/v1/customers?trait=email:nobody@example.com", "reader", 200)
	if len(page.Customers) != 0 {
		t.Fatalf("trait search: %+v", page)
	}
	get("/v1/customers?stage=prospect", "analyst", 200)
	if len(page.Customers) != 3 || page.Customers[0].Stage != "prospect" {
		t.Fatalf("stage prospect: %+v", page)
	}
	get("/v1/customers?stage=loyal", "analyst", 200)
	if len(page.Customers) != 0 {
		t.Fatalf("stage loyal: %+v", page)
	}
	get("/v1/customers?segment=churn:active&r=1", "analyst", 200)
	// New in a month: the month cust-0 was first seen holds the three.
	_, _, one := r.do(t, "GET", "/v1/customers/cust-0", "reader", nil)
	var ans struct {
		State struct {
			FirstSeen time.Time `json:"first_seen"`
		} `json:"state"`
	}
	if err := json.Unmarshal(one, &ans); err != nil || ans.State.FirstSeen.IsZero() {
		t.Fatalf("cust-0: %s %v", one, err)
	}
	get("/v1/customers?new="+ans.State.FirstSeen.UTC().Format("2006-01"), "analyst", 200)
	if len(page.Customers) != 3 {
		t.Fatalf("new in %s: %+v, want the 3", ans.State.FirstSeen.Format("2006-01"), page)
	}
	get("/v1/customers?new=1999-01", "analyst", 200)
	if len(page.Customers) != 0 {
		t.Fatalf("new in 1999-01: %+v", page)
	}
	get("/v1/customers?lost=1999-01", "analyst", 200)
	get("/v1/customers?new=1999-01", "reader", 403)
	get("/v1/customers?stage=prospect", "reader", 403)
	// Every customer at once is a population list too: a reader looks
	// customers up by prefix or trait.
	get("/v1/customers", "reader", 403)
	get("/v1/customers?limit=1000", "reader", 403)
	get("/v1/customers", "analyst", 200)
	if len(page.Customers) != 3 {
		t.Fatalf("analyst, every customer: %+v", page)
	}
	get("/v1/customers?prefix=cust", "writer", 403)
	get("/v1/customers", "", 401)
	for path, field := range map[string]string{
		"/v1/customers?limit=0":         "limit",
		"/v1/customers?r=6":             "r",
		"/v1/customers?stage=gold":      "stage",
		"/v1/customers?segment=nothing": "segment",
		"/v1/customers?as_of=yesterday": "as_of",
		"/v1/customers?trait=email":     "trait",
		"/v1/customers?new=2025-13":     "new",
		"/v1/customers?lost=march":      "lost",
	} {
		code, _, b := r.do(t, "GET", path, "admin", nil)
		if e := errorOf(t, b); code != http.StatusBadRequest || e.Field != field {
			t.Errorf("GET %s: %d %s, want 400 naming %s", path, code, b, field)
		}
	}
}
