// Package auth is journey's access control: roles, bearer tokens (only
// their SHA-256 hashes are stored, in a 0600 file), the principal a
// request runs as, and the HTTP middleware that refuses a request without
// a good token (401) or without the role its route needs (403).
//
// The roles are the same on every surface (HTTP, the NATS query service
// and synchronous append, the embedded NATS users):
//
//	writer   append touchpoints (POST /v1/events, journey.append, journey.events.>), nothing else;
//	         a writer token may be limited to a source prefix
//	reader   one customer's answer and history (store staff)
//	analyst  segments, NPS, exports of answers
//	auditor  history, as-of, verify, checkpoints, event export, quarantine list (and the reader's reads)
//	admin    everything: rebuild, quarantine retry, erasure, tokens
package auth

import (
	"context"
	"fmt"
	"strings"
)

// Role is what a token may do. A token has exactly one role.
type Role string

// The roles.
const (
	Writer  Role = "writer"
	Reader  Role = "reader"
	Analyst Role = "analyst"
	Auditor Role = "auditor"
	Admin   Role = "admin"
)

// Roles are every role, in the order the documentation lists them.
var Roles = []Role{Writer, Reader, Analyst, Auditor, Admin}

// ParseRole is the role named s (exactly one of Roles), or an error
// naming the roles there are.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("role %q is not a role; want one of %s", s, rolesText())
}

func rolesText() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// Allows reports whether a token of role r may do what needs role need:
// r is need, or r is Admin (everything), or r is Auditor and need is
// Reader (an auditor reads one customer's answer and history too).
func (r Role) Allows(need Role) bool {
	switch {
	case r == need, r == Admin:
		return true
	case r == Auditor && need == Reader:
		return true
	}
	return false
}

// AllowsAny reports whether r allows one of needs.
func (r Role) AllowsAny(needs ...Role) bool {
	for _, n := range needs {
		if r.Allows(n) {
			return true
		}
	}
	return false
}

// Principal is who a request runs as: the token's name (never its text),
// its role and, for a writer, the source prefix its events must have
// ("" for any source).
type Principal struct {
	Name         string
	Role         Role
	SourcePrefix string
}

type ctxKey struct{}

// NewContext is ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext is the principal ctx carries; false when none (auth is off,
// or the request did not go through an Authorizer).
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// SourceRule is the rule an event's source breaks for p ("" when it
// keeps it): a writer limited to a prefix appends only events whose
// source starts with it.
func (p Principal) SourceRule(source string) string {
	if p.SourcePrefix == "" || strings.HasPrefix(source, p.SourcePrefix) {
		return ""
	}
	return fmt.Sprintf("token %q may append only events whose source starts with %q", p.Name, p.SourcePrefix)
}
