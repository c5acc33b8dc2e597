package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/spf13/cobra"
)

// validateReport is journey churn validate --json.
type validateReport struct {
	Model          string       `json:"model"`
	Fit            churnFitLine `json:"fit"`
	CalibrationEnd time.Time    `json:"calibration_end"`
	HoldoutEnd     time.Time    `json:"holdout_end"`
	// HoldoutLength is the holdout in model units (weeks or days).
	HoldoutLength float64 `json:"holdout_length"`
	// ByFrequency compares the mean holdout repeat purchases per customer,
	// predicted (E[Y(t) | x, t_x, T]) and actual, by calibration frequency
	// x; the last group is x ≥ MaxFrequency ("7+").
	ByFrequency []frequencyRow `json:"by_frequency"`
	Totals      validateTotals `json:"totals"`
	// Tracking is the weekly repeat purchases of the calibration customers,
	// predicted (Σ E[X(t − first purchase)]) and actual, cumulative and per
	// week, from the week of the first purchase to the holdout end.
	Tracking []trackingRow `json:"tracking"`
	Chart    string        `json:"chart,omitempty"`
}

type frequencyRow struct {
	Frequency string  `json:"frequency"` // "0", "1", …, "7+"
	Customers int     `json:"customers"`
	Predicted float64 `json:"predicted"` // mean per customer
	Actual    float64 `json:"actual"`    // mean per customer
}

type validateTotals struct {
	Customers int `json:"customers"`
	// Predicted and Actual are the holdout repeat purchases of all
	// calibration customers (conditional expectations summed).
	Predicted float64 `json:"predicted"`
	Actual    int     `json:"actual"`
	// Error is Predicted − Actual; ErrorPercent is it over Actual.
	Error        float64 `json:"error"`
	ErrorPercent float64 `json:"error_percent"`
	// MeanAbsoluteError is the mean over customers of |predicted − actual|.
	MeanAbsoluteError float64 `json:"mean_absolute_error"`
	// TrackingMAPE is the mean absolute percentage error of the cumulative
	// tracking over the holdout weeks.
	TrackingMAPE float64 `json:"tracking_mape_percent"`
}

type trackingRow struct {
	Week                int     `json:"week"` // 1 = the week of the first purchase
	End                 string  `json:"end"`  // last day of the week, YYYY-MM-DD
	Holdout             bool    `json:"holdout"`
	Actual              int     `json:"actual"`
	Predicted           float64 `json:"predicted"`
	CumulativeActual    int     `json:"cumulative_actual"`
	CumulativePredicted float64 `json:"cumulative_predicted"`
}

// maxFrequency is the last (open) calibration-frequency group.
const maxFrequency = 7

func (a *app) churnValidateCommand() *cobra.Command {
	var calEnd, holdEnd, unit, model, chart, config string
	cmd := &cobra.Command{
		Use:   "validate --calibration-end T1 --holdout-end T2 [--model bgnbd|pareto-nbd] [--chart FILE.svg]",
		Short: "Fit on the calibration period and compare the predictions with the holdout",
		Long: `validate fits the transaction model on the purchases up to --calibration-end
(inclusive, as churn fit --as-of) and compares it with what the same customers
did in the holdout, up to --holdout-end:
  by frequency  the mean holdout repeat purchases per customer, predicted
                (the conditional expectation) and actual, by the customer's
                repeat purchases in the calibration period (0..6, 7+)
  totals        predicted and actual holdout repeat purchases, their difference
                and its percentage, the mean absolute error per customer
  tracking      repeat purchases per week and cumulative, predicted and actual,
                from the first purchase to the holdout end
Nothing is stored. --chart FILE.svg writes the cumulative and weekly tracking
as an SVG line chart (a dashed line marks the calibration end).`,
		Example: `  journey churn validate --calibration-end 1997-09-30 --holdout-end 1998-06-30 --chart cdnow.svg`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unitDays, err := unitDaysOf(unit)
			if err != nil {
				return err
			}
			if err := checkModel(model); err != nil {
				return err
			}
			if calEnd == "" || holdEnd == "" {
				return usageErrorf("--calibration-end and --holdout-end are required")
			}
			t1, err := a.asOf(calEnd)
			if err != nil {
				return err
			}
			t2, err := a.asOf(holdEnd)
			if err != nil {
				return err
			}
			if bgnbd.Day(t2) <= bgnbd.Day(t1) {
				return usageErrorf("--holdout-end %s: must be a later day than --calibration-end %s", t2.Format(time.DateOnly), t1.Format(time.DateOnly))
			}
			return a.runChurnValidate(cmd.Context(), t1, t2, unit, unitDays, model, chart, config)
		},
	}
	cmd.Flags().StringVar(&calEnd, "calibration-end", "", "last day of the calibration period (YYYY-MM-DD or RFC 3339, UTC)")
	cmd.Flags().StringVar(&holdEnd, "holdout-end", "", "last day of the holdout period")
	cmd.Flags().StringVar(&unit, "unit", "week", "model time unit: week or day")
	cmd.Flags().StringVar(&model, "model", customer.ModelBGNBD, "transaction model: bgnbd or pareto-nbd")
	cmd.Flags().StringVar(&chart, "chart", "", "write the tracking chart to this SVG file")
	configFlag(cmd, &config)
	return cmd
}

