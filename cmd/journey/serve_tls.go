package main

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/journey-cdp/journey/internal/engine"
	"github.com/spf13/cobra"
)

// addTransportFlags gives serve its TLS, timeout and connection-cap flags
// (engine.Transport), and checks them (PreRunE) before serve starts.
func addTransportFlags(cmd *cobra.Command, t *engine.Transport) {
	// The engine's defaults, so that the help shows them.
	t.ReadHeaderTimeout, t.ReadTimeout = engine.DefaultReadHeaderTimeout, engine.DefaultReadTimeout
	t.WriteTimeout, t.IdleTimeout = engine.DefaultWriteTimeout, engine.DefaultIdleTimeout
	t.MaxHeaderBytes, t.MaxConns = engine.DefaultMaxHeaderBytes, engine.DefaultMaxConns
	f := cmd.Flags()
	f.StringVar(&t.TLSCert, "tls-cert", "", "HTTPS: the server's certificate (PEM; with --tls-key); TLS 1.2 or later")
	f.StringVar(&t.TLSKey, "tls-key", "", "HTTPS: the server's private key (PEM)")
	f.StringVar(&t.TLSClientCA, "tls-client-ca", "", "HTTPS: require client certificates signed by these CAs (PEM bundle; mutual TLS)")
	f.Var(durationLimit{&t.ReadHeaderTimeout}, "http-read-header-timeout", "most time to read a request's headers (0: none)")
	f.Var(durationLimit{&t.ReadTimeout}, "http-read-timeout", "most time to read a whole request, body included (0: none)")
	f.Var(durationLimit{&t.WriteTimeout}, "http-write-timeout", "most time one write of an answer may stall; renewed per write, so long exports keep flowing (0: none)")
	f.Var(durationLimit{&t.IdleTimeout}, "http-idle-timeout", "close a keep-alive connection idle this long (0: never)")
	f.Var(intLimit{&t.MaxHeaderBytes}, "http-max-header-bytes", "largest request headers, in bytes (0: none)")
	f.Var(intLimit{&t.MaxConns}, "http-max-conns", "most HTTP connections open at once; more wait (0: no cap)")
	f.StringVar(&t.NATSTLSCert, "nats-tls-cert", "", "embedded NATS: the listener's certificate (PEM; with --nats-tls-key): clients must use TLS")
	f.StringVar(&t.NATSTLSKey, "nats-tls-key", "", "embedded NATS: the listener's private key (PEM)")
	f.StringVar(&t.NATSTLSClientCA, "nats-tls-client-ca", "", "embedded NATS: require client certificates signed by these CAs (PEM bundle)")
	addPreRun(cmd, func(cmd *cobra.Command) error {
		if (t.TLSCert == "") != (t.TLSKey == "") {
			return usageErrorf("--tls-cert and --tls-key go together")
		}
		if (t.NATSTLSCert == "") != (t.NATSTLSKey == "") {
			return usageErrorf("--nats-tls-cert and --nats-tls-key go together")
		}
		if fl := cmd.Flags().Lookup("nats-url"); fl != nil && fl.Value.String() != "" && (t.NATSTLSCert != "" || t.NATSTLSClientCA != "") {
			return usageErrorf("--nats-tls-cert and --nats-tls-client-ca are for the embedded NATS; with --nats-url use --nats-ca, --nats-cert, --nats-key")
		}
		if t.TLSClientCA != "" && t.TLSCert == "" {
			return usageErrorf("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
		}
		if t.NATSTLSClientCA != "" && t.NATSTLSCert == "" {
			return usageErrorf("--nats-tls-client-ca needs --nats-tls-cert and --nats-tls-key")
		}
		// A certificate or key file is named by its own flag (not as a CA
		// bundle, nor as the pair).
		for _, c := range []struct{ flag, file string }{
			{"--tls-cert", t.TLSCert}, {"--tls-key", t.TLSKey}, {"--nats-tls-cert", t.NATSTLSCert}, {"--nats-tls-key", t.NATSTLSKey},
		} {
			if c.file == "" {
				continue
			}
			if err := checkPEMFile(c.file, strings.HasSuffix(c.flag, "-cert")); err != nil {
				return usageErrorf("%s %s: %v", c.flag, c.file, err)
			}
		}
		for flag, file := range map[string]string{"--tls-client-ca": t.TLSClientCA, "--nats-tls-client-ca": t.NATSTLSClientCA} {
			if file == "" {
				continue
			}
			if _, err := engine.LoadCertPool(file); err != nil {
				return usageErrorf("%s %s: %v", flag, file, err)
			}
		}
		if t.TLS() {
			if _, err := engine.ServerTLS(t.TLSCert, t.TLSKey, ""); err != nil {
				return usageErrorf("--tls-cert/--tls-key: %v", err)
			}
		}
		if t.NATSTLSCert != "" {
			if _, err := engine.ServerTLS(t.NATSTLSCert, t.NATSTLSKey, ""); err != nil {
				return usageErrorf("--nats-tls-cert/--nats-tls-key: %v", err)
			}
		}
		// --insecure-no-auth (serve_auth.go) also lets an unguarded
		// embedded NATS listen beyond loopback.
		if fl := cmd.Flags().Lookup("insecure-no-auth"); fl != nil && fl.Value.String() == "true" {
			t.NATSOpen = true
		}
		return nil
	})
}

// checkPEMFile checks that file can be read and, for a certificate
// (cert), that it holds a PEM certificate.
func checkPEMFile(file string, cert bool) error {
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file")
	case err != nil:
		return fmt.Errorf("cannot be read: %v", errors.Unwrap(err))
	}
	if !cert {
		return nil
	}
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			return errors.New("holds no PEM certificate")
		}
		if blk.Type == "CERTIFICATE" {
			return nil
		}
	}
}

// httpScheme is the scheme of serve's HTTP URL.
func httpScheme(t engine.Transport) string {
	if t.TLS() {
		return "https"
	}
	return "http"
}

// withScheme is u (an http:// URL) with t's scheme.
func withScheme(u string, t engine.Transport) string {
	return httpScheme(t) + "://" + strings.TrimPrefix(u, "http://")
}

// durationLimit is a limit flag: 0 turns the limit off (a negative
// engine.Transport field).
type durationLimit struct{ d *time.Duration }

func (v durationLimit) String() string {
	if v.d == nil || *v.d < 0 {
		return "0s"
	}
	return v.d.String()
}

func (v durationLimit) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return usageErrorf("%q is not a duration such as 30s or 2m (0: none)", s)
	}
	if d == 0 {
		d = -1 // engine.Transport: negative is off, 0 the default
	}
	*v.d = d
	return nil
}

func (durationLimit) Type() string { return "duration" }

// intLimit is durationLimit for a count.
type intLimit struct{ n *int }

func (v intLimit) String() string {
	if v.n == nil || *v.n <= 0 {
		return "0"
	}
	return strconv.Itoa(*v.n)
}

func (v intLimit) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return usageErrorf("%q is not a count (0: none)", s)
	}
	if n == 0 {
		n = -1
	}
	*v.n = n
	return nil
}

func (intLimit) Type() string { return "int" }
