package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TokenChecker is what the NATS authenticator needs of the token file
// (*Tokens has it).
type TokenChecker interface {
	Authenticate(token string) (Principal, error)
}

// NATSSubjects are the subjects the NATS permissions are derived from;
// "" fields take the engine's defaults.
type NATSSubjects struct {
	Events string // prefix of the touchpoints' subjects ("journey.events"): writers publish to Events.>
	Append string // the synchronous append ("journey.append"): writers request it
	Query  string // prefix of the query service ("journey.query"): readers, analysts, auditors request Query.>
}

func (s NATSSubjects) withDefaults() NATSSubjects {
	if s.Events == "" {
		s.Events = "journey.events"
	}
	if s.Append == "" {
		s.Append = "journey.append"
	}
	if s.Query == "" {
		s.Query = "journey.query"
	}
	return s
}

// InboxPrefix is the reply-subject prefix of a client that connects with
// token: each token gets its own, derived from a hash of the token (never
// the token), and may subscribe only below it, so no token reads the
// replies to another. natsconn.Connect sets it (nats.CustomInboxPrefix)
// when it connects with a token; other clients must set it too
// (`nats --inbox-prefix`).
func InboxPrefix(token string) string {
	h := sha256.Sum256([]byte("journey-nats-inbox\x00" + token))
	return "_INBOX." + hex.EncodeToString(h[:10])
}

// NATSPermissions are the permissions of a connection of role r with the
// reply prefix inbox: a writer publishes only touchpoints and the
// synchronous append; a reader, an analyst and an auditor only call the
// query service (its endpoints check the role again, per request); all
// of them subscribe only to their own inbox. Admin has every right (nil),
// the JetStream API ($JS.API.>) included.
func NATSPermissions(r Role, s NATSSubjects, inbox string) *server.Permissions {
	s = s.withDefaults()
	replies := &server.SubjectPermission{Allow: []string{inbox + ".>"}}
	switch r {
	case Admin:
		return nil
	case Writer:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{s.Events + ".>", s.Append}},
			Subscribe: replies,
		}
	case Reader, Analyst, Auditor:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{s.Query + ".>"}},
			Subscribe: replies,
		}
	}
	// An unknown role may do nothing at all.
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Deny: []string{">"}},
		Subscribe: &server.SubjectPermission{Deny: []string{">"}},
	}
}

// NATSOptions configure a NATSAuthenticator.
type NATSOptions struct {
	Subjects NATSSubjects
	// Internal is the token of the engine's own connection (random, in
	// memory only): it gets every right.
	Internal string
}

// NATSAuthenticator admits to the embedded NATS server a client that
// connects with a journey token (nats.Token) and gives it its role's
// permissions (NATSPermissions). It is a server.Authentication
// (server.Options.CustomClientAuthentication); Watch disconnects the
// connections whose token was revoked or expired since.
type NATSAuthenticator struct {
	tokens TokenChecker
	o      NATSOptions

	mu    sync.Mutex
	conns map[uint64]string // client id → token text, for Watch
}

// NewNATSAuthenticator checks tokens against t.
func NewNATSAuthenticator(t TokenChecker, o NATSOptions) *NATSAuthenticator {
	o.Subjects = o.Subjects.withDefaults()
	return &NATSAuthenticator{tokens: t, o: o, conns: map[uint64]string{}}
}

// NATSAuthenticator is the authenticator of the embedded NATS server for
// the tokens of t.
func (t *Tokens) NATSAuthenticator(o NATSOptions) *NATSAuthenticator {
	return NewNATSAuthenticator(t, o)
}

// The names the server shows for the connections.
const internalUser = "journey-engine"

// Check implements server.Authentication.
func (a *NATSAuthenticator) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	opts := c.GetOpts()
	if opts == nil {
		return false
	}
	token := opts.Token
	if a.o.Internal != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.o.Internal)) == 1 {
		c.RegisterUser(&server.User{Username: internalUser})
		return true
	}
	p, err := a.tokens.Authenticate(token)
	if err != nil {
		return false
	}
	c.RegisterUser(&server.User{Username: p.Name, Permissions: NATSPermissions(p.Role, a.o.Subjects, InboxPrefix(token))})
	a.mu.Lock()
	a.conns[c.GetID()] = token
	a.mu.Unlock()
	return true
}

// Watch re-checks every second the token of each connection it admitted
// and disconnects those revoked or expired since, until ctx ends.
func (a *NATSAuthenticator) Watch(ctx context.Context, s *server.Server) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Sweep(s)
		}
	}
}

// Sweep disconnects the connections whose token no longer authenticates
// and forgets those that are gone.
func (a *NATSAuthenticator) Sweep(s *server.Server) {
	a.mu.Lock()
	conns := make(map[uint64]string, len(a.conns))
	for id, tok := range a.conns {
		conns[id] = tok
	}
	a.mu.Unlock()
	for id, tok := range conns {
		gone := s.GetClient(id) == nil
		if !gone {
			if _, err := a.tokens.Authenticate(tok); err != nil {
				_ = s.DisconnectClientByID(id)
				gone = true
			}
		}
		if gone {
			a.mu.Lock()
			delete(a.conns, id)
			a.mu.Unlock()
		}
	}
}
