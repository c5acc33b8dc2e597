package web

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/journey-cdp/journey/projections/customer"
)

// chart is an SVG drawn on the server (its labels escaped here), and a
// text alternative for screen readers.
type chart struct {
	SVG  template.HTML
	Desc string
}

type bar struct {
	Label string
	N     float64
	Href  string // the list behind the bar ("" none)
}

var esc = template.HTMLEscapeString

// barChart draws horizontal bars, each a link to its list.
func barChart(title string, bars []bar) chart {
	const rowH, labelW, barW, w = 30, 120, 300, 480
	most := 1.0
	for _, b := range bars {
		most = max(most, b.N)
	}
	h := rowH*len(bars) + 10
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s"><title>%s</title>`, w, h, esc(title), esc(title))
	var desc []string
	for i, b := range bars {
		y := 5 + i*rowH
		bw := int(float64(barW) * b.N / most)
		if b.N > 0 && bw < 2 {
			bw = 2
		}
		label := strings.ReplaceAll(b.Label, "_", " ")
		desc = append(desc, fmt.Sprintf("%s %.0f", label, b.N))
		if b.Href != "" {
			fmt.Fprintf(&s, `<a href="%s">`, esc(b.Href))
		}
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`, labelW-8, y+18, esc(label))
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%d" height="%d" class="bar"><title>%s: %.0f</title></rect>`, labelW, y+4, bw, rowH-8, esc(label), b.N)
		fmt.Fprintf(&s, `<text x="%d" y="%d" class="num">%.0f</text>`, labelW+bw+6, y+18, b.N)
		if b.Href != "" {
			s.WriteString(`</a>`)
		}
	}
	s.WriteString(`</svg>`)
	return chart{SVG: template.HTML(s.String()), Desc: title + ": " + strings.Join(desc, ", ")}
}

// npsChart draws the NPS by month (−100..100) as columns around zero.
func npsChart(res customer.NPSResult) chart {
	months := make([]string, 0, len(res.ByMonth))
	for m, n := range res.ByMonth {
		if n.Responses > 0 {
			months = append(months, m)
		}
	}
	slices.Sort(months)
	if len(months) > 24 {
		months = months[len(months)-24:]
	}
	if len(months) == 0 {
		return chart{Desc: "No NPS answers yet."}
	}
	const w, h, top, mid = 480, 200, 10, 95
	colW := float64(w-50) / float64(len(months))
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="NPS by month"><title>NPS by month</title>`, w, h)
	fmt.Fprintf(&s, `<line x1="44" x2="%d" y1="%d" y2="%d" class="axis"/>`, w, mid, mid)
	fmt.Fprintf(&s, `<text x="40" y="%d" text-anchor="end" class="lbl">100</text><text x="40" y="%d" text-anchor="end" class="lbl">0</text><text x="40" y="%d" text-anchor="end" class="lbl">−100</text>`, top+8, mid+4, mid+85)
	var desc []string
	for i, m := range months {
		n := res.ByMonth[m]
		x := 48 + float64(i)*colW
		bh := n.Score / 100 * 85
		y := float64(mid)
		if bh > 0 {
			y -= bh
		} else {
			bh = -bh
		}
		cls := "bar"
		if n.Score < 0 {
			cls = "bar neg"
		}
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="%s"><title>%s: NPS %.0f (%d answers)</title></rect>`,
			x, y, max(colW-4, 1), max(bh, 1), cls, esc(m), n.Score, n.Responses)
		if len(months) <= 12 || i%3 == 0 {
			fmt.Fprintf(&s, `<text x="%.1f" y="%d" class="lbl small">%s</text>`, x, h-4, esc(m))
		}
		desc = append(desc, fmt.Sprintf("%s %.0f", m, n.Score))
	}
	s.WriteString(`</svg>`)
	return chart{SVG: template.HTML(s.String()), Desc: "NPS by month: " + strings.Join(desc, ", ")}
}

// scoreChart draws a customer's feedback scores over time (NPS 0..10 and
// CSAT 1..5, both as 0..100).
func scoreChart(sigs []customer.Signal) chart {
	var pts []trendPoint
	for _, g := range sigs {
		switch g.Kind {
		case customer.SignalNPS:
			pts = append(pts, trendPoint{time.Unix(g.At, 0).UTC(), float64(g.Value) * 10, fmt.Sprintf("NPS %d", g.Value)})
		case customer.SignalCSAT:
			pts = append(pts, trendPoint{time.Unix(g.At, 0).UTC(), float64(g.Value-1) * 25, fmt.Sprintf("CSAT %d", g.Value)})
		}
	}
	return lineChart("Feedback over time", pts, lineStyle{h: 120, left: 20, dot: 4})
}

// series is one set of columns of a columnChart.
type series struct {
	Name  string
	Class string             // "bar" or "bar neg"
	N     []float64          // one per label
	Href  func(i int) string // the list behind column i (nil, or "": none)
}

