package auth_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/internal/natsconn"
)

// natsPeer is a client connection that records the server's asynchronous
// errors (permission violations arrive that way).
type natsPeer struct {
	t    *testing.T
	nc   *nats.Conn
	mu   sync.Mutex
	errs []error
}

func connectPeer(t *testing.T, url string, opts ...nats.Option) (*natsPeer, error) {
	t.Helper()
	p := &natsPeer{t: t}
	opts = append(opts, nats.NoReconnect(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		p.mu.Lock()
		p.errs = append(p.errs, err)
		p.mu.Unlock()
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	p.nc = nc
	t.Cleanup(nc.Close)
	return p, nil
}

// violation waits for the server's permission violation naming subject.
func (p *natsPeer) violation(subject string) error {
	deadline := time.Now().Add(3 * time.Second)
	_ = p.nc.Flush()
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, err := range p.errs {
			if strings.Contains(err.Error(), "Permissions Violation") && strings.Contains(err.Error(), `"`+subject+`"`) {
				p.mu.Unlock()
				return nil
			}
		}
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.New("no permission violation for " + subject + " (errors: " + errorsText(p.errs) + ")")
}

func errorsText(errs []error) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "; ")
}

// canSubscribe subscribes p to subject and reports whether the server let
// it: a message published by admin on subject reaches it.
func canSubscribe(t *testing.T, p *natsPeer, admin *nats.Conn, subject, probe string) bool {
	t.Helper()
	sub, err := p.nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Publish(probe, []byte("probe")); err != nil {
		t.Fatal(err)
	}
	_ = admin.Flush()
	_, err = sub.NextMsg(300 * time.Millisecond)
	return err == nil
}

// canPublish reports whether a message p publishes on subject reaches an
// admin's subscription.
func canPublish(t *testing.T, p *natsPeer, admin *nats.Conn, subject string) bool {
	t.Helper()
	sub, err := admin.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = admin.Flush()
	if err := p.nc.Publish(subject, []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = p.nc.Flush()
	_, err = sub.NextMsg(300 * time.Millisecond)
	return err == nil
}

func startGuarded(t *testing.T, a server.Authentication) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		CustomClientAuthentication: a})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	return s
}

