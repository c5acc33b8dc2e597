package engine_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/journey-cdp/journey/internal/engine"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/journey-cdp/journey/internal/natstest"
	"github.com/journey-cdp/journey/internal/testpki"
)

var quiet = slog.New(slog.DiscardHandler)

// runEngine starts an engine on a fresh data dir with loopback listeners
// and tr, stopped when the test ends.
func runEngine(t *testing.T, tr engine.Transport) engine.Info {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	info, done := startEngine(t, ctx, engine.Config{
		DataDir: t.TempDir(), NATSListen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Logger: quiet, Transport: tr,
	})
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine.Run: %v", err)
		}
	})
	return info
}

// closedWithin reads c until the server closes it and fails the test
// when that takes longer than max.
func closedWithin(t *testing.T, c net.Conn, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(max + 5*time.Second))
	_, err := io.Copy(io.Discard, c)
	el := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || el > max {
		t.Fatalf("the server still held the connection after %v (want closed within %v)", el, max)
	}
	return el
}

// drip writes s one byte every 20 ms, then keeps writing 'a' until the
// connection fails or stop closes.
func drip(c net.Conn, s string, stop chan struct{}) {
	for i := 0; ; i++ {
		b := byte('a')
		if i < len(s) {
			b = s[i]
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestHTTPSlowClient: a client sending its headers byte by byte, and one
// whose body never ends, lose their connection at the read-header and
// read timeouts; other clients are served meanwhile.
func TestHTTPSlowClient(t *testing.T) {
	info := runEngine(t, engine.Transport{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond})
	for _, tc := range []struct {
		name, prefix string
		max          time.Duration
	}{
		{"headers byte by byte", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 1500 * time.Millisecond},
		{"body that never ends", "", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", info.HTTPAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			stop := make(chan struct{})
			defer close(stop)
			if tc.prefix == "" {
				// The headers at once, then a body announced as 1 MB, dripping.
				if _, err := io.WriteString(c, "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000000\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
			}
			go drip(c, tc.prefix, stop)
			if code, body := httpGet(info.HTTPAddr, "/healthz"); code != 200 {
				t.Fatalf("another client: %d %s", code, body)
			}
			el := closedWithin(t, c, tc.max)
			t.Logf("closed after %v", el)
		})
	}
}

// TestHTTPIdleConnections: 500 connections that send nothing do not stop
// other clients being served; with a cap of 8 connections, 8 idle ones
// are dropped at the read-header timeout and the next client is served.
func TestHTTPIdleConnections(t *testing.T) {
	idle := func(t *testing.T, addr string, n int) []net.Conn {
		t.Helper()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			conns = append(conns, c)
		}
		return conns
	}
	t.Run("500 idle, default cap", func(t *testing.T) {
		info := runEngine(t, engine.Transport{})
		idle(t, info.HTTPAddr, 500)
		start := time.Now()
		for range 10 {
			if code, body := httpGet(info.HTTPAddr, "/healthz"); code != 200 {
				t.Fatalf("with 500 idle connections: %d %s", code, body)
			}
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("10 requests beside 500 idle connections took %v", el)
		}
	})
	t.Run("cap reached by idle connections", func(t *testing.T) {
		info := runEngine(t, engine.Transport{MaxConns: 8, ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
		conns := idle(t, info.HTTPAddr, 8)
		time.Sleep(50 * time.Millisecond) // let the server accept them
		start := time.Now()
		if code, body := httpGet(info.HTTPAddr, "/healthz"); code != 200 {
			t.Fatalf("after 8 idle connections: %d %s", code, body)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("served after %v", el)
		}
		for _, c := range conns {
			closedWithin(t, c, time.Second)
		}
		// A keep-alive connection that sends nothing more is closed at
		// the idle timeout.
		c, err := net.Dial("tcp", info.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		closedWithin(t, c, 1500*time.Millisecond)
	})
	t.Run("header cap", func(t *testing.T) {
		info := runEngine(t, engine.Transport{MaxHeaderBytes: 4 << 10})
		req, _ := http.NewRequest("GET", "http://"+info.HTTPAddr+"/healthz", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("16 KB of headers with a 4 KB cap: %d", resp.StatusCode)
		}
	})
}

// TestHTTPExportWithWriteTimeout: the log export, longer than the write
// timeout, arrives whole.
func TestHTTPExportWithWriteTimeout(t *testing.T) {
	info := runEngine(t, engine.Transport{WriteTimeout: 100 * time.Millisecond})
	evs, err := bench.Events(3000, 50, 5)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if sum, err := handlers.Publish(context.Background(), nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{}); err != nil || sum.Published != len(evs) {
		t.Fatalf("publish: %+v %v", sum, err)
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		return ingested(info, len(evs))
	})
	resp, err := http.Get("http://" + info.HTTPAddr + "/v1/export/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := 0
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		lines += bytes.Count(buf[:n], []byte("\n"))
		if err != nil {
			if err != io.EOF {
				t.Fatalf("export broke off after %d lines: %v", lines, err)
			}
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	// The log holds the events and what the engine adds itself (the
	// reactions' actions): at least the events, and no break.
	if resp.StatusCode != 200 || lines < len(evs) {
		t.Fatalf("export: %d, %d lines for %d events", resp.StatusCode, lines, len(evs))
	}
}

// ingested reports whether the engine's ingest has stored n events
// (journey_ingest_batch_events_sum; the log also holds the engine's own
// records, so its sequence is no count of them).
func ingested(info engine.Info, n int) error {
	_, body := httpGet(info.HTTPAddr, "/metrics")
	if !strings.Contains(body, fmt.Sprintf("\njourney_ingest_batch_events_sum %d\n", n)) {
		return fmt.Errorf("not all %d events ingested yet: %s", n, grepLines(body, "journey_ingest_batch_events_sum"))
	}
	return nil
}

func httpsGet(tc *tls.Config, addr, path string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := c.Get("https://" + addr + path)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestHTTPTLS: HTTPS with the server's certificate, TLS 1.2 at least,
// plain HTTP refused; with a client CA, only a client with a certificate
// signed by it is served.
func TestHTTPTLS(t *testing.T) {
	p := testpki.New(t)
	t.Run("server certificate", func(t *testing.T) {
		info := runEngine(t, engine.Transport{TLSCert: p.ServerCert, TLSKey: p.ServerKey})
		if code, err := httpsGet(&tls.Config{RootCAs: p.Pool}, info.HTTPAddr, "/healthz"); err != nil || code != 200 {
			t.Fatalf("https: %d %v", code, err)
		}
		if code, _ := httpGet(info.HTTPAddr, "/healthz"); code == 200 {
			t.Fatal("plain HTTP served on the HTTPS port")
		}
		if _, err := httpsGet(&tls.Config{RootCAs: p.Pool, MaxVersion: tls.VersionTLS11}, info.HTTPAddr, "/healthz"); err == nil {
			t.Fatal("TLS 1.1 accepted")
		}
		if _, err := httpsGet(&tls.Config{}, info.HTTPAddr, "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a client without the CA: %v", err)
		}
	})
	t.Run("mutual TLS", func(t *testing.T) {
		info := runEngine(t, engine.Transport{TLSCert: p.ServerCert, TLSKey: p.ServerKey, TLSClientCA: p.CA})
		if code, err := httpsGet(&tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.Client}}, info.HTTPAddr, "/healthz"); err != nil || code != 200 {
			t.Fatalf("with a client certificate: %d %v", code, err)
		}
		if code, err := httpsGet(&tls.Config{RootCAs: p.Pool}, info.HTTPAddr, "/healthz"); err == nil {
			t.Fatalf("served without a client certificate: %d", code)
		}
		other := testpki.New(t) // a certificate from a CA the server does not know
		if code, err := httpsGet(&tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{other.Client}}, info.HTTPAddr, "/healthz"); err == nil {
			t.Fatalf("served a client certificate of another CA: %d", code)
		}
	})
	t.Run("bad files", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, tr := range []engine.Transport{
			{TLSCert: p.ServerCert},
			{TLSCert: p.ServerCert, TLSKey: p.ClientKey}, // a key of another certificate
			{TLSClientCA: p.CA},
			{TLSCert: p.ServerCert, TLSKey: p.ServerKey, TLSClientCA: p.ServerKey}, // no certificate in it
		} {
			err := engine.Run(ctx, engine.Config{DataDir: t.TempDir(), NATSListen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Logger: quiet, Transport: tr})
			if err == nil || !strings.Contains(err.Error(), "TLS") && !strings.Contains(err.Error(), "CA bundle") {
				t.Errorf("%+v: %v", tr, err)
			}
		}
	})
}

// peer is a NATS connection that keeps the server's asynchronous errors.
type peer struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []string
}

func natsPeer(t *testing.T, c natsconn.Client) *peer {
	t.Helper()
	nc, err := natsconn.Connect(c)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{nc: nc}
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		p.mu.Lock()
		p.errs = append(p.errs, err.Error())
		p.mu.Unlock()
	})
	t.Cleanup(nc.Close)
	return p
}

