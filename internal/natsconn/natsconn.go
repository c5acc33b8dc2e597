package natsconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/journey-cdp/journey/auth"
)

// DefaultListen is the embedded server's default listen address: loopback only.
const DefaultListen = "127.0.0.1:4222"

// Embedded configures the in-process NATS server with JetStream.
type Embedded struct {
	// StoreDir holds the JetStream file store (the engine uses <data>/nats).
	StoreDir string
	// Listen is host:port for client connections; "" means DefaultListen.
	// Port 0 or -1 picks a free port (tests).
	Listen string
	// SyncInterval is how often JetStream fsyncs its files in the
	// background; 0 keeps the server default (2 minutes).
	SyncInterval time.Duration
	// SyncAlways makes JetStream fsync after every write (slower; see
	// handlers/DURABILITY.md).
	SyncAlways bool
	// Logger receives the server's log lines; nil: discard.
	Logger *slog.Logger
	// Debug enables the server's debug log lines.
	Debug bool

	// TLSCert and TLSKey (PEM files) make the listener require TLS (1.2
	// or later); TLSClientCA (a PEM bundle) also requires and verifies a
	// client certificate (mutual TLS). In-process connections need none.
	TLSCert, TLSKey, TLSClientCA string
	// Auth, when set, decides who may connect and with which permissions
	// (auth.NATSAuthenticator); nil: anyone, with every right.
	Auth server.Authentication
}

// tlsTimeout is how long the embedded server waits for a TLS handshake (seconds).
const tlsTimeout = 5

// Start starts the embedded server and waits until it accepts connections.
// The caller shuts it down with Shutdown and WaitForShutdown.
func Start(e Embedded) (*server.Server, error) {
	if e.StoreDir == "" {
		return nil, errors.New("the embedded NATS server needs a store dir")
	}
	listen := e.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("NATS listen address %q is not HOST:PORT: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("NATS listen port %q is not a number", portStr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:   "journey",
		Host:         host,
		Port:         port,
		JetStream:    true,
		StoreDir:     e.StoreDir,
		NoSigs:       true,
		SyncInterval: e.SyncInterval,
		SyncAlways:   e.SyncAlways,
		// The engine's own batches are at most a few MB; keep the defaults
		// otherwise.
	}
	if e.TLSCert != "" || e.TLSKey != "" || e.TLSClientCA != "" {
		if e.TLSCert == "" || e.TLSKey == "" {
			return nil, errors.New("embedded NATS TLS needs both a certificate and a key")
		}
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: e.TLSCert, KeyFile: e.TLSKey, CaFile: e.TLSClientCA, Verify: e.TLSClientCA != "",
			Timeout: tlsTimeout, MinVersion: tls.VersionTLS12,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS TLS: %w", err)
		}
		opts.TLS, opts.TLSConfig, opts.TLSTimeout, opts.TLSVerify = true, tc, tlsTimeout, e.TLSClientCA != ""
	}
	opts.CustomClientAuthentication = e.Auth
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.SetLoggerV2(&serverLogger{log: log.With("component", "nats-server")}, e.Debug, false, false)
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS server on %s did not start within 10s (is the port taken? see the log above)", listen)
	}
	return s, nil
}

// Client configures a client connection.
type Client struct {
	// URL of the server(s), comma separated; ignored when InProcess is set.
	URL string
	// InProcess connects to this embedded server without a socket.
	InProcess *server.Server
	// Name is the connection name shown by the server; "" means "journey".
	Name string

	User, Password string // user/password authentication
	Token          string // token authentication
	NKeySeedFile   string // nkey seed file authentication
	CredsFile      string // JWT + nkey creds file (NGS, operator mode)

	TLSCA   string // CA bundle to verify the server; enables TLS
	TLSCert string // client certificate (mutual TLS), with TLSKey
	TLSKey  string

	// Logger receives disconnect/reconnect notices; nil: discard.
	Logger *slog.Logger
}

// Connect connects as c describes. The connection reconnects forever
// (MaxReconnects(-1)) and logs disconnects, reconnects and async errors.
func Connect(c Client) (*nats.Conn, error) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := c.Name
	if name == "" {
		name = "journey"
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectBufSize(64 << 20),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			} else {
				log.Info("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			log.Debug("nats connection closed")
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	if c.User != "" || c.Password != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
		// Replies come below _INBOX.<user>, the only inbox the users of
		// examples/nats-permissions.conf may read (still below _INBOX.>).
		if plainName(c.User) {
			opts = append(opts, nats.CustomInboxPrefix("_INBOX."+c.User))
		}
	}
	if c.Token != "" {
		// The embedded server lets a token's connection subscribe only
		// below its own inbox (auth.InboxPrefix); any server accepts it.
		opts = append(opts, nats.Token(c.Token), nats.CustomInboxPrefix(auth.InboxPrefix(c.Token)))
	}
	if c.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("NATS nkey seed %s: %w", c.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		if c.TLSCert == "" || c.TLSKey == "" {
			return nil, errors.New("a NATS TLS client certificate needs both cert and key")
		}
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	url := c.URL
	if c.InProcess != nil {
		opts = append(opts, nats.InProcessServer(c.InProcess))
		// No socket, no TLS: a tls:// URL would make the client ask for it.
		url = "nats://" + strings.TrimPrefix(strings.TrimPrefix(c.InProcess.ClientURL(), "tls://"), "nats://")
	}
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redact(url), err)
	}
	return nc, nil
}

// plainName reports whether s can be one token of a subject: letters,
// digits, '-' and '_' only.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// redact hides the userinfo of a URL for error messages.
func redact(url string) string {
	i := 0
	if j := strings.Index(url, "://"); j >= 0 {
		i = j + 3
	}
	if at := strings.Index(url[i:], "@"); at >= 0 {
		return url[:i] + "***" + url[i+at:]
	}
	return url
}

// serverLogger adapts nats-server's Logger to slog.
type serverLogger struct{ log *slog.Logger }

func (l *serverLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
