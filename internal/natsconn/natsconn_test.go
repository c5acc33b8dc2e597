package natsconn

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/journey-cdp/journey/auth"
)

func TestEmbeddedInProcessAndTCP(t *testing.T) {
	s, err := Start(Embedded{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.JetStreamEnabled() {
		t.Fatal("JetStream not enabled")
	}
	in, err := Connect(Client{InProcess: s})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tcp, err := Connect(Client{URL: s.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	sub, err := tcp.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := tcp.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := in.Publish("x", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "hi" {
		t.Fatalf("got %v, %v", m, err)
	}
}

func TestUserPassword(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, Username: "till", Password: "s3cret", NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := Connect(Client{URL: s.ClientURL(), User: "till", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if !nc.IsConnected() {
		t.Fatal("not connected")
	}
	nc.Close()
	if _, err := Connect(Client{URL: s.ClientURL(), User: "till", Password: "wrong"}); err == nil {
		t.Fatal("wrong password connected")
	} else if !strings.Contains(err.Error(), nats.ErrAuthorization.Error()) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := Connect(Client{URL: s.ClientURL(), TLSCert: "only-cert.pem"}); err == nil {
		t.Fatal("a cert without a key was accepted")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://u:p@host:4222": "nats://***@host:4222",
		"nats://host:4222":     "nats://host:4222",
		"tok@host":             "***@host",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q)=%q, want %q", in, got, want)
		}
	}
}

// TestEmbeddedTLS starts the embedded server with TLS and a client CA:
// the in-process connection needs no certificate, a TCP client needs
// the CA and its own certificate.
func TestEmbeddedTLS(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, caCert, caPEM := newCert(t, "journey test CA", nil, nil, true)
	srvKey, _, srvPEM := newCert(t, "127.0.0.1", caKey, caCert, false)
	cliKey, _, cliPEM := newCert(t, "till-1", caKey, caCert, false)
	caFile := write("ca.pem", caPEM)
	s, err := Start(Embedded{StoreDir: t.TempDir(), Listen: "127.0.0.1:0",
		TLSCert: write("srv.pem", srvPEM), TLSKey: write("srv-key.pem", keyPEM(t, srvKey)), TLSClientCA: caFile})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	in, err := Connect(Client{InProcess: s})
	if err != nil {
		t.Fatalf("in-process connection with TLS on: %v", err)
	}
	roundTrip(t, in)
	cert, key := write("till.pem", cliPEM), write("till-key.pem", keyPEM(t, cliKey))
	nc, err := Connect(Client{URL: s.ClientURL(), TLSCA: caFile, TLSCert: cert, TLSKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := nc.TLSConnectionState(); err != nil || st.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %v %v", st.Version, err)
	}
	roundTrip(t, nc)
	if nc, err := Connect(Client{URL: s.ClientURL(), TLSCA: caFile}); err == nil {
		nc.Close()
		t.Fatal("connected without a client certificate")
	}
	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("connected without TLS")
	}
	// A certificate and no key is refused at Start, naming both.
	if _, err := Start(Embedded{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", TLSCert: cert}); err == nil ||
		!strings.Contains(err.Error(), "certificate and a key") {
		t.Fatalf("cert without key: %v", err)
	}
}

// TestTokenInbox: a client connecting with a token uses that token's own
// inbox, the only one the embedded server's authenticator lets it read,
// so its requests get their answers.
func TestTokenInbox(t *testing.T) {
	tokens, err := auth.OpenTokens(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := tokens.Create("till-1", auth.Writer, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Embedded{StoreDir: t.TempDir(), Listen: "127.0.0.1:0",
		Auth: auth.NewNATSAuthenticator(tokens, auth.NATSOptions{Internal: "engine-secret"})})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	eng, err := Connect(Client{InProcess: s, Token: "engine-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.Subscribe("journey.append", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
		t.Fatal(err)
	}
	_ = eng.Flush()
	w, err := Connect(Client{URL: s.ClientURL(), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if m, err := w.Request("journey.append", []byte("{}"), 3*time.Second); err != nil || string(m.Data) != "ok" {
		t.Fatalf("request with a token: %v %v", m, err)
	}
	if _, err := Connect(Client{URL: s.ClientURL()}); err == nil {
		t.Fatal("connected without a token")
	}
}
