package web

import (
	"html"
	"strings"
	"testing"
)

// TestEscapeTo: the timeline's escaping writes what html.EscapeString
// returns, for text with every character it escapes and for plain text.
func TestEscapeTo(t *testing.T) {
	for _, s := range []string{"", "plain text", `<script>alert("x")</script>`, `a&b'c"d<e>f`, "émoji ✓ & <b>", "&&&", "end<"} {
		var b strings.Builder
		escapeTo(&b, s)
		if got, want := b.String(), html.EscapeString(s); got != want {
			t.Errorf("escapeTo(%q) = %q, want %q", s, got, want)
		}
	}
}