// columnChart draws columns per label (one per series, side by side),
// each a link to its list when it has one, with the largest value on the
// axis and a label every few columns.
func columnChart(title string, labels []string, ss []series) chart {
	if len(labels) == 0 {
		return chart{Desc: title + ": none yet."}
	}
	const w, h, left, bottom, top = 480, 200, 44, 20, 10
	most := 1.0
	for _, s := range ss {
		for _, n := range s.N {
			most = max(most, n)
		}
	}
	groupW := float64(w-left-4) / float64(len(labels))
	colW := groupW / float64(len(ss))
	plotH := float64(h - bottom - top)
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s"><title>%s</title>`, w, h, esc(title), esc(title))
	fmt.Fprintf(&s, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="axis"/>`, left, w, h-bottom, h-bottom)
	fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end" class="lbl small">%.0f</text><text x="%d" y="%d" text-anchor="end" class="lbl small">0</text>`,
		left-4, top+8, most, left-4, h-bottom)
	longest := 0
	for _, l := range labels {
		longest = max(longest, len(l))
	}
	// A label every few columns, so that they do not overlap (11 px text:
	// about 6 px a character).
	every := max(1, int(math.Ceil(float64(6*longest+10)/groupW)))
	var desc []string
	for i, l := range labels {
		x0 := float64(left) + 2 + float64(i)*groupW
		var parts []string
		for j, sr := range ss {
			n := sr.N[i]
			bh := plotH * n / most
			if n > 0 && bh < 1 {
				bh = 1
			}
			x := x0 + float64(j)*colW
			href := ""
			if sr.Href != nil && n > 0 {
				href = sr.Href(i)
			}
			if href != "" {
				fmt.Fprintf(&s, `<a href="%s">`, esc(href))
			}
			fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="%s"><title>%s %s: %.0f</title></rect>`,
				x, float64(h-bottom)-bh, max(colW-1, 0.5), bh, sr.Class, esc(l), esc(sr.Name), n)
			if href != "" {
				s.WriteString(`</a>`)
			}
			parts = append(parts, fmt.Sprintf("%s %.0f", sr.Name, n))
		}
		if i%every == 0 {
			fmt.Fprintf(&s, `<text x="%.1f" y="%d" class="lbl small">%s</text>`, x0, h-4, esc(l))
		}
		desc = append(desc, l+" "+strings.Join(parts, " "))
	}
	s.WriteString(`</svg>`)
	return chart{SVG: template.HTML(s.String()), Desc: title + ": " + strings.Join(desc, ", ")}
}

// trendPoint is one point of a lineChart.
type trendPoint struct {
	T time.Time
	V float64 // 0..100
	L string  // what the point's dot says ("": V, rounded)
}

// label is what p's dot and the chart's description say of it.
func (p trendPoint) label() string {
	if p.L != "" {
		return p.L
	}
	return fmt.Sprintf("%.0f", p.V)
}

// lineStyle is how a lineChart is drawn.
type lineStyle struct {
	h, left int
	dot     int  // the dots' radius
	axis    bool // a line at 50, and 0, 50, 100 on the left (left = 40)
	maxDots int  // at most about this many dots, the last always (0: every point)
}

// trendChart draws a 0..100 score over time as a line with dots, 0, 50
// and 100 marked.
func trendChart(title string, pts []trendPoint) chart {
	return lineChart(title, pts, lineStyle{h: 140, left: 40, dot: 3, axis: true, maxDots: 60})
}

// lineChart draws 0..100 scores over time as a line with a dot per point
// (see lineStyle.maxDots); the description names the points with a dot.
func lineChart(title string, pts []trendPoint, st lineStyle) chart {
	if len(pts) == 0 {
		return chart{}
	}
	const w = 480
	h := st.h
	t0, t1 := pts[0].T, pts[len(pts)-1].T
	xOf, yOf := timeScale(t0, t1, w, float64(h), float64(st.left), 20)
	var s, line strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s"><title>%s</title>`, w, h, esc(title), esc(title))
	if st.axis {
		fmt.Fprintf(&s, `<line x1="36" x2="%d" y1="%.1f" y2="%.1f" class="axis"/>`, w-20, yOf(50), yOf(50))
		fmt.Fprintf(&s, `<text x="32" y="%.1f" text-anchor="end" class="lbl small">100</text><text x="32" y="%.1f" text-anchor="end" class="lbl small">50</text><text x="32" y="%.1f" text-anchor="end" class="lbl small">0</text>`,
			yOf(100)+4, yOf(50)+4, yOf(0)+4)
	}
	for i, p := range pts {
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%.1f,%.1f", xOf(p.T), yOf(p.V))
	}
	fmt.Fprintf(&s, `<polyline points="%s" class="line"/>`, line.String())
	step := 1
	if st.maxDots > 0 {
		step = max(1, len(pts)/st.maxDots) // the line keeps every point
	}
	var desc []string
	for i, p := range pts {
		if i%step != 0 && i != len(pts)-1 {
			continue
		}
		day, l := p.T.Format("2 Jan 2006"), p.label()
		fmt.Fprintf(&s, `<circle cx="%.1f" cy="%.1f" r="%d" class="dot"><title>%s: %s</title></circle>`, xOf(p.T), yOf(p.V), st.dot, day, esc(l))
		desc = append(desc, day+" "+l)
	}
	fmt.Fprintf(&s, `<text x="%d" y="%d" class="lbl small">%s</text><text x="%d" y="%d" text-anchor="end" class="lbl small">%s</text>`,
		st.left, h-4, t0.Format("Jan 2006"), w-20, h-4, t1.Format("Jan 2006"))
	s.WriteString(`</svg>`)
	return chart{SVG: template.HTML(s.String()), Desc: title + ": " + strings.Join(desc, "; ")}
}

// timeScale maps a time in [t0, t1] to x between left and w-right (the
// middle when t0 = t1), and a 0..100 score to y (100 on top) in a chart of
// height h.
func timeScale(t0, t1 time.Time, w, h, left, right float64) (xOf func(time.Time) float64, yOf func(float64) float64) {
	span := t1.Sub(t0).Seconds()
	xOf = func(t time.Time) float64 {
		if span == 0 {
			return w / 2
		}
		return left + (w-left-right)*t.Sub(t0).Seconds()/span
	}
	yOf = func(v float64) float64 { return 10 + (h-30)*(100-v)/100 }
	return xOf, yOf
}
