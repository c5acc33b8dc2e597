package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

// The values of cust-bidi's touchpoints: a right-to-left override (which,
// shown as is, reverses the page's own words after it) and a BEL.
const (
	rloStore  = "\u202eevil\a"
	rloCat    = "deli\u202every"
	rloTrait  = "nick\u202ename"
	rloReason = "bad\u202e amount\a"
)

// appendBidi gives the site a customer cust-bidi whose touchpoints carry
// bidi overrides and control characters: two complaint cases (case-b1
// resolved, with its resolution; case-b2 open), a visit, a profile, and
// a quarantined input.
func appendBidi(t testing.TB, s *site) {
	t.Helper()
	events := []struct {
		kind journey.Kind
		data map[string]any
	}{
		{journey.KindProfile, map[string]any{"kind": "individual", "traits": map[string]any{"nickname": rloTrait}}},
		{journey.KindVisit, map[string]any{"channel": "store", "store_id": rloStore}},
		{journey.KindComplaint, map[string]any{"case_id": "case-b1", "severity": "high", "category": rloCat}},
		{journey.KindComplaintResolved, map[string]any{"case_id": "case-b1", "outcome": "resolved"}},
		{journey.KindComplaint, map[string]any{"case_id": "case-b2", "severity": "low", "category": rloCat}},
	}
	var reqs []eventstore.Request
	for i, e := range events {
		reqs = append(reqs, request(t, fmt.Sprintf("bidi-%d", i), "web/1", e.kind, "cust-bidi", t0.Add(time.Duration(i)*time.Hour), e.data))
	}
	if _, err := s.store.Append(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Quarantine(context.Background(), eventstore.QuarantineEntry{Code: journey.CodeInvalidJSON, Field: "data.amount",
		Reason: rloReason, Origin: "http", Raw: []byte("{\"bad\":\"\u202e\a\"}")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.views.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestTouchpointValuesIsolated: the customer and audit pages show each
// touchpoint value in its own <bdi>, with its control and bidi formatting
// characters as visible escapes (none raw in the HTML), and each case
// anchor id once, on the complaint, where the open case links.
func TestTouchpointValuesIsolated(t *testing.T) {
	s := newSite(t, false)
	appendBidi(t, s)
	c := s.client(t)
	_, _, page := get(t, c, s.srv.URL+"/ui/customers/cust-bidi")
	_, _, audit := get(t, c, s.srv.URL+"/ui/audit")
	for what, body := range map[string]string{"customer page": page, "audit page": audit} {
		if i := strings.IndexAny(body, "\u202e\a"); i >= 0 {
			t.Errorf("the %s has a raw %q: …%s…", what, body[i:i+len(string([]rune(body[i:])[:1]))], body[max(0, i-80):i])
		}
	}
	contains(t, "customer page", page,
		`Visited store <bdi>\u202eevil\x07</bdi>.`,
		`Complained about <bdi>deli\u202every</bdi> (<bdi>high</bdi> severity); case <bdi>case-b1</bdi>.`,
		`Case <bdi>case-b1</bdi> closed: <bdi>resolved</bdi>.`,
		`<dt><bdi>nickname</bdi></dt><dd><bdi>nick\u202ename</bdi></dd>`,
		`<a href="#case-case-b2">Case <bdi>case-b2</bdi></a> — <bdi>low</bdi> severity`,
		`\u202eevil\u0007`, // the raw event: its JSON's own escape, and the override as one
	)
	contains(t, "audit page", audit, `<td><bdi>bad\u202e amount\x07</bdi></td>`, `{&#34;bad&#34;:&#34;\u202e\x07&#34;}`)
	for _, c := range []struct{ id, kind string }{{"case-b1", "complaint"}, {"case-b2", "complaint"}} {
		if n := strings.Count(page, `id="case-`+c.id+`"`); n != 1 {
			t.Errorf("id case-%s is in the page %d times, want once", c.id, n)
		}
		if !strings.Contains(page, `<li class="ev `+c.kind+`" id="case-`+c.id+`"`) {
			t.Errorf("id case-%s is not on the %s", c.id, c.kind)
		}
	}
}

// TestBrowserBidiIsolated: in the browser, cust-bidi's page has no
// duplicate id, shows no raw override or control character, the open
// case's link leads to its complaint, and a value's override stays in
// its <bdi>.
func TestBrowserBidiIsolated(t *testing.T) {
	ctx := tab(t)
	s := newSite(t, false)
	appendBidi(t, s)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.srv.URL+"/ui/customers/cust-bidi"), chromedp.WaitVisible(chromedp.CSS("ol.timeline"))); err != nil {
		t.Fatal(err)
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	if dup := eval(`(() => { const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
		return ids.filter((id, i) => ids.indexOf(id) !== i).join(' ') })()`); dup != "" {
		t.Errorf("duplicate ids: %s", dup)
	}
	if raw := eval(`(() => { const m = document.body.innerText.match(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/); return m ? escape(m[0]) : "" })()`); raw != "" {
		t.Errorf("the page shows a raw %s", raw)
	}
	if got := eval(`document.querySelector(document.querySelector('a[href^="#case-"]').getAttribute('href')).className`); got != "ev complaint" {
		t.Errorf("the open case links to %q, want its complaint", got)
	}
	if got := eval(`document.querySelector('li.ev.visit p.sentence bdi').textContent`); got != `\u202eevil\x07` {
		t.Errorf("the visit's store shows as %q", got)
	}
}
