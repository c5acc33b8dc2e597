package cohorts

import (
	"bufio"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the header of WriteCSV: one row per cohort and month.
var CSVHeader = []string{"cohort", "cohort_customers", "month", "offset", "active", "retention", "revenue"}

// WriteCSV writes t as CSV in long form: a row per cohort and month, the
// retention with 4 decimals and the revenue as export writes money
// ("1370.56 GBP", several currencies "1370.56 EUR, 12.00 USD").
func WriteCSV(w io.Writer, t *Table) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	for _, c := range t.Cohorts {
		for _, p := range c.Periods {
			_ = cw.Write([]string{c.Month, strconv.Itoa(c.Customers), p.Month, strconv.Itoa(p.Offset),
				strconv.Itoa(p.Active), strconv.FormatFloat(p.Retention, 'f', 4, 64), p.Revenue.String()})
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteText writes t as a table for a terminal: a row per cohort with its
// size and the retention (percent) of each month since its first.
func WriteText(w io.Writer, t *Table) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "cohort retention as of %s: %d customers, %d purchases\n", t.AsOf.UTC().Format(time.RFC3339), t.Customers, t.Purchases)
	if len(t.Cohorts) == 0 {
		fmt.Fprintln(bw, "no purchases")
		return bw.Flush()
	}
	fmt.Fprintf(bw, "%-8s %6s", "cohort", "size")
	for i := range t.Months {
		fmt.Fprintf(bw, " %5s", "+"+strconv.Itoa(i))
	}
	fmt.Fprintln(bw)
	for _, c := range t.Cohorts {
		fmt.Fprintf(bw, "%-8s %6d", c.Month, c.Customers)
		for _, p := range c.Periods {
			fmt.Fprintf(bw, " %4.0f%%", 100*p.Retention)
		}
		fmt.Fprintln(bw)
	}
	return bw.Flush()
}

// Geometry of WriteSVG.
const (
	svgCell   = 44 // cell width
	svgRow    = 24 // cell height
	svgLeft   = 150
	svgTop    = 60
	svgMargin = 20
)

// WriteSVG writes t as an SVG heat map: a row per cohort (its month and
// size), a column per month since the first purchase, each cell shaded by
// the retention and labelled with it in percent. Every text is escaped.
func WriteSVG(w io.Writer, t *Table) error {
	bw := bufio.NewWriter(w)
	cols := max(t.Months, 1)
	width := svgLeft + cols*svgCell + svgMargin
	height := svgTop + max(len(t.Cohorts), 1)*svgRow + svgMargin + 20
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	text(bw, svgMargin, 22, "start", 14, fmt.Sprintf("Cohort retention as of %s (%d customers)", t.AsOf.UTC().Format("2006-01-02"), t.Customers))
	text(bw, svgMargin, svgTop-8, "start", 11, "first purchase (customers)")
	for i := range cols {
		text(bw, svgLeft+i*svgCell+svgCell/2, svgTop-8, "middle", 11, "+"+strconv.Itoa(i))
	}
	for r, c := range t.Cohorts {
		y := svgTop + r*svgRow
		text(bw, svgLeft-8, y+svgRow/2+4, "end", 11, fmt.Sprintf("%s (%d)", c.Month, c.Customers))
		for _, p := range c.Periods {
			x := svgLeft + p.Offset*svgCell
			fill, ink := shade(p.Retention)
			fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#ffffff"><title>`, x, y, svgCell, svgRow, fill)
			escape(bw, fmt.Sprintf("%s, %s: %d of %d (%.1f%%), revenue %s", c.Month, p.Month, p.Active, c.Customers, 100*p.Retention, p.Revenue.String()))
			fmt.Fprintln(bw, `</title></rect>`)
			fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="middle" fill="%s">%.0f%%</text>`+"\n", x+svgCell/2, y+svgRow/2+4, ink, 100*p.Retention)
		}
	}
	text(bw, svgMargin, height-10, "start", 10, "share of each cohort purchasing in each month since its first purchase (UTC months)")
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

// shade maps a retention 0..1 to a cell colour (white to dark blue) and a
// legible text colour on it.
func shade(r float64) (fill, ink string) {
	r = min(max(r, 0), 1)
	// A square-root scale: the later months' small shares stay visible.
	s := math.Sqrt(r)
	lerp := func(a, b float64) int { return int(a + (b-a)*s + 0.5) }
	fill = fmt.Sprintf("#%02x%02x%02x", lerp(247, 8), lerp(251, 48), lerp(255, 107))
	ink = "#000000"
	if s > 0.55 {
		ink = "#ffffff"
	}
	return fill, ink
}

func text(w *bufio.Writer, x, y int, anchor string, size int, s string) {
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="%s" font-size="%d">`, x, y, anchor, size)
	escape(w, s)
	fmt.Fprintln(w, `</text>`)
}

func escape(w *bufio.Writer, s string) {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	w.WriteString(b.String())
}
