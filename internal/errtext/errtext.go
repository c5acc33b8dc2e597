// Package errtext words an error for the person who reads it, on a
// terminal or in an HTTP or NATS answer: Go packages prefix their errors
// with their name ("eventstore: open …: not a directory"), which helps a
// developer and means nothing to a user of journey.
package errtext

import "regexp"

// goPackagePrefix matches a "pkg: " prefix of journey's packages and of
// the libraries it wraps, at the start of the message or of a wrapped
// part (after ": " or "(").
var goPackagePrefix = regexp.MustCompile(`(^|: |\()(?:accesslog|auth|bench|bgnbd|checkpoint|cli|clusters|engine|eventstore|gammagamma|handlers|journey|json|keyspace|keystore|micro|nats|paretonbd|pebble|privacy|projections|reactions|simulate)(?:/[a-z0-9]+)*: `)

// WithoutPackages is msg without the Go package prefixes of its parts.
func WithoutPackages(msg string) string {
	for {
		m := goPackagePrefix.ReplaceAllString(msg, "$1")
		if m == msg {
			return msg
		}
		msg = m
	}
}
