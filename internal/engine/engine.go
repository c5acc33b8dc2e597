package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/journey-cdp/journey/accesslog"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/handlers/reactions"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/journey-cdp/journey/keystore"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
	"github.com/journey-cdp/journey/web"
)

// DefaultHTTP is the default HTTP listen address: loopback only.
const DefaultHTTP = "127.0.0.1:8080"

// embeddedMinFree is the free space the embedded JetStream's file system
// needs before the engine restarts a JetStream that failed to write.
const embeddedMinFree = 64 << 20

// Config is what `journey serve` runs. Zero fields take defaults.
// DefaultLogMemTableSize is the memtable of the engine's log: four times
// the library's default (eventstore.DefaultMemTableSize, 16 MiB, kept for
// the offline commands and small data dirs), as CockroachDB uses. A
// sustained ingest then flushes and compacts a quarter as often: over
// 1,000,000 events the whole process's CPU per event fell by 17–18%
// (journey bench ingest; handlers/PERFORMANCE.md). The cost is disk: the
// log preallocates each WAL at 110% of it and keeps up to five.
const DefaultLogMemTableSize = 64 << 20

type Config struct {
	// DataDir holds <data>/log, <data>/views and <data>/nats. Required.
	DataDir string

	// NATS is the client connection. With an empty NATS.URL the engine
	// starts an embedded server (JetStream under <data>/nats) on NATSListen
	// and connects to it in process.
	NATS natsconn.Client
	// NATSListen is the embedded server's address; "": 127.0.0.1:4222.
	NATSListen string
	// NATSSyncAlways makes the embedded JetStream fsync every write;
	// NATSSyncInterval sets its background fsync interval (0: 2 minutes).
	NATSSyncAlways   bool
	NATSSyncInterval time.Duration

	// HTTP is the HTTP listen address; "": DefaultHTTP; "off": none.
	HTTP string

	// Stream names and shapes the stream and the durable consumer.
	Stream handlers.StreamOptions
	// BatchSize is the most events per ingest Append (0: 1000).
	BatchSize int
	// AppendSubject and AppendQueue are the synchronous append's subject
	// and queue group ("": journey.append, journey-engine); RejectSubject
	// gets the rejection notices ("": journey.rejected).
	AppendSubject, AppendQueue, RejectSubject string
	// QueryPrefix is the NATS query service's subject prefix ("":
	// journey.query; endpoints .customer, .events, .segments).
	QueryPrefix string

	// NoViews runs without the live projections (and their HTTP reads).
	NoViews bool
	// Projections configures the fold (nil: defaults).
	Projections *customer.Config

	// Reactions: thank-you, win-back and escalation (reactions.go).
	Reactions Reactions

	// NoSync skips the log's fsync: benchmarks and tests only.
	NoSync bool
	// LogMemTableSize is the log's Pebble memtable in bytes; 0:
	// DefaultLogMemTableSize.
	LogMemTableSize int64

	// Privacy (crypto-shredding, package keystore). MasterKeyFile holds
	// the data dir's master key ("": $JOURNEY_MASTER_KEY, then
	// <data>/keys/master.key, generated for a new data dir). Plaintext
	// creates a new data dir unencrypted; an existing one stays as it was.
	MasterKeyFile string
	Plaintext     bool

	Logger *slog.Logger     // nil: discard
	Clock  func() time.Time // nil: time.Now

	// CheckEvery is how often the ingester checks the consumer and
	// JetStream's state (0: 5s).
	CheckEvery time.Duration
	// MaxPopulationAsOf is how many population as-of reads (segments
	// as of an instant) HTTP and NATS run at once; beyond it they answer
	// 429 / a busy error. 0: handlers.DefaultMaxPopulationAsOf.
	MaxPopulationAsOf int

	// OnReady, when set, is called once the engine serves, with where.
	OnReady func(Info)

	// Auth, when set, is the token file of access control (issue 11; flags
	// in cmd/journey/serve_auth.go): every HTTP route but /healthz and
	// /readyz, the NATS query service and journey.append then need a bearer
	// token whose role allows them. Nil: no access control.
	Auth *auth.Tokens

	// Transport: TLS for HTTP and the embedded NATS, the HTTP server's
	// timeouts and connection cap (transport.go; flags in serve_tls.go).
	Transport Transport

	// CheckpointEvery is how often the engine signs the head of its log
	// with its Ed25519 key (<data>/checkpoint/ed25519.key, made on the
	// first start; checkpoint.go): 0: 15 minutes, <0: only on demand
	// (GET /v1/checkpoint). The latest are kept in <data>/checkpoint.
	CheckpointEvery time.Duration

	// AccessLogRetention is how long the access log (<data>/access, kept
	// with Auth: every read of one customer's data by a named token) keeps
	// its entries; 0: accesslog.DefaultRetention (400 days).
	AccessLogRetention time.Duration
}