// holdoutCustomer is one calibration customer: her calibration summary, the
// day of her first purchase and her purchase days up to the holdout end.
type holdoutCustomer struct {
	cal   bgnbd.Customer
	first int
	days  []int
}

func (a *app) runChurnValidate(ctx context.Context, t1, t2 time.Time, unit string, unitDays float64, model, chart, config string) error {
	v, closeAll, err := a.openViews(ctx, config, projections.Options{}, false)
	if err != nil {
		return err
	}
	defer closeAll()
	d1 := bgnbd.Day(t1)
	var hs []holdoutCustomer
	err = v.Customers(ctx, time.Time{}, false, func(c *customer.Answer) error {
		days := c.State.PurchaseDays(t2)
		if len(days) == 0 || days[0] > d1 {
			return nil
		}
		hs = append(hs, holdoutCustomer{cal: bgnbd.FromPurchaseDays(days, d1, unitDays), first: days[0], days: days})
		return nil
	})
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		return fmt.Errorf("churn validate: no customer has a purchase on or before %s", t1.UTC().Format(time.DateOnly))
	}
	cs := make([]bgnbd.Customer, len(hs))
	for i, h := range hs {
		cs[i] = h.cal
	}
	fit, err := fitTransactions(ctx, model, cs, unit, t1)
	if err != nil {
		return err
	}
	rep := validate(fit, hs, d1, bgnbd.Day(t2), unitDays)
	if !rep.finite() {
		return fmt.Errorf("churn validate: the %s fit on %d customers to --calibration-end %s is degenerate and predicts no finite holdout (NaN or ±Inf); choose a later --calibration-end",
			fit.Model, fit.Customers, t1.UTC().Format(time.DateOnly))
	}
	rep.CalibrationEnd, rep.HoldoutEnd = t1.UTC(), t2.UTC()
	if chart != "" {
		if err := os.WriteFile(chart, []byte(trackingSVG(rep)), 0o644); err != nil {
			return err
		}
		rep.Chart = chart
	}
	if a.jsonOut {
		return a.printJSON(rep)
	}
	a.printValidate(rep)
	return nil
}

