package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/web"
)

// One headless Chromium per test binary, started by the first browser
// test; each test gets its own tab.
var (
	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  error
	browserStop func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if browserStop != nil {
		browserStop()
	}
	os.Exit(code)
}

// findBrowser is the Chromium to drive: $JOURNEY_CHROMIUM, else the
// first of the usual names on $PATH.
func findBrowser() string {
	if p := os.Getenv("JOURNEY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// tab is a new browser tab for t; at the end of the test every console
// error or warning, uncaught exception and browser-log error it saw fails
// the test, but those whose text holds one of allow.
func tab(t *testing.T, allow ...string) context.Context {
	t.Helper()
	path := findBrowser()
	if path == "" {
		t.Skip("no browser: install Chromium (apt-get install -y chromium, or make browser) or set $JOURNEY_CHROMIUM")
	}
	browserOnce.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
			chromedp.WindowSize(1024, 900), chromedp.Flag("disable-dev-shm-usage", true))
		actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelB := chromedp.NewContext(actx)
		_, browserErr = chromedp.Run(bctx, chromedp.Title()) // start the browser
		browserCtx, browserStop = bctx, func() { cancelB(); cancelA() }
	})
	if browserErr != nil {
		t.Fatalf("starting %s: %v", path, browserErr)
	}
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext()) // its own cookies
	msgs := chromedp.Console(ctx)
	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				mu.Lock()
				problems = append(problems, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	}()
	tctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		time.Sleep(100 * time.Millisecond) // the last page's messages
		cancelT()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
	next:
		for _, p := range problems {
			for _, a := range allow {
				if strings.Contains(p, a) {
					continue next
				}
			}
			t.Errorf("browser: %s", p)
		}
	})
	return tctx
}

// artifacts is where the screenshots go: $JOURNEY_ARTIFACTS, else
// testdata/artifacts (gitignored).
func artifacts(t *testing.T) string {
	dir := os.Getenv("JOURNEY_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(artifacts(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", p, len(png))
}

