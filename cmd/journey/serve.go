package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/internal/engine"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/journey-cdp/journey/internal/rofs"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/spf13/cobra"
)

// natsFlags are the client options of a NATS connection (serve, publish).
type natsFlags struct {
	url, user, password, token, nkey, creds, ca, cert, key string
}

func (n *natsFlags) add(cmd *cobra.Command, urlHelp string) {
	f := cmd.Flags()
	f.StringVar(&n.url, "nats-url", "", urlHelp)
	f.StringVar(&n.user, "nats-user", "", "NATS user (with --nats-password)")
	f.StringVar(&n.password, "nats-password", "", "NATS password")
	f.StringVar(&n.token, "nats-token", "", "NATS token")
	f.StringVar(&n.nkey, "nats-nkey", "", "NATS nkey seed file")
	f.StringVar(&n.creds, "nats-creds", "", "NATS credentials file (JWT + nkey)")
	f.StringVar(&n.ca, "nats-ca", "", "CA bundle to verify the NATS server (enables TLS)")
	f.StringVar(&n.cert, "nats-cert", "", "client certificate for mutual TLS (with --nats-key)")
	f.StringVar(&n.key, "nats-key", "", "client key for mutual TLS")
}

func (n *natsFlags) validate() error {
	if (n.cert == "") != (n.key == "") {
		return usageErrorf("--nats-cert and --nats-key go together")
	}
	if n.password != "" && n.user == "" {
		return usageErrorf("--nats-password needs --nats-user")
	}
	return nil
}

