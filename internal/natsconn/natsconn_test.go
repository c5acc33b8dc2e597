package natsconn

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