// TestBrowserJourney drives a real Chromium through the pages: log in
// with a token, search by id prefix, open a customer, read the timeline,
// switch as-of, open the dashboard and follow a heat-map cell to its
// customers; no page logs a console error (a CSP violation included) and
// no touchpoint text runs as script.
func TestBrowserJourney(t *testing.T) {
	ctx := tab(t)
	s := newSite(t, true)
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	str := func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	num := func(expr string) int {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	text := func(sel string) string { t.Helper(); return str(chromedp.Text(chromedp.CSS(sel))) }

	// Log in: the first page sends us to the login form.
	do("open", chromedp.Navigate(s.srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := str(chromedp.Location()); !strings.Contains(loc, "/ui/login") {
		t.Fatalf("without a cookie the browser is at %s, want the login page", loc)
	}
	do("log in", chromedp.SendKeys(chromedp.ID("token"), s.tokens[auth.Admin]), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("q")))
	if title := str(chromedp.Title()); title != "Find a customer · journey" {
		t.Errorf("after login the title is %q", title)
	}
	// Search by id prefix and open the customer.
	// By keyboard: the search box has the focus, Tab goes on to its button,
	// and Enter in the box searches.
	if got := str(chromedp.Evaluate[string](`document.activeElement.id`)); got != "q" {
		t.Errorf("the search page opens with the focus on %q, want the search box", got)
	}
	do("tab", chromedp.KeyEvent(kb.Tab))
	if got := str(chromedp.Evaluate[string](`document.activeElement.textContent`)); got != "Search" {
		t.Errorf("Tab from the search box focuses %q, want its button", got)
	}
	do("search", chromedp.SendKeys(chromedp.ID("q"), "cust-al"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("table.list")))
	if got := text("table.list tbody"); !strings.Contains(got, "cust-alice") || strings.Contains(got, "cust-00") {
		t.Errorf("results for cust-al: %q", got)
	}
	do("open the customer", chromedp.Click(chromedp.CSS("table.list tbody a")), chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
	if title := str(chromedp.Title()); title != "Customer cust-alice · journey" {
		t.Errorf("customer page title %q (did touchpoint script run?)", title)
	}
	tl := text("ol.timeline")
	for _, want := range []string{"Bought 2 items for 12.50 EUR (order o-1)", "Bought 1 item for 1500 JPY", "Complained about delivery",
		"Gave feedback: NPS 3 — “" + xssComment + "”", "Visited store store-042"} {
		if !strings.Contains(tl, want) {
			t.Errorf("the timeline does not read %q:\n%s", want, tl)
		}
	}
	if n := num(`document.scripts.length + document.querySelectorAll("main b, main img, main svg[onload]").length`); n != 0 {
		t.Errorf("the page holds %d scripts or injected elements", n)
	}
	do("open the raw record", chromedp.Click(chromedp.CSS("ol.timeline li:first-child summary")))
	if n := num(`document.querySelector("ol.timeline li:first-child details").open ? 1 : 0`); n != 1 {
		t.Error("the record's details did not open")
	}
	if rec := text("ol.timeline li:first-child dl.record"); !strings.Contains(rec, "hash") || !strings.Contains(rec, "seq") {
		t.Errorf("the record details read %q", rec)
	}
	if reason := text("p.reason"); !strings.Contains(reason, "since the last purchase") {
		t.Errorf("the churn reason reads %q", reason)
	}
	if n := num(`document.querySelectorAll("#trend + figure svg polyline, #trend + figure svg circle").length`); n < 3 {
		t.Errorf("the satisfaction trend has %d line and points, want a line and a point per signal", n)
	}
	screenshot(t, ctx, "customer")
	// As of an earlier day: the later events are gone.
	do("as of", chromedp.SetValue(chromedp.ID("as_of"), "2025-01-07"), chromedp.Submit(chromedp.ID("as_of")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="?"]`)))
	loc, tl := str(chromedp.Location()), text("ol.timeline")
	if !strings.Contains(loc, "as_of=2025-01-07") || strings.Contains(tl, "JPY") || !strings.Contains(tl, "12.50 EUR") {
		t.Errorf("as of 2025-01-07 (%s) the timeline reads %q", loc, tl)
	}
	// The dashboard, and the customers behind a heat-map cell.
	do("dashboard", chromedp.Navigate(s.srv.URL+"/ui/dashboard"), chromedp.WaitVisible(chromedp.CSS("table.heat")))
	if f := text("#funnel + figure"); !strings.Contains(f, "prospect") || !strings.Contains(f, "repeat") {
		t.Errorf("the funnel reads %q", f)
	}
	if n := num(`document.querySelectorAll("#events + figure svg rect").length`); n != web.DashboardDays {
		t.Errorf("the events chart has %d days, want %d", n, web.DashboardDays)
	}
	if c := text("#computed"); !strings.Contains(c, "Counted at") {
		t.Errorf("the dashboard does not say when it was counted: %q", c)
	}
	screenshot(t, ctx, "dashboard")
	// A month's new customers, from their column.
	newHref := str(chromedp.Evaluate[string](`document.querySelector('#newlost + figure a[href*="new="]').getAttribute("href")`))
	newN := num(fmt.Sprintf(`+document.querySelector('#newlost + figure a[href=%q] title').textContent.split(": ")[1]`, newHref))
	do("follow a new-customers column", chromedp.Navigate(s.srv.URL+newHref), chromedp.WaitVisible(chromedp.ID("results")))
	if rows := num(`document.querySelectorAll("table.list tbody tr").length`); rows != newN || newN == 0 {
		t.Errorf("the column %s says %d new customers; its list shows %d", newHref, newN, rows)
	}
	do("back to the dashboard", chromedp.Navigate(s.srv.URL+"/ui/dashboard"), chromedp.WaitVisible(chromedp.CSS("table.heat")))
	href := str(chromedp.Evaluate[string](`[...document.querySelectorAll("table.heat td a")].find(a => a.querySelector(".n").textContent.trim() !== "0").getAttribute("href")`))
	want := num(fmt.Sprintf(`+document.querySelector('table.heat a[href=%q] .n').textContent`, href))
	if want == 0 {
		t.Fatalf("no heat-map cell has customers")
	}
	do("follow the cell by keyboard", chromedp.Focus(chromedp.CSS(fmt.Sprintf(`table.heat a[href=%q]`, href))), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("results")))
	rows := num(`document.querySelectorAll("table.list tbody tr").length`)
	if h := text("#results"); rows != want || !strings.Contains(h, "with R =") {
		t.Errorf("the cell %s says %d customers; its list (%q) shows %d", href, want, h, rows)
	}
	// The audit page: the quarantined input is text, not markup.
	do("audit", chromedp.Navigate(s.srv.URL+"/ui/audit"), chromedp.WaitVisible(chromedp.ID("quarantine")))
	if title, q := str(chromedp.Title()), text("section[aria-labelledby=quarantine] table.list tbody"); title != "Audit · journey" || !strings.Contains(q, "not a number: "+xssComment) {
		t.Errorf("audit page title %q, quarantine %q", title, q)
	}
}

// TestBrowserRefusesReader: a reader who logs in on the way to the
// dashboard is refused with 403, told which role it needs.
func TestBrowserRefusesReader(t *testing.T) {
	ctx := tab(t, "status of 403")
	s := newSite(t, true)
	err := chromedp.Do(ctx, chromedp.Navigate(s.srv.URL+"/ui/dashboard"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), s.tokens[auth.Reader]), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".notice")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "has role reader; this page needs analyst") {
		t.Errorf("the reader at the dashboard reads %q", text)
	}
}