// Info says where a running engine serves.
type Info struct {
	HTTPAddr string // "" when HTTP is off
	NATSURL  string // the server the engine is connected to
}

// Run serves until ctx ends, then shuts down in order and returns nil; it
// returns an error when starting fails or a part stops on its own.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.DataDir == "" {
		return errors.New("engine: no data dir")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	// closers run in reverse order at the end.
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			if cerr := closers[i](); cerr != nil && err == nil {
				err = cerr
			}
		}
	}()

	// The data keys (crypto-shredding): a new data dir is encrypted unless
	// cfg.Plaintext; an existing one is as it was created.
	keys, err := keystore.OpenDataDir(cfg.DataDir, keystore.DataDirOptions{MasterKeyFile: cfg.MasterKeyFile,
		Create: true, Plaintext: cfg.Plaintext, Logger: log.With("component", "keystore")})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	so := &eventstore.Options{Clock: clock, Logger: log.With("component", "eventstore"), NoSync: cfg.NoSync,
		MemTableSize: cmp.Or(cfg.LogMemTableSize, DefaultLogMemTableSize)}
	if keys != nil {
		so.Sealer = keys
		closers = append(closers, keys.Close)
	}
	store, err := eventstore.Open(filepath.Join(cfg.DataDir, "log"), so)
	if err != nil {
		return fmt.Errorf("engine: open log: %w", err)
	}
	closers = append(closers, store.Close)
	head, _ := store.Head()
	keeper, err := openCheckpoints(cfg, store, log, clock)
	if err != nil {
		return err
	}
	log.Info("log open", "dir", filepath.Join(cfg.DataDir, "log"), "head", head)

	ncfg := cfg.NATS
	ncfg.Logger = log.With("component", "nats")
	var srv *server.Server
	if ncfg.URL == "" && ncfg.InProcess == nil {
		emb := natsconn.Embedded{
			StoreDir:     filepath.Join(cfg.DataDir, "nats"),
			Listen:       cfg.NATSListen,
			SyncAlways:   cfg.NATSSyncAlways,
			SyncInterval: cfg.NATSSyncInterval,
			Logger:       log,
		}
		tr := cfg.Transport
		if tr.NATSTokens == nil && cfg.Auth != nil {
			tr.NATSTokens = cfg.Auth // access control on: NATS clients too need a token
		}
		natsAuth, err := tr.embeddedNATS(&emb, &ncfg, auth.NATSSubjects{Events: cfg.Stream.SubjectPrefix, Append: cfg.AppendSubject, Query: cfg.QueryPrefix})
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		srv, err = natsconn.Start(emb)
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		closers = append(closers, func() error { srv.Shutdown(); srv.WaitForShutdown(); return nil })
		if natsAuth != nil {
			closers = append(closers, watchNATS(natsAuth, srv))
		}
		ncfg.InProcess = srv
		log.Info("embedded NATS started", "url", srv.ClientURL(), "store", filepath.Join(cfg.DataDir, "nats"))
	}
	nc, err := natsconn.Connect(ncfg)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	closers = append(closers, func() error {
		// Flush the last acks and replies before closing.
		ferr := nc.FlushTimeout(5 * time.Second)
		nc.Close()
		if ferr != nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
			log.Warn("nats flush at shutdown", "err", ferr)
		}
		return nil
	})
	natsURL := nc.ConnectedUrlRedacted()
	if srv != nil {
		natsURL = srv.ClientURL()
	}

	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("engine: jetstream: %w", err)
	}
	streamOpts := handlers.StreamDefaults(cfg.Stream)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	cons, err := handlers.Provision(pctx, js, cfg.Stream)
	cancel()
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	info, err := cons.Info(ctx)
	if err == nil {
		log.Info("consumer ready", "stream", info.Stream, "consumer", info.Name, "pending", info.NumPending, "ack_pending", info.NumAckPending)
	}

	metrics := handlers.NewMetrics()
	metrics.Gauge("journey_quarantine_entries", "Entries in the quarantine.", func() float64 { return float64(store.QuarantineCount()) })
	metrics.Gauge("journey_log_durable_seq", "Highest log sequence known to be fsynced.", func() float64 { return float64(store.DurableSeq()) })
	metrics.NanosHistogram("journey_wal_fsync_seconds", "Duration of one fsync of the log's write-ahead log (Pebble's measure).", store.WALFsyncLatency)

	var views *projections.Views
	var caughtUp atomic.Bool
	if !cfg.NoViews {
		views, err = projections.Open(cfg.DataDir, store, &projections.Options{Config: cfg.Projections, Clock: clock, Logger: log.With("component", "projections")})
		if err != nil {
			return fmt.Errorf("engine: open views: %w", err)
		}
		closers = append(closers, views.Close)
		metrics.Gauge("journey_views_checkpoint", "Highest log sequence folded into the views.", func() float64 { return float64(views.Checkpoint()) })
	} else {
		caughtUp.Store(true)
	}
	reactor, err := openReactions(cfg.Reactions, cfg.DataDir, store, views, js, cfg.Projections, clock, log.With("component", "reactions"), metrics.Registry)
	if err != nil {
		return err
	}
	if reactor != nil {
		closers = append(closers, reactor.Close)
	}

	// The access log (with Auth), opened here so that it closes (flushing
	// what is buffered) after the services stop.
	var access *accesslog.Log
	if cfg.Auth != nil {
		access, err = accesslog.Open(accesslog.Dir(cfg.DataDir), accesslog.Options{Retention: cfg.AccessLogRetention,
			Clock: clock, Logger: log.With("component", "accesslog"), Registerer: metrics.Registry})
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		closers = append(closers, access.Close)
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	// On any return, the parts stop before NATS, the views and the log close.
	closers = append(closers, func() error { cancelRun(); _ = g.Wait(); return nil })
	if every := checkpointEvery(cfg); every > 0 {
		g.Go(func() error { return keeper.Run(gctx, every) })
	}
	// The services (append, queries, HTTP) stop first, in reverse order of
	// start, on every return: one list, run once.
	var services []func()
	stopServices := func() {
		for i := len(services) - 1; i >= 0; i-- {
			services[i]()
		}
		services = nil
	}
	closers = append(closers, func() error { stopServices(); return nil })
	// The ingester recreates the stream and the consumer it provisioned
	// when they are deleted (JetStream, Stream), and reports JetStream's
	// problems on /readyz; the embedded server's own (a stream's write
	// error on a full disk, its max_file_store reached) it sees and repairs
	// too, restarting the embedded JetStream once its disk has room again.
	io := handlers.IngestOptions{
		SubjectPrefix: cfg.Stream.SubjectPrefix, RejectSubject: cfg.RejectSubject, BatchSize: cfg.BatchSize,
		Clock: clock, Logger: log.With("component", "ingest"), Metrics: metrics,
		JetStream: js, Stream: cfg.Stream, LagEvery: cfg.CheckEvery,
	}
	if srv != nil {
		io.ServerCheck = handlers.EmbeddedServerCheck(srv)
		io.ServerRepair = handlers.EmbeddedServerRepair(srv, embeddedMinFree)
		io.RepairEvery = cfg.CheckEvery
	}
	ingester := handlers.NewIngester(store, nc, cons, io)
	g.Go(func() error { return ingester.Run(gctx) })
	// The connection reconnects without limit, but the client gives up on
	// a server that refuses the credentials twice in a row (revoked or
	// expired): then stop, so that a supervisor sees the exit instead of a
	// process that has silently stopped ingesting.
	closed := nc.StatusChanged(nats.CLOSED)
	g.Go(func() error {
		defer nc.RemoveStatusListener(closed)
		select {
		case <-gctx.Done():
			return nil
		case <-closed:
			return fmt.Errorf("engine: NATS connection closed, reconnection given up (last error: %v)", nc.LastError())
		}
	})

	// authz checks the tokens of every surface (nil: no access control).
	var authz *auth.Authorizer
	if cfg.Auth != nil {
		if authz, err = auth.NewAuthorizer(cfg.Auth, metrics.Registry); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		log.Info("access control on", "tokens", len(cfg.Auth.List()))
		authz.OnCustomerRead = handlers.RecordAccess(access, log.With("component", "accesslog"))
	}
	appender := handlers.NewAppender(store, handlers.AppendOptions{
		Clock: clock, Logger: log.With("component", "append"), Metrics: metrics, RejectSubject: cfg.RejectSubject, Conn: nc,
		Auth: authz,
	})
	svc, err := appender.Serve(nc, cfg.AppendSubject, cfg.AppendQueue)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	services = append(services, func() {
		if err := svc.Stop(); err != nil {
			log.Warn("append service stop", "err", err)
		}
	})

	popLimit := handlers.NewLimiter(cmp.Or(cfg.MaxPopulationAsOf, handlers.DefaultMaxPopulationAsOf))
	qsvc, err := handlers.ServeQueries(nc, handlers.Queries{Store: store, Views: views, PopulationAsOf: popLimit, Logger: log.With("component", "query"), Auth: authz}, cfg.QueryPrefix, cfg.AppendQueue)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	services = append(services, func() {
		if err := qsvc.Stop(); err != nil {
			log.Warn("query service stop", "err", err)
		}
	})

	if views != nil {
		g.Go(func() error {
			n, err := views.CatchUp(gctx)
			if err != nil {
				return fmt.Errorf("engine: views catch-up: %w", err)
			}
			caughtUp.Store(true)
			log.Info("views caught up", "applied", n, "checkpoint", views.Checkpoint())
			if err := views.Follow(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("engine: views: %w", err)
			}
			return nil
		})
	}
	if reactor != nil {
		g.Go(func() error { return reactor.Run(gctx) })
	}

	ready := func() error {
		if err := store.Failure(); err != nil {
			return fmt.Errorf("log: %w", err)
		}
		if !nc.IsConnected() {
			return errors.New("NATS not connected")
		}
		if err := ingester.Ready(); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		if !caughtUp.Load() {
			return errors.New("views catching up")
		}
		return nil
	}
	var httpSrv *http.Server
	httpAddr := ""
	if cfg.HTTP != "off" {
		addr := cfg.HTTP
		if addr == "" {
			addr = DefaultHTTP
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("engine: http: %w", err)
		}
		httpAddr = ln.Addr().String()
		var serveHTTP func() error
		api := handlers.NewHTTPHandler(handlers.HTTPOptions{
			PopulationAsOf: popLimit,
			Auth:           authz,
			Checkpoints:    keeper,
			AccessLog:      access,
			Privacy: privacyOf(&handlers.Privacy{Store: store, Views: views, AccessLog: access, JetStream: js,
				Stream: streamOpts.Stream, SubjectPrefix: streamOpts.SubjectPrefix, ActionsStream: reactions.DefaultStream}, reactor),
			Store: store, Appender: appender, Views: views, Metrics: metrics, Ready: ready, Logger: log.With("component", "http"),
		})
		ui := web.New(web.Options{Store: store, Views: views, Auth: authz, Checkpoints: keeper, Logger: log.With("component", "web"),
			Ingest: func() web.IngestStatus { // the audit page's ingest lag
				st := web.IngestStatus{StreamPosition: ingester.Position(), Pending: web.MetricValue(metrics.Pending), AckPending: web.MetricValue(metrics.AckPending)}
				if err := ingester.Ready(); err != nil {
					st.Problem = err.Error()
				}
				return st
			}})
		services = append(services, ui.Close)
		httpSrv, serveHTTP, err = cfg.Transport.httpServer(web.Mount(api, ui), ln, log.With("component", "http")) // the web page under /ui/
		if err != nil {
			ln.Close()
			return fmt.Errorf("engine: http: %w", err)
		}
		services = append(services, func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = httpSrv.Shutdown(sctx)
			cancel()
		})
		g.Go(func() error {
			if err := serveHTTP(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("engine: http: %w", err)
			}
			return nil
		})
		log.Info("http listening", "addr", httpAddr)
	}
	if cfg.OnReady != nil {
		cfg.OnReady(Info{HTTPAddr: httpAddr, NATSURL: natsURL})
	}

	<-gctx.Done()
	log.Info("shutting down")
	stopServices()
	runErr := waitParts(ctx, g.Wait, partsGrace, log)
	if runErr != nil && ctx.Err() == nil {
		if nc.IsClosed() && !strings.Contains(runErr.Error(), "NATS connection closed") {
			// A part that failed on the closed connection is not the cause.
			return fmt.Errorf("engine: NATS connection closed, reconnection given up (last error: %v): %w", nc.LastError(), runErr)
		}
		return runErr
	}
	log.Info("stopped", "durable_seq", store.DurableSeq())
	return nil
}

// partsGrace is how long the engine waits for its parts to stop after
// one of them failed (no signal yet) before it returns the failure anyway.
var partsGrace = 30 * time.Second

// waitParts waits for the engine's parts (wait: the group's Wait). After a
// signal (ctx done) every part stops on its own and it waits for them;
// when a part failed and ctx is still live, a part that does not stop
// within grace must not keep the process up half-stopped (HTTP closed,
// nothing ingested): it returns the failure then, naming the wait.
func waitParts(ctx context.Context, wait func() error, grace time.Duration, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	if ctx.Err() != nil {
		return <-done
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return <-done
	case <-t.C:
		log.Error("engine: parts still running after a failure; stopping without them", "waited", grace)
		return fmt.Errorf("engine: a part failed and the others did not stop within %v", grace)
	}
}

// privacyOf is p forgetting in the reactions' store too, when they run.
func privacyOf(p *handlers.Privacy, reactor *reactions.Reactor) *handlers.Privacy {
	if reactor != nil {
		p.Reactions = reactor
	}
	return p
}
