package web

import (
	"html"
	"html/template"
	"strings"
	"unicode/utf8"
)

// A touchpoint's values are shown isolated (<bdi>), so that right-to-left
// text in them cannot reorder the page's own words around them, and with
// their invisible characters made visible (shown).

// The isolate marks iso puts around a value in a timeline sentence; the
// timeline writes them as <bdi> and </bdi> (escapeSentenceTo). shown turns
// any in the value itself into escapes, so that these are the only ones.
const (
	isoOpen  = "\u2068" // FIRST STRONG ISOLATE
	isoClose = "\u2069" // POP DIRECTIONAL ISOLATE
)

// iso is v marked as a value for a timeline sentence ("" stays "").
func iso(v string) string {
	if v == "" {
		return ""
	}
	return isoOpen + shown(v, "") + isoClose
}

// bdi is v isolated and made visible, for a template's text: the
// template helper "v".
func bdi(v string) template.HTML {
	return template.HTML("<bdi>" + html.EscapeString(shown(v, "")) + "</bdi>")
}

// invisible reports whether r is shown as an escape: a C0 or C1 control
// character, DEL, or an explicit bidi formatting character (embedding,
// override, isolate: U+202A–U+202E, U+2066–U+2069), which would reorder
// the text after it.
func invisible(r rune) bool {
	return r < 0x20 || r >= 0x7f && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// shown is s with each invisible character, except those in keep, as an
// escape: \x07 for a C0 or C1 control or DEL, \u202e for a bidi
// formatting character.
func shown(s, keep string) string {
	i := 0
	for ; i < len(s); i++ {
		// Every invisible character is a byte below 0x20, DEL, or starts
		// with 0xC2 (C1) or 0xE2 (the bidi ones).
		if c := s[i]; c < 0x20 || c == 0x7f || c == 0xc2 || c == 0xe2 {
			r, _ := utf8.DecodeRuneInString(s[i:])
			if invisible(r) && !strings.ContainsRune(keep, r) {
				break
			}
		}
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	const hex = "0123456789abcdef"
	for _, r := range s[i:] {
		switch {
		case !invisible(r) || strings.ContainsRune(keep, r):
			b.WriteRune(r)
		case r < 0x100:
			b.WriteString(`\x`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&15])
		default:
			b.WriteString(`\u`)
			for sh := 12; sh >= 0; sh -= 4 {
				b.WriteByte(hex[r>>sh&15])
			}
		}
	}
	return b.String()
}

// escapeSentenceTo is escapeTo for a timeline sentence: its values' isolate
// marks (iso) are written as <bdi> and </bdi>.
func escapeSentenceTo(b *strings.Builder, s string) {
	for {
		i := strings.Index(s, "\u2068")
		j := strings.Index(s, "\u2069")
		if i < 0 && j < 0 {
			escapeTo(b, s)
			return
		}
		tag := "<bdi>"
		if i < 0 || j >= 0 && j < i {
			i, tag = j, "</bdi>"
		}
		escapeTo(b, s[:i])
		b.WriteString(tag)
		s = s[i+len(isoOpen):]
	}
}