func (p *peer) violated(subject string) bool {
	_ = p.nc.Flush()
	for range 200 {
		p.mu.Lock()
		for _, e := range p.errs {
			if strings.Contains(e, "Permissions Violation") && strings.Contains(e, `"`+subject+`"`) {
				p.mu.Unlock()
				return true
			}
		}
		p.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestEmbeddedNATSPermissions runs the engine with its embedded NATS
// guarded by tokens: a writer publishes touchpoints that reach the log,
// but cannot join journey.append, cannot delete the engine's consumer
// through the JetStream API and cannot read journey.actions.>; an admin
// can delete the consumer (and the engine recreates it).
func TestEmbeddedNATSPermissions(t *testing.T) {
	tokens, err := auth.OpenTokens(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	writerTok, _, err := tokens.Create("till-1", auth.Writer, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	adminTok, _, err := tokens.Create("ops", auth.Admin, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	readerTok, _, err := tokens.Create("store-042", auth.Reader, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	info := runEngine(t, engine.Transport{NATSTokens: tokens})
	if nc, err := nats.Connect(info.NATSURL); err == nil {
		nc.Close()
		t.Fatal("connected to the guarded NATS without a token")
	}
	w := natsPeer(t, natsconn.Client{URL: info.NATSURL, Token: writerTok})

	evs, err := bench.Events(200, 10, 7)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := handlers.Publish(context.Background(), w.nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{}); err != nil || sum.Published != len(evs) {
		t.Fatalf("writer publish: %+v %v", sum, err)
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		return ingested(info, len(evs))
	})

	// The writer joins the engine's queue group on journey.append: the
	// server refuses, and appends keep getting the engine's answers.
	fake, err := w.nc.QueueSubscribe("journey.append", "journey-engine", func(m *nats.Msg) { _ = m.Respond([]byte(`{"fake":true}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Unsubscribe()
	if !w.violated("journey.append") {
		t.Error("no permission violation for the writer's subscription to journey.append")
	}
	for i := range 10 {
		m, err := w.nc.Request("journey.append", bench.JSONL(evs[i:i+1]), 5*time.Second)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if strings.Contains(string(m.Data), "fake") {
			t.Fatalf("append %d answered by the writer's fake subscription", i)
		}
	}
	actions, err := w.nc.SubscribeSync("journey.actions.>")
	if err != nil {
		t.Fatal(err)
	}
	defer actions.Unsubscribe()
	if !w.violated("journey.actions.>") {
		t.Error("no permission violation for the writer's subscription to journey.actions.>")
	}

	// The JetStream API: the writer cannot delete the consumer.
	wjs, err := jetstream.New(w.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err = wjs.DeleteConsumer(ctx, "JOURNEY", "journey-engine")
	cancel()
	if err == nil {
		t.Fatal("the writer deleted the engine's consumer")
	}
	if !w.violated("$JS.API.CONSUMER.DELETE.JOURNEY.journey-engine") {
		t.Error("no permission violation for the writer's consumer delete")
	}

	// A reader may call the query service, not publish events.
	r := natsPeer(t, natsconn.Client{URL: info.NATSURL, Token: readerTok})
	if m, err := r.nc.Request("journey.query.customer", []byte(`{"id":"`+customerOf(t, evs[0])+`"}`), 5*time.Second); err != nil || !strings.Contains(string(m.Data), `"stage"`) {
		t.Fatalf("reader's query: %v %v", m, err)
	}
	if err := r.nc.Publish("journey.events.purchase", evs[0]); err != nil {
		t.Fatal(err)
	}
	if !r.violated("journey.events.purchase") {
		t.Error("no permission violation for the reader's event")
	}

	// The admin can.
	a := natsPeer(t, natsconn.Client{URL: info.NATSURL, Token: adminTok})
	ajs, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ajs.DeleteConsumer(ctx, "JOURNEY", "journey-engine"); err != nil {
		t.Fatalf("admin delete consumer: %v", err)
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		_, err := ajs.Consumer(ctx, "JOURNEY", "journey-engine")
		return err
	})
}

// customerOf is the customer id of a bench event.
func customerOf(t *testing.T, ev []byte) string {
	t.Helper()
	i := bytes.Index(ev, []byte(`"subject":"`))
	if i < 0 {
		t.Fatalf("no subject in %s", ev)
	}
	rest := ev[i+len(`"subject":"`):]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

// TestEmbeddedNATSBeyondLoopback: unguarded, the embedded NATS refuses to
// listen beyond loopback, naming the way out; NATSOpen lets it.
func TestEmbeddedNATSBeyondLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := engine.Run(ctx, engine.Config{DataDir: t.TempDir(), NATSListen: "0.0.0.0:0", HTTP: "off", Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "beyond loopback") || !strings.Contains(err.Error(), "--auth") {
		t.Fatalf("unguarded NATS on 0.0.0.0: %v", err)
	}
	c2, cancel2 := context.WithCancel(context.Background())
	_, done := startEngine(t, c2, engine.Config{DataDir: t.TempDir(), NATSListen: "0.0.0.0:0", HTTP: "off", Logger: quiet,
		Transport: engine.Transport{NATSOpen: true}})
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
