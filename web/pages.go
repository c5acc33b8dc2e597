package web

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// MaxTimeline is the most events a customer page shows (the newest).
const MaxTimeline = 2000

// MaxTrendPoints is the most signal instants the satisfaction trend of a
// customer page draws (evenly spread over a longer history).
const MaxTrendPoints = 60

// parseAsOf reads the as_of parameter: a date (YYYY-MM-DD: the end of that
// day, UTC), an RFC 3339 instant, or the datetime-local form
// (2006-01-02T15:04, UTC); empty: now.
func parseAsOf(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04", v); err == nil {
		return t, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("as of %q is not a date (YYYY-MM-DD) nor an RFC 3339 time", v)
	}
	if rule := journey.TimeRangeRule(d); rule != "" {
		return time.Time{}, fmt.Errorf("as of %q %s", v, rule)
	}
	return d.Add(24*time.Hour - time.Nanosecond), nil
}

// readError is err as words for a page, and its status.
func readError(err error) (int, string) {
	var le *projections.ListError
	switch {
	case errors.Is(err, projections.ErrNotFound):
		return http.StatusNotFound, "No such customer."
	case errors.As(err, &le):
		return http.StatusBadRequest, "The " + le.Field + " " + le.Rule + "."
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "The request was cancelled."
	}
	return http.StatusServiceUnavailable, "The views could not be read; try again."
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	u.render(w, r, status, "error", &view{Title: "Cannot show this page", S: s, Message: msg})
}

// searchData is the search and list page.
type searchData struct {
	Q, Trait, Stage, Segment string
	New, Lost                string // YYYY-MM: first seen, lost in that month
	R, FM                    int
	Exact                    string // the id that matched exactly
	Page                     *projections.ListPage
	NextURL                  string
	Population               bool // a population filter was asked
	Analyst                  bool
	Stages                   []string
}

func (u *UI) search(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := &searchData{Q: strings.TrimSpace(q.Get("q")), Trait: strings.TrimSpace(q.Get("trait")), Stage: q.Get("stage"), Segment: q.Get("segment"),
		New: q.Get("new"), Lost: q.Get("lost"), Analyst: s.may(auth.Analyst), Stages: customer.Stages()}
	v := &view{Title: "Find a customer", S: s, AsOf: q.Get("as_of"), Data: d}
	asOf, err := parseAsOf(v.AsOf)
	if err != nil {
		v.Message = err.Error()
		u.render(w, r, http.StatusBadRequest, "search", v)
		return
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"r", &d.R}, {"fm", &d.FM}} {
		if x := q.Get(f.name); x != "" {
			n, err := strconv.Atoi(x)
			if err != nil || n < 1 || n > 5 {
				v.Message = "The " + f.name + " score must be a whole number from 1 to 5."
				u.render(w, r, http.StatusBadRequest, "search", v)
				return
			}
			*f.dst = n
		}
	}
	d.Population = d.Stage != "" || d.Segment != "" || d.R > 0 || d.FM > 0 || d.New != "" || d.Lost != ""
	if d.Population && !d.Analyst {
		v.Message = "Listing customers by stage, segment or RFM cell needs the analyst role; search by id instead."
		u.render(w, r, http.StatusForbidden, "search", v)
		return
	}
	if d.Trait == "" && strings.Contains(d.Q, "@") {
		d.Q, d.Trait = "", "email:"+d.Q // an email address: the profile trait
	}
	if d.Q == "" && d.Trait == "" && !d.Population {
		u.render(w, r, http.StatusOK, "search", v)
		return
	}
	if u.o.Views == nil {
		v.Message = "The views are not served here."
		u.render(w, r, http.StatusServiceUnavailable, "search", v)
		return
	}
	lq := projections.ListQuery{Prefix: d.Q, Trait: d.Trait, After: q.Get("after"), Limit: 50, AsOf: asOf,
		Stage: d.Stage, Segment: d.Segment, R: d.R, FM: d.FM, NewIn: d.New, LostIn: d.Lost}
	page, err := u.o.Views.CustomerList(r.Context(), lq)
	if err != nil {
		status, msg := readError(err)
		v.Message = msg
		u.render(w, r, status, "search", v)
		return
	}
	d.Page = page
	if len(page.Customers) > 0 && page.Customers[0].Customer == d.Q {
		d.Exact = d.Q
	}
	if page.NextAfter != "" {
		nq := url.Values{}
		for k, vs := range q {
			if k != "after" {
				nq[k] = vs
			}
		}
		nq.Set("after", page.NextAfter)
		d.NextURL = "/ui/customers?" + nq.Encode()
	}
	u.render(w, r, http.StatusOK, "search", v)
}

