package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// RunServer starts a NATS server with JetStream on a random loopback port,
// storing under t.TempDir(), shut down when the test ends.
func RunServer(t testing.TB) *server.Server {
	t.Helper()
	return RunServerAt(t, t.TempDir(), server.RANDOM_PORT)
}

// RunServerAt starts a NATS server with JetStream storing under storeDir
// and listening on port (server.RANDOM_PORT for any), so that a test can
// stop it and start it again on the same store and port. It is shut down
// when the test ends (again, if the test did already).
func RunServerAt(t testing.TB, storeDir string, port int) *server.Server {
	t.Helper()
	opts := &server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoLog:      true,
		NoSigs:     true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatalf("natstest: server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Port is the server's client port.
func Port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// Connect connects a client to s, closed when the test ends.
func Connect(t testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// WaitFor polls cond every 10ms until it returns nil or timeout passes,
// then fails the test with cond's last error.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: condition not met after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
