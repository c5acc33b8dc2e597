package main

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/journey-cdp/journey/internal/engine"
	"github.com/spf13/cobra"
)

// The environment variables of the client TLS flags.
const (
	CAEnv   = "JOURNEY_CA"
	CertEnv = "JOURNEY_CLIENT_CERT"
	KeyEnv  = "JOURNEY_CLIENT_KEY"
)

// clientTLS is --ca, --client-cert and --client-key of the commands that ask a running
// serve over HTTPS (--server https://…), and the client made of them.
type clientTLS struct {
	ca, cert, key string

	once   sync.Once
	client *http.Client
	err    error
}

// addClientTLSFlags gives --ca, --client-cert and --client-key to every
// command with --server (not --cert/--key: verify has its own --key).
func (a *app) addClientTLSFlags(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if f := c.Flags(); f.Lookup("server") != nil && f.Lookup("ca") == nil {
			f.StringVar(&a.clientTLS.ca, "ca", "", "--server https://…: trust the serve's certificate when these CAs sign it (PEM bundle; default $"+CAEnv+", else the system's)")
			f.StringVar(&a.clientTLS.cert, "client-cert", "", "--server https://…: client certificate for mutual TLS (PEM, with --client-key; default $"+CertEnv+")")
			f.StringVar(&a.clientTLS.key, "client-key", "", "--server https://…: the client certificate's key (PEM; default $"+KeyEnv+")")
		}
	}
	walk(root)
}

// httpClient is the client of the --server commands: http.DefaultClient
// without --ca, --client-cert and --client-key (nor their environment
// variables), else one that trusts --ca and presents --client-cert.
func (a *app) httpClient() (*http.Client, error) {
	c := &a.clientTLS
	c.once.Do(func() {
		ca, cert, key := cmp.Or(c.ca, a.getenv(CAEnv)), cmp.Or(c.cert, a.getenv(CertEnv)), cmp.Or(c.key, a.getenv(KeyEnv))
		if ca == "" && cert == "" && key == "" {
			c.client = http.DefaultClient
			return
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca != "" {
			pool, err := engine.LoadCertPool(ca)
			if err != nil {
				c.err = usageErrorf("--ca: %v", err)
				return
			}
			tc.RootCAs = pool
		}
		if (cert == "") != (key == "") {
			c.err = usageErrorf("--client-cert and --client-key go together (or $%s and $%s)", CertEnv, KeyEnv)
			return
		}
		if cert != "" {
			kp, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				c.err = usageErrorf("--client-cert %s with --client-key %s: %v", cert, key, err)
				return
			}
			tc.Certificates = []tls.Certificate{kp}
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		// HTTP/1.1: a serve refusing the client's certificate then says so
		// (TLS 1.3 sends that alert after the handshake, which HTTP/2
		// reports only as a connection that could not be established).
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		c.client = &http.Client{Transport: tr}
	})
	return c.client, c.err
}

// httpDo sends req with httpClient, and says what to pass when the serve's
// certificate is not trusted or it wants one of the client.
func (a *app) httpDo(req *http.Request) (*http.Response, error) {
	hc, err := a.httpClient()
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err == nil {
		return resp, nil
	}
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return nil, fmt.Errorf("%w (pass --ca FILE, the CA that signed the serve's certificate)", err)
	case errors.As(err, &hostErr):
		return nil, fmt.Errorf("%w (the serve's certificate is for another name: use the name it names in --server)", err)
	case strings.Contains(err.Error(), "tls: certificate required"), strings.Contains(err.Error(), "tls: bad certificate"):
		return nil, fmt.Errorf("%w (the serve wants a client certificate its CA signed: pass --client-cert and --client-key)", err)
	}
	return nil, err
}