func TestNATSAuthenticatorRoles(t *testing.T) {
	tokens, err := auth.OpenTokens(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	text := map[auth.Role]string{}
	for _, r := range auth.Roles {
		tok, _, err := tokens.Create("t-"+string(r), r, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		text[r] = tok
	}
	a := tokens.NATSAuthenticator(auth.NATSOptions{Internal: "internal-secret"})
	s := startGuarded(t, a)
	url := s.ClientURL()

	connect := func(tok string) *natsPeer {
		t.Helper()
		p, err := connectPeer(t, url, nats.Token(tok), nats.CustomInboxPrefix(auth.InboxPrefix(tok)))
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		return p
	}
	engine := connect("internal-secret")
	admin := connect(text[auth.Admin])

	// Without a token, with a bad one, with a revoked one: refused.
	for _, opt := range []nats.Option{nats.Name("none"), nats.Token("jy_wrong")} {
		if _, err := connectPeer(t, url, opt); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Fatalf("connected without a good token: %v", err)
		}
	}

	w := connect(text[auth.Writer])
	if !canPublish(t, w, engine.nc, "journey.events.purchase") {
		t.Error("writer cannot publish an event")
	}
	if canSubscribe(t, w, engine.nc, "journey.append", "journey.append") {
		t.Error("writer received a journey.append request")
	}
	if err := w.violation("journey.append"); err != nil {
		t.Error(err)
	}
	if canSubscribe(t, w, engine.nc, "journey.actions.>", "journey.actions.send") {
		t.Error("writer read journey.actions.>")
	}
	if canPublish(t, w, engine.nc, "$JS.API.CONSUMER.DELETE.JOURNEY.journey-engine") {
		t.Error("writer reached the JetStream API")
	}
	if err := w.violation("$JS.API.CONSUMER.DELETE.JOURNEY.journey-engine"); err != nil {
		t.Error(err)
	}
	if canPublish(t, w, engine.nc, "journey.query.customer") {
		t.Error("writer called the query service")
	}
	// A writer requests journey.append and gets the answer in its inbox.
	svc, err := engine.nc.Subscribe("journey.append", func(m *nats.Msg) { _ = m.Respond([]byte("ack")) })
	if err != nil {
		t.Fatal(err)
	}
	_ = engine.nc.Flush()
	if m, err := w.nc.Request("journey.append", []byte("{}"), 2*time.Second); err != nil || string(m.Data) != "ack" {
		t.Errorf("writer's append request: %v %v", m, err)
	}
	svc.Unsubscribe()
	// Its inbox is its own: another token's replies do not reach it.
	if canSubscribe(t, w, engine.nc, "_INBOX.>", auth.InboxPrefix(text[auth.Reader])+".x") {
		t.Error("writer read another token's replies")
	}

	for _, r := range []auth.Role{auth.Reader, auth.Analyst, auth.Auditor} {
		p := connect(text[r])
		if !canPublish(t, p, engine.nc, "journey.query.customer") {
			t.Errorf("%s cannot call the query service", r)
		}
		if canPublish(t, p, engine.nc, "journey.events.purchase") {
			t.Errorf("%s published an event", r)
		}
		if canPublish(t, p, engine.nc, "journey.append") {
			t.Errorf("%s requested an append", r)
		}
		if canSubscribe(t, p, engine.nc, "journey.query.>", "journey.query.customer") {
			t.Errorf("%s answered queries", r)
		}
		if canPublish(t, p, engine.nc, "$JS.API.INFO") {
			t.Errorf("%s reached the JetStream API", r)
		}
	}

	// Admin may do everything.
	for _, subj := range []string{"journey.append", "journey.actions.send", "$JS.API.CONSUMER.DELETE.JOURNEY.journey-engine"} {
		if !canSubscribe(t, admin, engine.nc, subj, subj) {
			t.Errorf("admin cannot subscribe to %s", subj)
		}
		if !canPublish(t, admin, engine.nc, subj) {
			t.Errorf("admin cannot publish to %s", subj)
		}
	}

	// A revoked token is refused at connect, and its open connection is
	// cut by the next sweep.
	if _, err := tokens.Revoke("t-" + string(auth.Writer)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // Authenticate re-reads the file every 250 ms
	if _, err := connectPeer(t, url, nats.Token(text[auth.Writer])); err == nil {
		t.Fatal("a revoked token connected")
	}
	a.Sweep(s)
	deadline := time.Now().Add(2 * time.Second)
	for w.nc.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if w.nc.IsConnected() {
		t.Error("the revoked writer's connection is still open after a sweep")
	}
	if !admin.nc.IsConnected() || !engine.nc.IsConnected() {
		t.Error("the sweep cut a connection whose token is good")
	}
}

func TestNATSPermissionsSubjects(t *testing.T) {
	p := auth.NATSPermissions(auth.Writer, auth.NATSSubjects{Events: "shop.ev", Append: "shop.append"}, "_INBOX.abc")
	if got := strings.Join(p.Publish.Allow, " "); got != "shop.ev.> shop.append" {
		t.Errorf("writer publish %q", got)
	}
	if got := strings.Join(p.Subscribe.Allow, " "); got != "_INBOX.abc.>" {
		t.Errorf("writer subscribe %q", got)
	}
	if p := auth.NATSPermissions(auth.Admin, auth.NATSSubjects{}, "_INBOX.x"); p != nil {
		t.Errorf("admin has limits: %+v", p)
	}
	if p := auth.NATSPermissions("stranger", auth.NATSSubjects{}, "_INBOX.x"); p == nil || p.Publish.Deny[0] != ">" {
		t.Errorf("an unknown role may do something: %+v", p)
	}
	a, b := auth.InboxPrefix("jy_a"), auth.InboxPrefix("jy_b")
	if a == b || strings.Contains(a, "jy_a") || !strings.HasPrefix(a, "_INBOX.") {
		t.Errorf("inbox prefixes %q %q", a, b)
	}
}

// TestNATSPermissionsExample loads examples/nats-permissions.conf into a
// real nats-server and checks what its comments promise, with clients
// connecting as journey's do (natsconn.Connect).
func TestNATSPermissionsExample(t *testing.T) {
	opts, err := server.ProcessConfigFile(filepath.Join("..", "examples", "nats-permissions.conf"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs, opts.StoreDir = "127.0.0.1", server.RANDOM_PORT, true, true, t.TempDir()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	as := func(user, password string) *natsPeer {
		t.Helper()
		nc, err := natsconn.Connect(natsconn.Client{URL: s.ClientURL(), User: user, Password: password})
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		p := &natsPeer{t: t, nc: nc}
		nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		})
		t.Cleanup(nc.Close)
		return p
	}
	engine := as("journey-engine", "change-me-engine")
	if _, err := engine.nc.QueueSubscribe("journey.append", "journey-engine", func(m *nats.Msg) { _ = m.Respond([]byte("ack")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.nc.Subscribe("journey.query.customer", func(m *nats.Msg) { _ = m.Respond([]byte("answer")) }); err != nil {
		t.Fatal(err)
	}
	_ = engine.nc.Flush()

	till := as("till-1", "change-me-till-1")
	if m, err := till.nc.Request("journey.append", []byte("{}"), 3*time.Second); err != nil || string(m.Data) != "ack" {
		t.Fatalf("till-1's append: %v %v", m, err)
	}
	if !canPublish(t, till, engine.nc, "journey.events.purchase") {
		t.Error("till-1 cannot publish a touchpoint")
	}
	for _, subj := range []string{"journey.append", "journey.actions.>", "_INBOX.store-042.>"} {
		if canSubscribe(t, till, engine.nc, subj, strings.Replace(subj, ">", "x", 1)) {
			t.Errorf("till-1 reads %s", subj)
		}
		if err := till.violation(subj); err != nil {
			t.Error(err)
		}
	}
	if _, err := till.nc.Request("$JS.API.CONSUMER.DELETE.JOURNEY.journey-engine", nil, 300*time.Millisecond); err == nil {
		t.Error("till-1 reached the JetStream API")
	}
	if err := till.violation("$JS.API.CONSUMER.DELETE.JOURNEY.journey-engine"); err != nil {
		t.Error(err)
	}

	store := as("store-042", "change-me-store-042")
	if m, err := store.nc.Request("journey.query.customer", []byte(`{"id":"c1"}`), 3*time.Second); err != nil || string(m.Data) != "answer" {
		t.Fatalf("store-042's query: %v %v", m, err)
	}
	if canPublish(t, store, engine.nc, "journey.events.purchase") {
		t.Error("store-042 published a touchpoint")
	}
	if canPublish(t, store, engine.nc, "journey.append") {
		t.Error("store-042 requested an append")
	}

	ops := as("ops", "change-me-ops")
	if m, err := ops.nc.Request("$JS.API.INFO", nil, 3*time.Second); err != nil || !strings.Contains(string(m.Data), "account_info") {
		t.Fatalf("ops on the JetStream API: %v %v", m, err)
	}
	if !canSubscribe(t, ops, engine.nc, "journey.append", "journey.append") {
		t.Error("ops cannot subscribe to journey.append")
	}
	if nc, err := natsconn.Connect(natsconn.Client{URL: s.ClientURL(), User: "till-1", Password: "wrong"}); err == nil {
		nc.Close()
		t.Fatal("a wrong password connected")
	}
}