// validate computes the report for customers hs, calibration to day d1 and
// holdout to day d2 (inclusive, day numbers of bgnbd.Day).
func validate(fit churnFitLine, hs []holdoutCustomer, d1, d2 int, unitDays float64) validateReport {
	m := fit.predictor()
	rep := validateReport{Model: fit.Model, Fit: fit, HoldoutLength: float64(d2-d1) / unitDays}
	type acc struct {
		n         int
		pred, act float64
	}
	groups := make([]acc, maxFrequency+1)
	var absErr float64
	start := hs[0].first
	for _, h := range hs {
		start = min(start, h.first)
		actual := 0
		for _, d := range h.days {
			if d > d1 && d <= d2 {
				actual++
			}
		}
		pred := m.ConditionalExpected(rep.HoldoutLength, h.cal)
		g := &groups[min(int(h.cal.X), maxFrequency)]
		g.n++
		g.pred += pred
		g.act += float64(actual)
		rep.Totals.Predicted += pred
		rep.Totals.Actual += actual
		absErr += math.Abs(pred - float64(actual))
	}
	for x, g := range groups {
		label := fmt.Sprint(x)
		if x == maxFrequency {
			label += "+"
		}
		row := frequencyRow{Frequency: label, Customers: g.n}
		if g.n > 0 {
			row.Predicted, row.Actual = g.pred/float64(g.n), g.act/float64(g.n)
		}
		rep.ByFrequency = append(rep.ByFrequency, row)
	}
	t := &rep.Totals
	t.Customers = len(hs)
	t.Error = t.Predicted - float64(t.Actual)
	if t.Actual > 0 {
		t.ErrorPercent = 100 * t.Error / float64(t.Actual)
	}
	t.MeanAbsoluteError = absErr / float64(len(hs))

	// Weekly tracking: week k covers days start+7(k−1) .. start+7k−1 (the
	// last week ends at d2). Repeat purchases are the purchase days after
	// each customer's first.
	weeks := (d2-start)/7 + 1
	actual := make([]int, weeks)
	for _, h := range hs {
		for _, d := range h.days[1:] {
			if d <= d2 {
				actual[(d-start)/7]++
			}
		}
	}
	var cumA, n int
	var prevP, sumAPE float64
	for k := range weeks {
		end := min(start+7*k+6, d2)
		var cumP float64
		for _, h := range hs {
			if h.first <= end {
				cumP += m.ExpectedTransactions(float64(end-h.first) / unitDays)
			}
		}
		cumA += actual[k]
		row := trackingRow{Week: k + 1, End: time.Unix(int64(end)*86400, 0).UTC().Format(time.DateOnly), Holdout: end > d1,
			Actual: actual[k], Predicted: cumP - prevP, CumulativeActual: cumA, CumulativePredicted: cumP}
		if row.Holdout && cumA > 0 {
			sumAPE += math.Abs(cumP-float64(cumA)) / float64(cumA)
			n++
		}
		prevP = cumP
		rep.Tracking = append(rep.Tracking, row)
	}
	if n > 0 {
		t.TrackingMAPE = 100 * sumAPE / float64(n)
	}
	return rep
}

// finite reports whether every prediction of r is a finite number (a
// degenerate fit, BG/NBD at a = 1 say, predicts NaN).
func (r *validateReport) finite() bool {
	ok := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	t := r.Totals
	if !ok(t.Predicted) || !ok(t.MeanAbsoluteError) || !ok(t.TrackingMAPE) {
		return false
	}
	for _, g := range r.ByFrequency {
		if !ok(g.Predicted) {
			return false
		}
	}
	for _, w := range r.Tracking {
		if !ok(w.Predicted) || !ok(w.CumulativePredicted) {
			return false
		}
	}
	return true
}

func (a *app) printValidate(r validateReport) {
	a.printf("%s fit on %d customers, calibration to %s; holdout to %s (%.2f %ss)\n", r.Model, r.Fit.Customers,
		r.CalibrationEnd.Format(time.DateOnly), r.HoldoutEnd.Format(time.DateOnly), r.HoldoutLength, r.Fit.Unit)
	a.printf("%s", r.Fit.Diagnostics.Text())
	a.printf("\nholdout repeat purchases per customer by calibration frequency\n")
	a.printf("  %-9s %9s %10s %10s\n", "frequency", "customers", "predicted", "actual")
	for _, g := range r.ByFrequency {
		a.printf("  %-9s %9d %10.3f %10.3f\n", g.Frequency, g.Customers, g.Predicted, g.Actual)
	}
	t := r.Totals
	a.printf("\nholdout total: predicted %.1f, actual %d, error %+.1f (%+.1f%%); mean absolute error per customer %.3f; cumulative tracking MAPE %.1f%%\n",
		t.Predicted, t.Actual, t.Error, t.ErrorPercent, t.MeanAbsoluteError, t.TrackingMAPE)
	a.printf("\nweekly tracking of repeat purchases (* = holdout)\n")
	a.printf("  %4s %10s  %8s %9s %11s %11s\n", "week", "end", "actual", "predicted", "cum.actual", "cum.predict")
	for _, w := range r.Tracking {
		mark := " "
		if w.Holdout {
			mark = "*"
		}
		a.printf("  %4d %10s%s %8d %9.1f %11d %11.1f\n", w.Week, w.End, mark, w.Actual, w.Predicted, w.CumulativeActual, w.CumulativePredicted)
	}
	if r.Chart != "" {
		a.printf("\nchart: %s\n", r.Chart)
	}
}