func (a *app) serveCommand() *cobra.Command {
	var (
		cfg        engine.Config
		nf         natsFlags
		logLevel   string
		logJSON    bool
		config     string
		syncAlways bool
		syncEvery  time.Duration
		memMiB     int
	)
	cmd := &cobra.Command{
		Use:   "serve [--data DIR] [--nats-url URL | --nats-listen HOST:PORT] [--http HOST:PORT]",
		Short: "Run the engine: NATS ingestion, the log, live projections, the HTTP API",
		Long: `serve runs the engine until interrupted. Without --nats-url it starts an
embedded NATS server with JetStream (loopback, store under DATA/nats) on
--nats-listen; with --nats-url it connects to an existing NATS (cluster) with
the given credentials and TLS options, and reconnects on its own.

It provisions the JetStream stream (--stream, subjects journey.events.*) and the
durable pull consumer (--consumer) when missing, takes touchpoints into the log
(one fsync per batch, acks after it), quarantines invalid ones (notice on
journey.rejected), answers the synchronous append on journey.append, keeps the
projections live, and serves HTTP on --http:
  /healthz /readyz /metrics  POST /v1/events  GET /v1/customers/{id}[/events]
  GET /v1/segments?by=&as_of=

Access control: with --auth FILE, or DATA/auth/tokens.json when it exists
(journey token create makes it), every route but /healthz and /readyz, the
NATS query service and journey.append need a bearer token of the route's
role. Without it serve listens on loopback only: --http or --nats-listen
beyond loopback is refused unless --insecure-no-auth.

A deleted consumer or stream is recreated (a warning in the log, metric
journey_ingest_recoveries_total): serve does not exit for it. JetStream
trouble (shut down, storage full, a stream that failed to write on a full
disk) makes /readyz 503 with the reason and is logged once; the embedded
server's JetStream is restarted once its disk has room again.

The first interrupt (Ctrl-C, SIGTERM) drains: fetching stops, the batch in
flight is stored and acked, what was fetched and not stored is handed back
to JetStream at once, NATS and Pebble close. A second one aborts.`,
		Example: `  journey serve --data ./data
  journey serve --data /var/lib/journey --nats-url nats://nats-1:4222,nats://nats-2:4222 --nats-creds journey.creds --http :8080 --auth /etc/journey/tokens.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := nf.validate(); err != nil {
				return err
			}
			if nf.url != "" && cmd.Flags().Changed("nats-listen") {
				return usageErrorf("--nats-url and --nats-listen exclude each other: connect to a server or embed one")
			}
			if memMiB < 4 || memMiB > 1024 {
				return usageErrorf("--log-memtable-mib %d: want 4 to 1024", memMiB)
			}
			cfg.LogMemTableSize = int64(memMiB) << 20
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageErrorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			var h slog.Handler = slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level})
			if logJSON || a.jsonOut {
				h = slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: level})
			}
			if config != "" {
				pc, err := customer.LoadConfig(config)
				if err != nil {
					return err
				}
				cfg.Projections = pc
			}
			cfg.DataDir = a.dataDir()
			if err := cli.CheckFree(cfg.DataDir, cli.LogDir(cfg.DataDir)); err != nil {
				return err
			}
			// A taken port fails now, naming it, not after the engine has
			// opened everything (HTTP) or waited 10 s for NATS.
			if nf.url == "" {
				if err := cli.CheckListen("the embedded NATS server", "--nats-listen", cmp.Or(cfg.NATSListen, natsconn.DefaultListen)); err != nil {
					return err
				}
			}
			if cfg.HTTP != "off" {
				if err := cli.CheckListen("HTTP", "--http", cmp.Or(cfg.HTTP, engine.DefaultHTTP)); err != nil {
					return err
				}
			}
			// Tokens beyond loopback without TLS cross the network in clear.
			if cfg.Auth != nil && cfg.HTTP != "off" && !loopbackAddr(cmp.Or(cfg.HTTP, engine.DefaultHTTP)) && !cfg.Transport.TLS() {
				fmt.Fprintf(a.stderr, "journey: warning: --http %s listens beyond loopback without TLS: bearer tokens and customer data cross the network in clear (pass --tls-cert and --tls-key)\n", cfg.HTTP)
			}
			if cfg.Auth != nil && nf.url == "" && !loopbackAddr(cmp.Or(cfg.NATSListen, natsconn.DefaultListen)) && cfg.Transport.NATSTLSCert == "" {
				fmt.Fprintf(a.stderr, "journey: warning: --nats-listen %s listens beyond loopback without TLS: tokens and touchpoints cross the network in clear (pass --nats-tls-cert and --nats-tls-key)\n", cfg.NATSListen)
			}
			cfg.NATS.URL, cfg.NATS.User, cfg.NATS.Password, cfg.NATS.Token = nf.url, nf.user, nf.password, nf.token
			cfg.NATS.NKeySeedFile, cfg.NATS.CredsFile = nf.nkey, nf.creds
			cfg.NATS.TLSCA, cfg.NATS.TLSCert, cfg.NATS.TLSKey = nf.ca, nf.cert, nf.key
			cfg.NATSSyncAlways, cfg.NATSSyncInterval = syncAlways, syncEvery
			cfg.Logger = slog.New(h)
			cfg.Clock = a.now
			cfg.OnReady = func(info engine.Info) {
				parts := []string{"NATS " + info.NATSURL}
				si := cli.ServerInfo{NATS: info.NATSURL, PID: os.Getpid()}
				if info.HTTPAddr != "" {
					parts = append(parts, "HTTP "+httpScheme(cfg.Transport)+"://"+info.HTTPAddr)
					si.HTTP = withScheme(cli.HTTPURL(info.HTTPAddr), cfg.Transport)
				}
				// Where to ask instead, for the commands that find the data dir in use.
				if err := cli.WriteServerFile(cfg.DataDir, si); err != nil {
					cfg.Logger.Warn("cannot write the server file", "file", filepath.Join(cfg.DataDir, cli.ServerFileName), "err", err)
				}
				fmt.Fprintf(a.stderr, "journey serving (%s), data in %s; Ctrl-C to stop\n", strings.Join(parts, ", "), cfg.DataDir)
			}
			err := engine.Run(cmd.Context(), cfg)
			if rerr := cli.RemoveServerFile(cfg.DataDir); rerr != nil {
				cfg.Logger.Warn("cannot remove the server file", "err", rerr)
			}
			if err != nil && rofs.IsReadOnly(err) {
				return &cli.ReadOnlyError{Dir: cfg.DataDir, Command: "serve", Err: err}
			}
			if err != nil && cli.IsLockError(err) {
				return cli.NewInUseError(cfg.DataDir, err)
			}
			if errors.Is(err, cmd.Context().Err()) {
				return nil
			}
			return err
		},
	}
	nf.add(cmd, "connect to this NATS server (cluster: comma-separated URLs) instead of embedding one")
	f := cmd.Flags()
	f.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "embedded NATS: client listen address")
	f.BoolVar(&syncAlways, "nats-sync-always", false, "embedded NATS: fsync JetStream on every write")
	f.DurationVar(&syncEvery, "nats-sync-interval", 0, "embedded NATS: JetStream background fsync interval (0: server default, 2m)")
	f.StringVar(&cfg.HTTP, "http", engine.DefaultHTTP, `HTTP listen address ("off": none)`)
	f.StringVar(&cfg.Stream.Stream, "stream", "", "JetStream stream name (default JOURNEY)")
	f.StringVar(&cfg.Stream.SubjectPrefix, "subject-prefix", "", "subject prefix of the touchpoints (default journey.events)")
	f.StringVar(&cfg.Stream.Consumer, "consumer", "", "durable pull consumer name (default journey-engine)")
	f.DurationVar(&cfg.Stream.MaxAge, "stream-max-age", 0, "how long the stream keeps a message when serve creates it (limits retention; 0: 7 days; negative: forever); messages expired before the engine took them are reported on /readyz")
	f.IntVar(&cfg.Stream.Replicas, "stream-replicas", 0, "stream replicas when created on a cluster (default 1)")
	f.IntVar(&cfg.BatchSize, "batch", 0, "most events per log append (default 1000)")
	f.StringVar(&cfg.AppendSubject, "append-subject", "", "subject of the synchronous append (default journey.append)")
	f.StringVar(&cfg.RejectSubject, "reject-subject", "", "subject of the rejection notices (default journey.rejected)")
	f.BoolVar(&cfg.NoViews, "no-views", false, "run without the live projections (ingest only)")
	f.IntVar(&memMiB, "log-memtable-mib", engine.DefaultLogMemTableSize>>20, "the log's Pebble memtable in MiB (4-1024): larger flushes and compacts less under ingest; the log preallocates up to five WALs of 110% of it, and needs twice it free to open")
	f.IntVar(&cfg.MaxPopulationAsOf, "max-population-asof", 0, "population as-of reads (segments as of an instant) run at once; more get 429 (default 2)")
	f.StringVar(&config, "config", "", "projection rules file (JSON)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.BoolVar(&logJSON, "log-json", false, "log as JSON lines (also with --json)")
	a.addAuthFlags(cmd, &cfg)              // --auth, --insecure-no-auth: serve_auth.go
	a.addAccessFlags(cmd, &cfg)            // --access-log-retention: serve_access.go
	addTransportFlags(cmd, &cfg.Transport) // --tls-*, --http-*-timeout, --http-max-conns, --nats-tls-*: serve_tls.go
	addReactionsFlags(cmd, &cfg.Reactions) // --reactions, --reactions-config, --reactions-sweep-every: serve_reactions.go
	addCheckpointFlags(cmd, &cfg)          // --checkpoint-every: serve_checkpoint.go
	return cmd
}
