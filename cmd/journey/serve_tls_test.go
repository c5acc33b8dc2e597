package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/internal/testpki"
)

// TestServeTLS: serve --tls-cert --tls-key --tls-client-ca says it serves
// https://, and the --server commands reach it with --ca, --client-cert
// and --client-key; without them they fail naming the flag to pass.
func TestServeTLS(t *testing.T) {
	p := testpki.New(t)
	dir := t.TempDir() + "/data"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, httpURL, done, serveErr := startServe(t, ctx, dir, "--tls-cert", p.ServerCert, "--tls-key", p.ServerKey, "--tls-client-ca", p.CA,
		"--http-read-header-timeout", "5s", "--http-max-conns", "64")
	if !strings.HasPrefix(httpURL, "https://") {
		t.Fatalf("serve says HTTP %s, want https://", httpURL)
	}
	base := strings.Replace(httpURL, "https://0.0.0.0", "https://127.0.0.1", 1)
	out := mustRun(t, nil, "segments", "--server", base, "--ca", p.CA, "--client-cert", p.ClientCert, "--client-key", p.ClientKey)
	if strings.TrimSpace(out) == "" {
		t.Errorf("segments over mutual TLS: %s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--client-cert", p.ClientCert, "--client-key", p.ClientKey}, "pass --ca FILE"},
		{[]string{"--ca", p.CA}, "pass --client-cert and --client-key"},
		{[]string{"--ca", p.CA, "--client-cert", p.ClientCert}, "--client-cert and --client-key go together"},
		{[]string{"--ca", p.ServerKey}, "holds no PEM certificate"},
	} {
		r := runCLI(t, nil, append([]string{"segments", "--server", base}, tc.args...)...)
		if r.code == 0 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("segments %v: exit %d %v, want %q", tc.args, r.code, r.err, tc.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, serveErr.String())
	}
}

// TestServeTLSFlags: the TLS flags are checked before serve starts, each
// refusal naming the flag.
func TestServeTLSFlags(t *testing.T) {
	p := testpki.New(t)
	dir := t.TempDir() + "/data"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", p.ServerCert}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-client-ca", p.CA}, "--tls-client-ca needs --tls-cert"},
		{[]string{"--tls-cert", p.ServerCert, "--tls-key", p.ClientKey}, "--tls-cert/--tls-key"},
		{[]string{"--tls-cert", p.ServerCert, "--tls-key", p.ServerKey, "--tls-client-ca", p.ServerKey}, "--tls-client-ca"},
		{[]string{"--nats-tls-cert", p.ServerCert}, "--nats-tls-cert and --nats-tls-key go together"},
		{[]string{"--nats-url", "nats://127.0.0.1:1", "--nats-tls-cert", p.ServerCert, "--nats-tls-key", p.ServerKey}, "with --nats-url use --nats-ca"},
		{[]string{"--http-read-timeout", "soon"}, "http-read-timeout"},
		{[]string{"--http-max-conns", "-3"}, "http-max-conns"},
	} {
		r := runCLI(t, nil, append([]string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1"}, tc.args...)...)
		if r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("serve %v: exit %d %v, want a usage error naming %q", tc.args, r.code, r.err, tc.want)
		}
	}
}

// TestServeTLSFileFlagsNamed: a missing or wrong certificate or key file
// is refused naming its own flag (not as a "CA bundle", nor as the pair).
func TestServeTLSFileFlagsNamed(t *testing.T) {
	p := testpki.New(t)
	dir := t.TempDir() + "/data"
	missing := t.TempDir() + "/nope.pem"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", missing, "--tls-key", p.ServerKey}, "--tls-cert " + missing + ": no such file"},
		{[]string{"--tls-cert", p.ServerCert, "--tls-key", missing}, "--tls-key " + missing + ": no such file"},
		{[]string{"--tls-cert", p.ServerKey, "--tls-key", p.ServerKey}, "--tls-cert " + p.ServerKey + ": holds no PEM certificate"},
		{[]string{"--nats-tls-cert", missing, "--nats-tls-key", p.ServerKey}, "--nats-tls-cert " + missing + ": no such file"},
		{[]string{"--nats-tls-cert", p.ServerCert, "--nats-tls-key", missing}, "--nats-tls-key " + missing + ": no such file"},
	} {
		r := runCLI(t, nil, append([]string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1"}, tc.args...)...)
		if r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) || strings.Contains(r.err.Error(), "CA bundle") {
			t.Errorf("serve %v: exit %d %v, want a usage error %q", tc.args, r.code, r.err, tc.want)
		}
	}
}

// TestServeNATSTokens: with access control on, journey publish reaches
// the embedded NATS with a writer's token and not without one; the events
// it published are read back with a reader's token.
func TestServeNATSTokens(t *testing.T) {
	path, data := simulated(t)
	dir := t.TempDir() + "/data"
	writer := strings.TrimSpace(mustRun(t, nil, "token", "create", "--data", dir, "--role", "writer", "--name", "till-1"))
	reader := strings.TrimSpace(mustRun(t, nil, "token", "create", "--data", dir, "--role", "reader", "--name", "store-042"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	natsURL, httpURL, done, serveErr := startServe(t, ctx, dir)

	if r := runCLI(t, nil, "publish", "--nats-url", natsURL, path); r.code == 0 || !strings.Contains(strings.ToLower(r.err.Error()), "authorization") {
		t.Fatalf("publish without a token: exit %d %v", r.code, r.err)
	}
	mustRun(t, nil, "publish", "--nats-url", natsURL, "--token", writer, path)
	cust := busiestCustomer(t, data)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := runCLI(t, nil, "customer", cust, "--server", httpURL, "--token", reader)
		if r.code == 0 && strings.Contains(r.stdout, cust) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("customer %s not readable after publishing: exit %d %v %s", cust, r.code, r.err, r.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, serveErr.String())
	}
	if strings.Contains(serveErr.String(), writer) {
		t.Error("the writer's token is in serve's log")
	}
}

// TestServeLogMemtableFlag: --log-memtable-mib out of its range is a usage
// error naming the flag and the range, before anything is opened.
func TestServeLogMemtableFlag(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"2", "4096"} {
		r := runCLI(t, nil, "serve", "--data", dir, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1", "--log-memtable-mib", v)
		if r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), "--log-memtable-mib "+v+": want 4 to 1024") {
			t.Errorf("--log-memtable-mib %s: exit %d %v, want a usage error", v, r.code, r.err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the refused serve wrote %d entries into the data dir", len(entries))
	}
}