// customerData is the customer page.
type customerData struct {
	A            *customer.Answer
	ChurnReason  string
	Revenue      []moneyLine
	Refunds      []moneyLine
	Timeline     []entry
	TimelineHTML []template.HTML // renderTimeline(Timeline), one piece per entry
	Truncated    bool            // more events than MaxTimeline
	Traits       []kv
	Open         []customer.Complaint
	AsOfValue    string // for the date input
	SatChart     chart
	Trend        chart // the satisfaction score after each signal
	Analyst      bool  // the tags link to their lists
}

type kv struct{ K, V string }

type moneyLine struct{ Currency, Amount string }

func moneyLines(m customer.Money) []moneyLine {
	var out []moneyLine
	for cur, v := range m {
		out = append(out, moneyLine{cur, journey.FormatAmount(v, cur)})
	}
	slices.SortFunc(out, func(a, b moneyLine) int { return strings.Compare(a.Currency, b.Currency) })
	return out
}

func (u *UI) customer(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	v := &view{Title: "Customer " + id, S: s, AsOf: r.URL.Query().Get("as_of")}
	asOf, err := parseAsOf(v.AsOf)
	if err != nil {
		u.fail(w, r, s, http.StatusBadRequest, err.Error())
		return
	}
	if u.o.Views == nil || u.o.Store == nil {
		u.fail(w, r, s, http.StatusServiceUnavailable, "The views are not served here.")
		return
	}
	if !journey.ValidCustomerID(id) {
		u.fail(w, r, s, http.StatusNotFound, "No such customer.")
		return
	}
	a, err := u.o.Views.Customer(r.Context(), id, asOf)
	if err != nil {
		status, msg := readError(err)
		u.fail(w, r, s, status, msg)
		return
	}
	tl, truncated, err := u.timeline(r.Context(), id, asOf)
	if err != nil {
		status, msg := readError(err)
		u.fail(w, r, s, status, msg)
		return
	}
	d := &customerData{A: a, ChurnReason: churnReason(a), Revenue: moneyLines(a.State.Revenue),
		Refunds: moneyLines(a.State.Refunds), Timeline: tl, Truncated: truncated, Open: a.State.OpenComplaints,
		Analyst: s.may(auth.Analyst)}
	for k, val := range a.State.Traits {
		d.Traits = append(d.Traits, kv{k, val})
	}
	slices.SortFunc(d.Traits, func(a, b kv) int { return strings.Compare(a.K, b.K) })
	if !asOf.IsZero() {
		d.AsOfValue = asOf.Format(time.DateOnly)
	}
	d.SatChart = scoreChart(a.State.Signals)
	var trend []trendPoint
	for _, p := range u.o.Views.SatisfactionTrend(a.State, a.AsOf, MaxTrendPoints) {
		trend = append(trend, trendPoint{T: p.At, V: p.Score})
	}
	d.Trend = trendChart("Satisfaction over time", trend)
	d.TimelineHTML = renderTimeline(tl)
	for _, h := range d.TimelineHTML {
		v.size += len(h)
	}
	v.Data = d
	if u.o.Auth != nil && u.o.Auth.OnCustomerRead != nil && !s.open {
		u.o.Auth.OnCustomerRead(s.p, id, "GET /ui/customers/{id}")
	}
	u.render(w, r, http.StatusOK, "customer", v)
}

// timeline reads the customer's events (time ≤ asOf when given), newest
// first: the last MaxTimeline of the log's order (a customer with more
// keeps only those in memory), described and sorted by event time.
func (u *UI) timeline(ctx context.Context, id string, asOf time.Time) ([]entry, bool, error) {
	var keep []eventstore.Record
	var after uint64
	truncated := false
	for {
		recs, err := u.o.Store.CustomerEvents(ctx, id, after, 256)
		if err != nil {
			return nil, false, err
		}
		for i := range recs {
			after = recs[i].Version
			if !asOf.IsZero() && recs[i].EventTime.After(asOf) {
				continue
			}
			keep = append(keep, recs[i])
		}
		if len(keep) > 2*MaxTimeline {
			keep, truncated = slices.Delete(keep, 0, len(keep)-MaxTimeline), true
		}
		if len(recs) < 256 {
			break
		}
	}
	if len(keep) > MaxTimeline {
		keep, truncated = keep[len(keep)-MaxTimeline:], true
	}
	out := make([]entry, len(keep))
	for i := range keep {
		out[len(keep)-1-i] = describe(&keep[i])
	}
	slices.SortStableFunc(out, func(a, b entry) int { return b.Time.Compare(a.Time) })
	return out, truncated, nil
}

