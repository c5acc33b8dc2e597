package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/internal/engine"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/spf13/cobra"
)

// addAuthFlags gives serve its access control flags, --auth FILE and
// --insecure-no-auth, and checks them (PreRunE) before serve starts:
//
//   - --auth FILE, or DATA/auth/tokens.json when it exists: access control
//     on (cfg.Auth);
//   - else serve listens on loopback only: an --http or --nats-listen
//     beyond it is refused, naming the flag, unless --insecure-no-auth.
func (a *app) addAuthFlags(cmd *cobra.Command, cfg *engine.Config) {
	var (
		file     string
		insecure bool
	)
	f := cmd.Flags()
	f.StringVar(&file, "auth", "", "token file of access control (default DATA/auth/tokens.json when it exists; journey token create makes it)")
	f.BoolVar(&insecure, "insecure-no-auth", false, "serve without access control beyond loopback (demos only: anyone reaching the port reads every customer)")
	addPreRun(cmd, func(cmd *cobra.Command) error {
		t, err := a.serveTokens(file, insecure)
		if err != nil {
			return err
		}
		if t != nil {
			cfg.Auth = t
			return nil
		}
		if insecure {
			cfg.Transport.NATSOpen = true // the embedded NATS beyond loopback without tokens, as asked
			return nil
		}
		if cfg.HTTP != "off" && !loopbackAddr(cfg.HTTP) {
			return usageErrorf("--http %s listens beyond loopback without access control: pass --auth FILE (journey token create --role admin --name NAME makes one), listen on 127.0.0.1, or pass --insecure-no-auth", cfg.HTTP)
		}
		if natsURL := cmd.Flags().Lookup("nats-url"); (natsURL == nil || natsURL.Value.String() == "") &&
			!loopbackAddr(cmp.Or(cfg.NATSListen, natsconn.DefaultListen)) {
			return usageErrorf("--nats-listen %s listens beyond loopback without access control: pass --auth FILE (journey token create makes one), listen on 127.0.0.1, or pass --insecure-no-auth", cfg.NATSListen)
		}
		return nil
	})
}

// serveTokens is the token file serve uses: --auth FILE (it must exist),
// else DATA/auth/tokens.json when it exists, else nil (no access control).
func (a *app) serveTokens(file string, insecure bool) (*auth.Tokens, error) {
	if file != "" && insecure {
		return nil, usageErrorf("--auth and --insecure-no-auth exclude each other")
	}
	if insecure {
		// Not silently off: tokens were made for this data dir.
		if def := a.tokenFile(""); fileExists(def) {
			return nil, usageErrorf("--insecure-no-auth, but %s holds this data dir's tokens: access control would be off and every customer readable without one; drop --insecure-no-auth (or move the token file away)", def)
		}
		return nil, nil
	}
	path := a.tokenFile(file)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) && file == "" {
			return nil, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageErrorf("--auth %s: no such file (journey token create --auth %s --role admin --name NAME makes it)", file, file)
		}
		return nil, fmt.Errorf("--auth: %w", err)
	}
	t, err := a.openTokens(path)
	if err != nil {
		return nil, err
	}
	t.SetClock(a.now)
	return t, nil
}

// loopbackAddr reports whether addr (host:port) listens on loopback only:
// localhost or a loopback IP. An empty host (":8080") is every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
