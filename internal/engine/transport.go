package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/nats-io/nats-server/v2/server"
)

// Defaults of the HTTP server's limits (Transport's zero fields).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultWriteTimeout      = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 1024
)

// Transport is how the HTTP server and the embedded NATS listener meet the
// network: TLS, timeouts and the connection cap. Zero fields take the
// defaults above; a negative duration or count turns that limit off.
type Transport struct {
	// TLSCert and TLSKey (PEM files) make the HTTP server speak HTTPS only
	// (TLS 1.2 or later); TLSClientCA (a PEM bundle) also makes it require
	// and verify a client certificate signed by one of those CAs (mutual TLS).
	TLSCert, TLSKey, TLSClientCA string

	// ReadHeaderTimeout bounds the reading of a request's headers (a
	// client sending them byte by byte is cut off after it); ReadTimeout
	// the reading of the whole request, body included.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds how long one write of an answer may stall (a
	// client that stops reading): it is renewed before every write, so an
	// export that keeps flowing is never cut, however long it runs.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's header size (431 beyond it).
	MaxHeaderBytes int
	// MaxConns caps the HTTP connections open at once; beyond it new
	// connections wait in the listen queue until one closes.
	MaxConns int

	// NATSTLSCert and NATSTLSKey make the embedded NATS listener require
	// TLS; NATSTLSClientCA also requires a client certificate (mutual TLS).
	// The engine's own in-process connection needs none of it.
	NATSTLSCert, NATSTLSKey, NATSTLSClientCA string
	// NATSTokens, when set, guards the embedded NATS: a client connects
	// with a journey token (nats.Token) and gets its role's permissions
	// (auth.NATSPermissions); the engine's own connection keeps every
	// right. Without it, an embedded NATS listening beyond loopback makes
	// Run refuse to start unless NATSOpen is set (demos).
	NATSTokens auth.TokenChecker
	NATSOpen   bool
}

// limit is d, def when d is 0, and 0 (off) when d is negative.
func limit[T int | time.Duration](d, def T) T {
	if d < 0 {
		return 0
	}
	return cmp.Or(d, def)
}

// httpServer builds the HTTP server for h with t's limits and returns it
// with its serve function on ln (capped, and HTTPS when t has TLS).
func (t Transport) httpServer(h http.Handler, ln net.Listener, log *slog.Logger) (*http.Server, func() error, error) {
	wt := limit(t.WriteTimeout, DefaultWriteTimeout)
	srv := &http.Server{
		// The server's own complaints (TLS handshakes refused, a client
		// without a certificate) go to the engine's log, not to stderr.
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Handler:           renewWriteDeadline(h, wt),
		ReadHeaderTimeout: limit(t.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       limit(t.ReadTimeout, DefaultReadTimeout),
		// WriteTimeout stays 0 on the server: renewWriteDeadline sets the
		// deadline before each write instead of once per request.
		IdleTimeout:    limit(t.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes: limit(t.MaxHeaderBytes, DefaultMaxHeaderBytes),
	}
	if n := limit(t.MaxConns, DefaultMaxConns); n > 0 {
		ln = limitListener(ln, n)
	}
	tc, err := t.httpTLS()
	if err != nil {
		return nil, nil, err
	}
	if tc != nil {
		srv.TLSConfig = tc
		return srv, func() error { return srv.ServeTLS(ln, "", "") }, nil
	}
	return srv, func() error { return srv.Serve(ln) }, nil
}

// TLS reports whether the HTTP server speaks HTTPS.
func (t Transport) TLS() bool { return t.TLSCert != "" || t.TLSKey != "" }

// httpTLS is the HTTP server's TLS configuration, nil without TLS.
func (t Transport) httpTLS() (*tls.Config, error) {
	if !t.TLS() {
		if t.TLSClientCA != "" {
			return nil, errors.New("engine: a TLS client CA needs the server's TLS certificate and key")
		}
		return nil, nil
	}
	return ServerTLS(t.TLSCert, t.TLSKey, t.TLSClientCA)
}

// ServerTLS loads a server certificate and key (PEM files) into a TLS
// 1.2+ configuration; with clientCA (a PEM bundle) it requires and
// verifies client certificates signed by those CAs.
func ServerTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both a certificate and a key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if clientCA != "" {
		pool, err := LoadCertPool(clientCA)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// LoadCertPool reads a PEM bundle of CA certificates.
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", file)
	}
	return pool, nil
}

// renewWriteDeadline sets the connection's write deadline to now+d before
// every write of the answer and once more when the handler returns (for
// the final flush), so that d bounds how long one write may stall, not how
// long a streamed answer may take.
func renewWriteDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		dw.renew()
		defer dw.renew()
		h.ServeHTTP(dw, r)
	})
}

// deadlineWriter renews the write deadline before each write or flush.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) renew() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.renew()
	return w.ResponseWriter.Write(b)
}

func (w *deadlineWriter) Flush() {
	w.renew()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// limitListener accepts at most n connections open at once: Accept waits
// for one to close beyond that (as golang.org/x/net/netutil.LimitListener).
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// embeddedNATS sets the embedded server's TLS and, with NATSTokens, its
// authenticator, and gives the engine's own connection c the internal
// token (random, in memory only). It returns the authenticator (nil
// without tokens) for watchNATS.
func (t Transport) embeddedNATS(e *natsconn.Embedded, c *natsconn.Client, subjects auth.NATSSubjects) (*auth.NATSAuthenticator, error) {
	e.TLSCert, e.TLSKey, e.TLSClientCA = t.NATSTLSCert, t.NATSTLSKey, t.NATSTLSClientCA
	if t.NATSTokens == nil {
		if listen := cmp.Or(e.Listen, natsconn.DefaultListen); !t.NATSOpen && !loopback(listen) {
			return nil, fmt.Errorf("the embedded NATS would listen on %s, beyond loopback, and admit anyone with every right "+
				"(delete the consumer, answer appends): give tokens (--auth) so that clients connect with their role's permissions, "+
				"listen on loopback (--nats-listen 127.0.0.1:4222) or pass --insecure-no-auth", listen)
		}
		return nil, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	internal := "internal_" + base64.RawURLEncoding.EncodeToString(b)
	a := auth.NewNATSAuthenticator(t.NATSTokens, auth.NATSOptions{Subjects: subjects, Internal: internal})
	e.Auth = a
	c.Token = internal
	return a, nil
}

// watchNATS runs a.Watch on s until the returned stop is called.
func watchNATS(a *auth.NATSAuthenticator, s *server.Server) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Watch(ctx, s) }()
	return func() error { cancel(); <-done; return nil }
}

// loopback reports whether a listen address host:port stays on this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
