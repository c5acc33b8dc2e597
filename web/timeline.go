package web

import (
	"encoding/hex"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

// entry is one touchpoint of a customer's timeline: an icon and a sentence
// (plain text: the template escapes it), a link when the event names
// another customer or a case, and the raw event with its record.
type entry struct {
	Seq, Version uint64
	Time         time.Time
	RecordedAt   time.Time
	Hash         string
	Kind         string
	Icon         string
	Sentence     string // its values marked with iso
	LinkText     string
	Link         string // a path of this web page ("" none)
	CaseID       string // the complaint case (anchor case-<id>: see caseAnchors)
	Raw          string // the event as received, indented
	Erased       bool
}

// icons are text symbols (DejaVu and most system fonts have them; U+FE0E
// asks for the text form, not an emoji).
var icons = map[journey.Kind]string{
	journey.KindVisit:             "⌂\ufe0e",
	journey.KindPurchase:          "◆\ufe0e",
	journey.KindReturn:            "↩\ufe0e",
	journey.KindComplaint:         "⚠\ufe0e",
	journey.KindComplaintResolved: "✓\ufe0e",
	journey.KindFeedback:          "✎\ufe0e",
	journey.KindThankYou:          "♥\ufe0e",
	journey.KindReferral:          "➜\ufe0e",
	journey.KindProfile:           "☺\ufe0e",
	journey.KindActionRequested:   "⚙\ufe0e",
}

func money(minor int64, cur string) string {
	if cur == "" {
		return strconv.FormatInt(minor, 10)
	}
	return journey.FormatAmount(minor, cur) + " " + cur
}

// describe turns a record into its timeline entry.
func describe(rec *eventstore.Record) entry {
	e := entry{Seq: rec.Seq, Version: rec.Version, Time: rec.EventTime.UTC(), RecordedAt: rec.RecordedAt.UTC(),
		Hash: hex.EncodeToString(rec.Hash[:]), Kind: string(rec.Type), Icon: icons[rec.Type]}
	if rec.Erased || rec.Raw == nil {
		e.Erased, e.Icon, e.Sentence = true, "✕\ufe0e", "This event was erased (the customer's key was destroyed)."
		return e
	}
	e.Raw = shown(strings.ToValidUTF8(string(rec.Raw), "\uFFFD"), "\t\n") // as received, its invisible characters shown
	ev, err := journey.DecodeStored(rec.Raw)
	if err != nil {
		e.Icon, e.Sentence = "?", "An event of kind "+iso(string(rec.Type))+" that could not be read."
		return e
	}
	dd := ev.Data
	switch ev.Type {
	case journey.KindVisit:
		switch {
		case dd.StoreID != "":
			e.Sentence = "Visited store " + iso(dd.StoreID)
		case dd.Channel != "":
			e.Sentence = "Visited by " + iso(dd.Channel)
		default:
			e.Sentence = "Visited"
		}
		if dd.StoreID != "" && dd.Channel != "" && dd.Channel != "store" {
			e.Sentence += " (" + iso(dd.Channel) + ")"
		}
		e.Sentence += "."
	case journey.KindPurchase:
		s := "Bought"
		if dd.Items > 0 {
			s += " " + plural(dd.Items, "item")
		}
		s += " for " + money(dd.Amount, dd.Currency)
		if dd.Discount > 0 {
			s += " with a discount of " + money(dd.Discount, dd.Currency)
		}
		e.Sentence = s + phrase(" (order ", iso(dd.OrderID), ")") + phrase(" by ", iso(dd.Channel), "") + "."
	case journey.KindReturn:
		s := "Returned" + phrase(" order ", iso(dd.OrderID), "")
		if dd.ReturnKind == "exchange" {
			s += " for an exchange"
		} else if dd.Amount > 0 {
			s += " for a refund of " + money(dd.Amount, dd.Currency)
		}
		e.Sentence = s + phrase(": “", iso(dd.Reason), "”") + "."
	case journey.KindComplaint:
		e.Sentence = "Complained" + phrase(" about ", iso(dd.Category), "") + phrase(" (", iso(dd.Severity), " severity)") +
			phrase(", escalated to ", iso(words(dd.EscalatedTo)), "") + "; case " + iso(dd.CaseID) + "."
		e.CaseID = dd.CaseID
	case journey.KindComplaintResolved:
		e.Sentence, e.CaseID = "Case "+iso(dd.CaseID)+" closed"+phrase(": ", iso(dd.Outcome), "")+".", dd.CaseID
	case journey.KindFeedback:
		var parts []string
		if dd.NPS >= 0 {
			parts = append(parts, fmt.Sprintf("NPS %d", dd.NPS))
		}
		if dd.CSAT >= 0 {
			parts = append(parts, fmt.Sprintf("CSAT %d of 5", dd.CSAT))
		}
		s := "Gave feedback"
		if dd.Public {
			s = "Wrote a public review"
		}
		e.Sentence = s + phrase(": ", strings.Join(parts, ", "), "") + phrase(" — “", iso(dd.Comment), "”") + "."
	case journey.KindThankYou:
		e.Sentence = "Was thanked" + phrase(" for ", iso(words(dd.Reason)), "") + phrase(" by ", iso(dd.Channel), "") + "."
	case journey.KindReferral:
		e.Sentence = "Referred a new customer:"
		e.LinkText, e.Link = shown(dd.Referred, ""), "/ui/customers/"+url.PathEscape(dd.Referred)
	case journey.KindProfile:
		var parts []string
		if dd.ProfileKind != "" {
			parts = append(parts, iso(dd.ProfileKind))
		}
		if dd.Country != "" {
			parts = append(parts, "country "+iso(dd.Country))
		}
		keys := make([]string, 0, len(dd.Traits))
		for k := range dd.Traits {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			parts = append(parts, iso(k)+" "+iso(dd.Traits[k]))
		}
		e.Sentence = "Profile updated" + phrase(": ", strings.Join(parts, ", "), "") + "."
	case journey.KindActionRequested:
		e.Sentence = "journey asked for a " + iso(words(dd.Action)) + phrase(" (", iso(words(dd.Reason)), ")") +
			phrase(" about case ", iso(dd.CaseID), "") + "."
		e.CaseID = dd.CaseID
	default:
		e.Sentence = "An event of kind " + iso(string(ev.Type)) + "."
	}
	return e
}

// phrase is before + v + after, or "" when v is empty: an optional part
// of a timeline sentence.
func phrase(before, v, after string) string {
	if v == "" {
		return ""
	}
	return before + v + after
}

// words is a code as words: its underscores as spaces.
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

// renderTimeline writes the entries as the timeline's list items, every
// value escaped with html.EscapeString (quotes too, so it holds in
// attributes): one html/template action per field of 2,000 entries costs
// more than the rest of the page.
func renderTimeline(entries []entry) []template.HTML {
	// One piece per entry: the template prints each through fmt, which
	// would copy (and grow a buffer for) one long string whole.
	out := make([]template.HTML, 0, len(entries))
	var b strings.Builder
	var scratch [64]byte
	day := func(t time.Time) {
		b.Write(t.AppendFormat(scratch[:0], "2 Jan 2006 15:04 UTC"))
	}
	anchors := caseAnchors(entries)
	for i := range entries {
		e := &entries[i]
		b.Grow(700 + len(e.Raw) + len(e.Sentence))
		b.WriteString(`<li class="ev `)
		escapeTo(&b, e.Kind)
		b.WriteByte('"')
		if e.CaseID != "" && anchors[e.CaseID] == i {
			b.WriteString(` id="case-`)
			escapeTo(&b, e.CaseID)
			b.WriteByte('"')
		}
		b.WriteString(`><span class="icon" aria-hidden="true">`)
		escapeTo(&b, e.Icon)
		b.WriteString(`</span><div class="body"><time datetime="`)
		b.Write(e.Time.AppendFormat(scratch[:0], time.RFC3339))
		b.WriteString(`">`)
		day(e.Time)
		b.WriteString(`</time><p class="sentence">`)
		escapeSentenceTo(&b, e.Sentence)
		if e.Link != "" {
			b.WriteString(` <a href="`)
			escapeTo(&b, e.Link)
			b.WriteString(`"><bdi>`)
			escapeTo(&b, e.LinkText)
			b.WriteString(`</bdi></a>.`)
		}
		b.WriteString(`</p><details><summary>Event and record</summary><dl class="record"><div><dt>seq</dt><dd>`)
		b.Write(strconv.AppendUint(scratch[:0], e.Seq, 10))
		b.WriteString(`</dd></div><div><dt>version</dt><dd>`)
		b.Write(strconv.AppendUint(scratch[:0], e.Version, 10))
		b.WriteString(`</dd></div><div><dt>recorded</dt><dd>`)
		day(e.RecordedAt)
		b.WriteString(`</dd></div><div><dt>hash</dt><dd class="hash">`)
		escapeTo(&b, e.Hash)
		b.WriteString(`</dd></div></dl>`)
		if e.Raw != "" {
			b.WriteString(`<pre class="raw">`)
			escapeTo(&b, e.Raw)
			b.WriteString(`</pre>`)
		}
		b.WriteString("</details></div></li>\n")
		out = append(out, template.HTML(b.String()))
		b = strings.Builder{}
	}
	return out
}

// caseAnchors picks, for each case of the entries (newest first), the one
// entry that carries its anchor id="case-<id>" (the open cases link to it;
// an id must be unique in the page): its complaint, the first if there are
// several, or else the first event about the case on the page.
func caseAnchors(entries []entry) map[string]int {
	anchors := map[string]int{}
	for i := len(entries) - 1; i >= 0; i-- {
		e := &entries[i]
		if e.CaseID == "" {
			continue
		}
		complaint := e.Kind == string(journey.KindComplaint)
		if j, ok := anchors[e.CaseID]; !ok || complaint && entries[j].Kind != string(journey.KindComplaint) {
			anchors[e.CaseID] = i
		}
	}
	return anchors
}

// escapeTo writes s to b with the characters html.EscapeString escapes
// (<, >, &, ' and ") as entities, without a copy of s.
func escapeTo(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '\'':
			esc = "&#39;"
		case '"':
			esc = "&#34;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2 Jan 2006")
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2 Jan 2006 15:04 UTC")
	},
	"join":  strings.Join,
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"pct":   func(p *float64) string { return fmt.Sprintf("%.0f%%", *p*100) },
	"f1":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"f0":    func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) },
	"words": words,
	"v":     bdi,
	"raw":   func(s string) string { return shown(s, "\t\n") },
	"short": func(h string) string {
		if len(h) > 12 {
			return h[:12] + "…"
		}
		return h
	},
	"money": func(m map[string]int64) string {
		var parts []string
		for _, l := range moneyLinesOf(m) {
			parts = append(parts, l.Amount+" "+l.Currency)
		}
		return strings.Join(parts, ", ")
	},
	"custURL": func(id, asOf string) string {
		u := "/ui/customers/" + url.PathEscape(id)
		if asOf != "" {
			u += "?as_of=" + url.QueryEscape(asOf)
		}
		return u
	},
}

func moneyLinesOf(m map[string]int64) []moneyLine {
	var out []moneyLine
	for cur, v := range m {
		out = append(out, moneyLine{cur, journey.FormatAmount(v, cur)})
	}
	slices.SortFunc(out, func(a, b moneyLine) int { return strings.Compare(a.Currency, b.Currency) })
	return out
}