// trackingSVG draws the cumulative (top) and weekly (bottom) tracking,
// actual and predicted, as an SVG document. Text goes through
// xml.EscapeText.
func trackingSVG(r validateReport) string {
	const w, ph, left, right, top, gap = 900.0, 260.0, 70.0, 20.0, 50.0, 70.0
	var b strings.Builder
	esc := func(s string) string {
		var e strings.Builder
		xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	height := top + 2*ph + gap + 60
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, height, w, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15">%s</text>`+"\n", left, esc(fmt.Sprintf("%s: repeat purchases, calibration to %s, holdout to %s",
		r.Model, r.CalibrationEnd.Format(time.DateOnly), r.HoldoutEnd.Format(time.DateOnly))))
	n := len(r.Tracking)
	calWeeks := 0
	for _, t := range r.Tracking {
		if !t.Holdout {
			calWeeks = t.Week
		}
	}
	panel := func(y0 float64, title string, act func(trackingRow) float64, pred func(trackingRow) float64) {
		maxV := 1.0
		for _, t := range r.Tracking {
			maxV = math.Max(maxV, math.Max(act(t), pred(t)))
		}
		maxV = niceCeil(maxV)
		x := func(i int) float64 { return left + (w-left-right)*float64(i)/math.Max(1, float64(n-1)) }
		y := func(v float64) float64 { return y0 + ph - ph*v/maxV }
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="13">%s</text>`+"\n", left, y0-8, esc(title))
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", left, y0, w-left-right, ph)
		for i := 0; i <= 4; i++ {
			v := maxV * float64(i) / 4
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/>`+"\n", left, y(v), w-right, y(v))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, esc(fmt.Sprintf("%g", v)))
		}
		for i := 0; i < n; i += max(1, n/10) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x(i), y0+ph+16, esc(fmt.Sprintf("%d", r.Tracking[i].Week)))
		}
		if calWeeks > 0 && calWeeks < n {
			cx := x(calWeeks - 1)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#666" stroke-dasharray="5,4"/>`+"\n", cx, y0, cx, y0+ph)
		}
		line := func(f func(trackingRow) float64, color, dash string) {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="`, color, dash)
			for i, t := range r.Tracking {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(i), y(f(t)))
			}
			b.WriteString(`"/>` + "\n")
		}
		line(act, "#1f77b4", "")
		line(pred, "#d62728", ` stroke-dasharray="6,3"`)
	}
	panel(top+10, "Cumulative repeat purchases", func(t trackingRow) float64 { return float64(t.CumulativeActual) }, func(t trackingRow) float64 { return t.CumulativePredicted })
	panel(top+10+ph+gap, "Weekly repeat purchases", func(t trackingRow) float64 { return float64(t.Actual) }, func(t trackingRow) float64 { return t.Predicted })
	ly := height - 18
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#1f77b4" stroke-width="2"/><text x="%.0f" y="%.0f">actual</text>`+"\n", left, ly, left+30, ly, left+36, ly+4)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#d62728" stroke-width="2" stroke-dasharray="6,3"/><text x="%.0f" y="%.0f">%s</text>`+"\n", left+110, ly, left+140, ly, left+146, ly+4, esc("predicted ("+r.Model+")"))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", left+330, ly+4, esc("week (1 = week of the first purchase); dashed line: calibration end"))
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
