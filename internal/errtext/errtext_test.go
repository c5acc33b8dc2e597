package errtext

import "testing"

func TestWithoutPackages(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"eventstore: open /d/log: readdirent /d/log: not a directory", "open /d/log: readdirent /d/log: not a directory"},
		{"engine: key store: keystore: eventstore: pebble: boom", "key store: boom"},
		{"rebuild failed (projections: no space)", "rebuild failed (no space)"},
		{"projections/customer: bad rule", "bad rule"},
		// A word that is a package's name, in the user's sentence, stays.
		{"line 1 is not a checkpoint: invalid JSON at byte 1", "line 1 is not a checkpoint: invalid JSON at byte 1"},
		{`customer "x" has no events`, `customer "x" has no events`},
		{"quarantine: 3 entries", "quarantine: 3 entries"},
	} {
		if got := WithoutPackages(tc.in); got != tc.want {
			t.Errorf("WithoutPackages(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