// churnReason puts the churn status in words.
func churnReason(a *customer.Answer) string {
	if a.RecencyDays == nil {
		if a.Churn == customer.ChurnChurned {
			return "No purchase, and not seen for more than a year."
		}
		return "No purchase yet."
	}
	rec := int(*a.RecencyDays)
	gap := a.ExpectedGapDays
	days := func(n int) string {
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	s := days(rec) + " since the last purchase; they usually buy every " + days(int(gap+0.5))
	switch {
	case a.Churn == customer.ChurnChurned && a.PAlive != nil && *a.PAlive < customer.MinPAlive:
		s += fmt.Sprintf(", and the chance they are still a customer is %.0f%%", *a.PAlive*100)
	case a.Churn == customer.ChurnChurned && float64(rec) > 365:
		s += ", and it is more than a year"
	case a.Churn == customer.ChurnChurned:
		s += fmt.Sprintf(" (churned past %d× that)", customer.ChurnedGaps)
	case a.Churn == customer.ChurnAtRisk:
		s += fmt.Sprintf(" (at risk past %d× that)", customer.AtRiskGaps)
	}
	return s + "."
}

// dashboardData is the dashboard.
type dashboardData struct {
	O           *projections.Overview
	Funnel      chart
	ChurnBars   chart
	NPS         chart
	NewLost     chart
	EventsDay   chart
	Grid        [][]cell
	Currency    string   // the currency of the cells' revenue
	Others      []string // the other currencies with revenue
	Quarantine  uint64
	AsOfValue   string
	Kept        bool          // the overview of now, kept in the background
	Staleness   time.Duration // how stale it may be (besides its pass)
	EventsShown int           // the days of the events chart
}

type cell struct {
	R, FM, N int
	Level    int    // 0..5, the heat of the cell
	Revenue  string // in the main currency ("" none)
	All      string // every currency, for the cell's label
	Href     string
}

// DashboardDays is how many days the events-per-day chart shows (ending
// at the as-of day), DashboardMonths how many months the new and lost chart.
const (
	DashboardDays   = 90
	DashboardMonths = 24
)

func (u *UI) dashboard(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Dashboard", S: s, AsOf: r.URL.Query().Get("as_of")}
	asOf, err := parseAsOf(v.AsOf)
	if err != nil {
		u.fail(w, r, s, http.StatusBadRequest, err.Error())
		return
	}
	if u.o.Views == nil || u.ov == nil {
		u.fail(w, r, s, http.StatusServiceUnavailable, "The views are not served here.")
		return
	}
	o, err := u.ov.At(r.Context(), asOf)
	if err != nil {
		status, msg := readError(err)
		u.fail(w, r, s, status, msg)
		return
	}
	asOfQ := ""
	if v.AsOf != "" {
		asOfQ = "&as_of=" + url.QueryEscape(v.AsOf)
	}
	d := &dashboardData{O: o, Kept: asOf.IsZero(), Staleness: u.ov.Every().Round(100 * time.Millisecond)}
	if u.o.Store != nil {
		d.Quarantine = u.o.Store.QuarantineCount()
	}
	if !asOf.IsZero() {
		d.AsOfValue = asOf.Format(time.DateOnly)
	}
	var funnel, churn []bar
	for _, st := range customer.Stages() {
		funnel = append(funnel, bar{Label: st, N: float64(o.Stages[st]), Href: "/ui/customers?stage=" + st + asOfQ})
	}
	for _, c := range []string{customer.ChurnActive, customer.ChurnAtRisk, customer.ChurnChurned} {
		churn = append(churn, bar{Label: c, N: float64(o.Churn[c]), Href: "/ui/customers?segment=churn:" + c + asOfQ})
	}
	d.Funnel = barChart("Customers by stage", funnel)
	d.ChurnBars = barChart("Customers by churn status", churn)
	d.NPS = npsChart(o.NPS)
	d.NewLost = newLostChart(o, asOfQ)
	d.EventsDay, d.EventsShown = eventsChart(o)

	// The cells' revenue: the currency most customers paid in; the others
	// are named under the grid.
	for cur, n := range o.Currencies {
		if d.Currency == "" || n > o.Currencies[d.Currency] || n == o.Currencies[d.Currency] && cur < d.Currency {
			d.Currency = cur
		}
	}
	for cur := range o.Currencies {
		if cur != d.Currency {
			d.Others = append(d.Others, cur)
		}
	}
	slices.Sort(d.Others)
	most := 1
	for _, row := range o.Grid {
		for _, n := range row {
			most = max(most, n)
		}
	}
	for ri := 4; ri >= 0; ri-- { // R 5 (recent) on top
		var row []cell
		for fi := range 5 {
			n := o.Grid[ri][fi]
			lvl := 0
			if n > 0 {
				lvl = 1 + 4*n/most
			}
			c := cell{R: ri + 1, FM: fi + 1, N: n, Level: min(lvl, 5),
				Href: fmt.Sprintf("/ui/customers?r=%d&fm=%d%s", ri+1, fi+1, asOfQ)}
			rev := o.GridRevenue[ri][fi]
			if amt, ok := rev[d.Currency]; ok {
				c.Revenue = journey.FormatAmount(amt, d.Currency)
			}
			var all []string
			for _, m := range moneyLines(rev) {
				all = append(all, m.Amount+" "+m.Currency)
			}
			c.All = strings.Join(all, ", ")
			row = append(row, c)
		}
		d.Grid = append(d.Grid, row)
	}
	v.Data = d
	u.render(w, r, http.StatusOK, "dashboard", v)
}

// newLostChart draws the new and the lost customers of the last
// DashboardMonths months with either, each column a link to its list.
func newLostChart(o *projections.Overview, asOfQ string) chart {
	seen := map[string]bool{}
	for m := range o.NewByMonth {
		seen[m] = true
	}
	for m := range o.LostByMonth {
		seen[m] = true
	}
	var months []string
	for m := range seen {
		months = append(months, m)
	}
	slices.Sort(months)
	if len(months) > DashboardMonths {
		months = months[len(months)-DashboardMonths:]
	}
	// Every month between the first and the last, the empty ones too.
	var all []string
	if len(months) > 0 {
		t, _ := time.Parse("2006-01", months[0])
		end, _ := time.Parse("2006-01", months[len(months)-1])
		for ; !t.After(end); t = t.AddDate(0, 1, 0) {
			all = append(all, t.Format("2006-01"))
		}
	}
	nw := make([]float64, len(all))
	lost := make([]float64, len(all))
	for i, m := range all {
		nw[i], lost[i] = float64(o.NewByMonth[m]), float64(o.LostByMonth[m])
	}
	return columnChart("New and lost customers by month", all, []series{
		{Name: "new", Class: "bar", N: nw, Href: func(i int) string { return "/ui/customers?new=" + all[i] + asOfQ }},
		{Name: "lost", Class: "bar neg", N: lost, Href: func(i int) string { return "/ui/customers?lost=" + all[i] + asOfQ }},
	})
}

// eventsChart draws the events per day of the DashboardDays days up to the
// overview's as-of day (or its last day with events, when that is
// earlier).
func eventsChart(o *projections.Overview) (chart, int) {
	if len(o.EventsByDay) == 0 {
		return chart{Desc: "No events yet."}, 0
	}
	last := ""
	for d := range o.EventsByDay {
		last = max(last, d)
	}
	end, err := time.Parse(time.DateOnly, last)
	if err != nil {
		return chart{Desc: "No events yet."}, 0
	}
	var days []string
	var n []float64
	for t := end.AddDate(0, 0, -(DashboardDays - 1)); !t.After(end); t = t.AddDate(0, 0, 1) {
		k := t.Format(time.DateOnly)
		days = append(days, k)
		n = append(n, float64(o.EventsByDay[k]))
	}
	return columnChart("Events per day", days, []series{{Name: "events", Class: "bar", N: n}}), len(days)
}

// auditData is the auditor's page.
type auditData struct {
	HeadSeq    uint64
	HeadHash   string
	Checkpoint *checkpointLine
	Verify     *verifyLine
	Quarantine []eventstore.QuarantineLine
	QCount     uint64
	QMore      bool
	Admin      bool
	Retried    string
	Ingest     *IngestStatus // nil: not reported here
	ViewsSeq   uint64        // the views' checkpoint
	ViewsLag   uint64        // log records not yet in the views
	HasViews   bool
	Rates      []rateLine
}

type checkpointLine struct {
	Seq        uint64
	Hash, Key  string
	Time       time.Time
	Signatures int
}

type verifyLine struct {
	OK          bool
	Events      uint64
	Head        string
	FirstBadSeq uint64
	Reason      string
	Took        time.Duration
}

// MaxQuarantineShown is the most quarantine entries the audit page lists.
const MaxQuarantineShown = 200

func (u *UI) audit(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Audit", S: s}
	if u.o.Store == nil {
		u.fail(w, r, s, http.StatusServiceUnavailable, "The log is not served here.")
		return
	}
	d := &auditData{Admin: s.may(auth.Admin), Retried: r.URL.Query().Get("retried")}
	seq, head := u.o.Store.Head()
	d.HeadSeq, d.HeadHash = seq, hex.EncodeToString(head[:])
	if u.o.Views != nil {
		d.HasViews, d.ViewsSeq = true, u.o.Views.Checkpoint()
		d.ViewsLag = seq - min(d.ViewsSeq, seq)
	}
	if u.o.Ingest != nil {
		st := u.o.Ingest()
		d.Ingest = &st
	}
	if u.rates != nil {
		d.Rates = u.rates.rates()
	}
	if u.o.Checkpoints != nil {
		if hist, err := u.o.Checkpoints.History(); err == nil && len(hist) > 0 {
			c := hist[len(hist)-1]
			d.Checkpoint = &checkpointLine{Seq: c.Seq, Hash: c.Hash, Key: c.Key, Time: c.Time, Signatures: len(hist)}
		}
	}
	if r.URL.Query().Get("verify") != "" {
		t0 := time.Now()
		rep, err := u.o.Store.Verify(r.Context(), nil)
		vl := &verifyLine{OK: rep.OK && err == nil, Events: rep.Events, Head: hex.EncodeToString(rep.Head[:]),
			FirstBadSeq: rep.FirstBadSeq, Reason: rep.Reason, Took: time.Since(t0).Round(time.Millisecond)}
		if err != nil && vl.Reason == "" {
			vl.Reason = "the walk failed before its end"
		}
		d.Verify = vl
	}
	d.QCount = u.o.Store.QuarantineCount()
	err := u.o.Store.QuarantineScan(r.Context(), func(e *eventstore.QuarantineEntry) error {
		if len(d.Quarantine) == MaxQuarantineShown {
			d.QMore = true
			return errStop
		}
		d.Quarantine = append(d.Quarantine, e.Line())
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		u.fail(w, r, s, http.StatusServiceUnavailable, "The quarantine could not be read.")
		return
	}
	v.Data = d
	u.render(w, r, http.StatusOK, "audit", v)
}

var errStop = errors.New("stop")

// retry decodes every quarantine entry again (the rules and clock of
// now), appends the ones that are valid now and drops them from the
// quarantine, as `journey quarantine retry` does.
func (u *UI) retry(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if !u.checkCSRF(r, s) {
		u.fail(w, r, s, http.StatusForbidden, "The form is out of date (its CSRF token does not match); reload the page and try again.")
		return
	}
	if u.o.Store == nil {
		u.fail(w, r, s, http.StatusServiceUnavailable, "The log is not served here.")
		return
	}
	var entries []eventstore.QuarantineEntry
	err := u.o.Store.QuarantineScan(r.Context(), func(e *eventstore.QuarantineEntry) error {
		c := *e
		c.Raw = slices.Clone(e.Raw)
		entries = append(entries, c)
		return nil
	})
	if err != nil {
		u.fail(w, r, s, http.StatusServiceUnavailable, "The quarantine could not be read.")
		return
	}
	var appended, dup, invalid int
	for _, e := range entries {
		ev, err := journey.Decode(e.Raw, u.o.Clock())
		if err != nil {
			invalid++
			continue
		}
		res, err := u.o.Store.Append(r.Context(), []eventstore.Request{{Event: ev, ExpectedVersion: eventstore.AnyVersion}})
		if err != nil {
			u.o.Logger.Error("web: quarantine retry append", "quarantine_seq", e.Seq, "err", err)
			u.fail(w, r, s, http.StatusServiceUnavailable, "Appending a retried entry failed; the rest stay in quarantine.")
			return
		}
		if res[0].Err != nil {
			invalid++
			continue
		}
		if res[0].Duplicate {
			dup++
		} else {
			appended++
		}
		if err := u.o.Store.QuarantineDelete(e.Seq); err != nil {
			u.o.Logger.Error("web: quarantine delete", "quarantine_seq", e.Seq, "err", err)
		}
	}
	msg := fmt.Sprintf("retried %d: appended %d, duplicates %d, still invalid %d", len(entries), appended, dup, invalid)
	http.Redirect(w, r, "/ui/audit?retried="+url.QueryEscape(msg), http.StatusSeeOther)
}
