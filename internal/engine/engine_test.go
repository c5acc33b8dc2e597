package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/journey-cdp/journey/internal/engine"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/journey-cdp/journey/internal/natstest"
)

// Environment of the serve child process (TestHelperServe).
const (
	envData = "JOURNEY_TEST_SERVE_DATA"
	envNATS = "JOURNEY_TEST_SERVE_NATS"
)

// TestHelperServe is not a test: it is the `serve` child process of
// TestServeKill9, the test binary re-executing itself with the data dir
// and the NATS URL in its environment. SIGTERM stops it gracefully.
func TestHelperServe(t *testing.T) {
	data := os.Getenv(envData)
	if data == "" {
		t.Skip("helper process for TestServeKill9")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := engine.Run(ctx, engine.Config{
		DataDir: data,
		NATS:    natsconn.Client{URL: os.Getenv(envNATS)},
		HTTP:    "off",
		Stream:  handlers.StreamOptions{AckWait: 2 * time.Second},
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "engine.Run:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func startChild(t *testing.T, data, url string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$", "-test.v=false")
	cmd.Env = append(os.Environ(), envData+"="+data, envNATS+"="+url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &out
}

// slowReader hands out at most 16 KiB per Read, pausing before each, so
// that a publish lasts long enough to kill the engine in its middle.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	return s.r.Read(p)
}

// TestServeKill9 kills a serve process with SIGKILL in the middle of a
// publish, restarts it, lets the publish complete, and checks that the log
// holds exactly the input's ids, once each, and that the chain verifies.
//
// NATS runs in this (parent) process, so the stream and the consumer's
// unacked messages outlive the engine; the engine's data dir survives on
// disk. (The embedded-NATS variant differs only in where JetStream's files
// live; that the engine restarts on its own <data>/nats is covered by
// TestServeEmbedded.)
func TestServeKill9(t *testing.T) {
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	const n = 20000
	evs, err := bench.Events(n, 1000, 99)
	if err != nil {
		t.Fatal(err)
	}
	file := bench.JSONL(evs)

	child, out := startChild(t, data, srv.ClientURL())
	ctx := context.Background()
	var cons jetstream.Consumer
	natstest.WaitFor(t, 20*time.Second, func() error {
		cons, err = js.Consumer(ctx, handlers.DefaultStream, handlers.DefaultConsumer)
		return err
	})

	pubDone := make(chan handlers.PublishSummary, 1)
	pubErr := make(chan error, 1)
	go func() {
		s, err := handlers.Publish(ctx, nc, &slowReader{r: bytes.NewReader(file), pause: 3 * time.Millisecond}, handlers.PublishOptions{})
		pubDone <- s
		pubErr <- err
	}()
	natstest.WaitFor(t, 30*time.Second, func() error {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.AckFloor.Stream < n/4 {
			return fmt.Errorf("ack floor %d", info.AckFloor.Stream)
		}
		return nil
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := js.Stream(ctx, handlers.DefaultStream)
	sinfo, _ := stream.Info(ctx)
	t.Logf("killed: stream has %d, acked floor %d, ack pending %d", sinfo.State.Msgs, info.AckFloor.Stream, info.NumAckPending)
	if sinfo.State.Msgs >= n {
		t.Logf("publish had already finished when the engine was killed")
	}

	child, out = startChild(t, data, srv.ClientURL())
	sum := <-pubDone
	if err := <-pubErr; err != nil || sum.Published != n || sum.Failed != 0 {
		t.Fatalf("publish: %+v, %v", sum, err)
	}
	natstest.WaitFor(t, 60*time.Second, func() error {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, out)
	}

	store, err := openDataLog(t, data, false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	want := map[string]bool{}
	for _, raw := range evs {
		var p struct{ ID string }
		_ = jsonUnmarshal(raw, &p)
		want[p.ID] = true
	}
	seen := map[string]int{}
	var engineRecs uint64
	if err := store.Scan(ctx, 1, 0, func(rec *eventstore.Record) error {
		if rec.Type.Engine() { // the reactions' own records are not published events
			engineRecs++
		} else {
			seen[rec.ID]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(want) {
		t.Fatalf("log has %d ids, want %d", len(seen), len(want))
	}
	for id, c := range seen {
		if c != 1 || !want[id] {
			t.Fatalf("id %s: %d times, in input %v", id, c, want[id])
		}
	}
	rep, err := store.Verify(ctx, nil)
	if err != nil || !rep.OK || rep.Events != uint64(n)+engineRecs {
		t.Fatalf("verify: %+v, %v (%d events and %d engine records)", rep, err, n, engineRecs)
	}
}

// TestServeEmbedded runs the engine as `journey serve` does by default
// (embedded NATS, HTTP), publishes to it, reads a customer back over HTTP,
// stops it with ctx, restarts it on the same data dir and checks that
// nothing is appended twice.
func TestServeEmbedded(t *testing.T) {
	data := t.TempDir()
	evs, err := bench.Events(2000, 50, 3)
	if err != nil {
		t.Fatal(err)
	}
	run := func(publish bool) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		info, done := startEngine(t, ctx, engine.Config{
			DataDir: data, NATSListen: "127.0.0.1:0", HTTP: "127.0.0.1:0",
			Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			Reactions: engine.Reactions{Off: true}, // the log holds exactly the published events
		})
		nc, err := nats.Connect(info.NATSURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if publish {
			sum, err := handlers.Publish(ctx, nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{})
			if err != nil || sum.Published != len(evs) {
				t.Fatalf("publish: %+v %v", sum, err)
			}
		}
		get := func(path string) (int, string) { return httpGet(info.HTTPAddr, path) }
		natstest.WaitFor(t, 30*time.Second, func() error {
			code, body := get("/metrics")
			if code != 200 || !strings.Contains(body, fmt.Sprintf("journey_views_checkpoint %d", len(evs))) {
				return errors.New("views not at the end of the log yet")
			}
			if code, body := get("/readyz"); code != 200 {
				return fmt.Errorf("readyz %d %s", code, body)
			}
			return nil
		})
		if code, body := get("/v1/customers/cust-000007"); code != 200 || !strings.Contains(body, `"stage"`) {
			t.Fatalf("customer: %d %s", code, body)
		}
		m, err := nc.Request("journey.query.customer", []byte(`{"id":"cust-000007"}`), 10*time.Second)
		if err != nil {
			t.Fatalf("NATS customer query: %v", err)
		}
		if !strings.Contains(string(m.Data), `"stage"`) {
			t.Fatalf("NATS customer query: %s", m.Data)
		}
		if code, body := get("/v1/segments?by=stage"); code != 200 || !strings.Contains(body, `"counts"`) {
			t.Fatalf("segments: %d %s", code, body)
		}
		code, body := get("/metrics")
		if code != 200 || !strings.Contains(body, fmt.Sprintf("journey_log_durable_seq %d", len(evs))) {
			t.Fatalf("metrics after run: %s", body)
		}
		for _, name := range []string{"journey_wal_fsync_seconds_count", "journey_append_fsync_seconds_count",
			"journey_ingest_batch_events_count", "journey_consumer_pending", "journey_quarantine_entries"} {
			if !strings.Contains(body, "\n"+name+" ") {
				t.Fatalf("metrics lack %s:\n%s", name, grepLines(body, "journey_"))
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("engine.Run after cancel: %v", err)
		}
	}
	run(true)
	run(false) // restart on the same data dir: the stream is there, nothing redelivered twice
}

// TestServeReconnects runs the engine against an existing NATS server
// (--nats-url), restarts that server on the same port and store while the
// engine runs, and checks that the engine reconnects on its own: events
// published after the restart reach the log, /readyz is 200 again, and
// nothing is appended twice.
func TestServeReconnects(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := t.TempDir()
	srv, err := natsconn.Start(natsconn.Embedded{StoreDir: store, Listen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	url, listen := srv.ClientURL(), srv.Addr().String()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()

	evs, err := bench.Events(2000, 100, 11)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	info, done := startEngine(t, ctx, engine.Config{
		DataDir: t.TempDir(), NATS: natsconn.Client{URL: url, Logger: quiet}, HTTP: "127.0.0.1:0",
		NoViews: true, Logger: quiet,
	})
	get := func(path string) (int, string) { return httpGet(info.HTTPAddr, path) }
	publish := func(evs [][]byte) {
		t.Helper()
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		sum, err := handlers.Publish(ctx, nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{})
		if err != nil || sum.Published != len(evs) || sum.Duplicates != 0 {
			t.Fatalf("publish: %+v %v", sum, err)
		}
	}
	durable := func(n int) {
		t.Helper()
		natstest.WaitFor(t, 60*time.Second, func() error {
			code, body := get("/metrics")
			if code != 200 || !strings.Contains(body, fmt.Sprintf("journey_log_durable_seq %d\n", n)) {
				return fmt.Errorf("log not at %d events yet", n)
			}
			return nil
		})
	}
	publish(evs[:1000])
	durable(1000)

	srv.Shutdown()
	srv.WaitForShutdown()
	srv, err = natsconn.Start(natsconn.Embedded{StoreDir: store, Listen: listen, Logger: quiet})
	if err != nil {
		t.Fatalf("restart the server on %s: %v", listen, err)
	}
	publish(evs[1000:])
	durable(2000)
	natstest.WaitFor(t, 30*time.Second, func() error {
		if code, body := get("/readyz"); code != 200 {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	if _, body := get("/metrics"); !strings.Contains(body, "journey_events_appended_total 2000\n") ||
		!strings.Contains(body, "journey_events_duplicate_total 0\n") {
		t.Fatalf("after the restart, want 2000 appended and no duplicates:\n%s", grepLines(body, "journey_events_"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("engine.Run after cancel: %v", err)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestServeStopsWhenNATSRefuses restarts the engine's NATS server with
// other credentials: the client gives up reconnecting, and the engine
// must stop with an error rather than keep running without ingesting.
func TestServeStopsWhenNATSRefuses(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(port int, token string) *server.Server {
		t.Helper()
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, Authorization: token,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("server not ready")
		}
		return s
	}
	srv := start(server.RANDOM_PORT, "first")
	port := srv.Addr().(*net.TCPAddr).Port
	_, done := startEngine(t, context.Background(), engine.Config{
		DataDir: t.TempDir(), NATS: natsconn.Client{URL: srv.ClientURL(), Token: "first", Logger: quiet},
		HTTP: "off", NoViews: true, Logger: quiet,
	})
	srv.Shutdown()
	srv.WaitForShutdown()
	srv = start(port, "second")
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "NATS connection closed") || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Fatalf("engine.Run: %v, want the closed connection and its authorization error", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the engine kept running on a connection that gave up")
	}
}

// startEngine runs engine.Run(ctx, cfg) and waits until it is ready; done
// receives Run's result.
func startEngine(t *testing.T, ctx context.Context, cfg engine.Config) (engine.Info, chan error) {
	t.Helper()
	infoc := make(chan engine.Info, 1)
	done := make(chan error, 1)
	cfg.OnReady = func(i engine.Info) { infoc <- i }
	go func() { done <- engine.Run(ctx, cfg) }()
	select {
	case info := <-infoc:
		return info, done
	case err := <-done:
		t.Fatalf("engine.Run: %v", err)
	}
	return engine.Info{}, nil
}

// httpGet returns the status and body of GET path on addr (status 0 and
// the error when the request fails).
func httpGet(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeJetStreamProblems runs the engine against an existing NATS
// server: the consumer deleted under it is recreated and the events
// published after reach the log; JetStream shut down on the server makes
// /readyz 503 with the reason (and journey_jetstream_ok 0), and once it is
// back /readyz is 200 again and ingest resumes, every event once.
func TestServeJetStreamProblems(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	natsStore := t.TempDir()
	srv, err := natsconn.Start(natsconn.Embedded{StoreDir: natsStore, Listen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	evs, err := bench.Events(300, 30, 5)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	data := t.TempDir()
	info, done := startEngine(t, ctx, engine.Config{
		DataDir: data, NATS: natsconn.Client{URL: srv.ClientURL()}, HTTP: "127.0.0.1:0", NoViews: true,
		CheckEvery: 50 * time.Millisecond, Logger: quiet,
	})
	url, listen := srv.ClientURL(), srv.Addr().String()
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(evs [][]byte) {
		t.Helper()
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		sum, err := handlers.Publish(ctx, nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{AckTimeout: 5 * time.Second})
		if err != nil || sum.Published != len(evs) {
			t.Fatalf("publish: %+v %v", sum, err)
		}
	}
	waitLog := func(n int) {
		t.Helper()
		natstest.WaitFor(t, 30*time.Second, func() error {
			_, body := httpGet(info.HTTPAddr, "/metrics")
			if !strings.Contains(body, fmt.Sprintf("journey_log_durable_seq %d\n", n)) {
				return fmt.Errorf("log not at %d: %s", n, grepLines(body, "journey_log_durable_seq"))
			}
			if code, body := httpGet(info.HTTPAddr, "/readyz"); code != 200 {
				return fmt.Errorf("readyz %d %s", code, body)
			}
			return nil
		})
	}
	publish(evs[:100])
	waitLog(100)
	if err := js.DeleteConsumer(ctx, handlers.DefaultStream, handlers.DefaultConsumer); err != nil {
		t.Fatal(err)
	}
	publish(evs[100:200])
	waitLog(200)
	if _, body := httpGet(info.HTTPAddr, "/metrics"); !strings.Contains(body, `journey_ingest_recoveries_total{action="consumer_recreated"} 1`) {
		t.Fatalf("metrics: %s", grepLines(body, "journey_ingest_recoveries_total"))
	}

	if err := srv.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		code, body := httpGet(info.HTTPAddr, "/readyz")
		if code != 503 || !strings.Contains(body, "jetstream") {
			return fmt.Errorf("readyz %d %s with JetStream shut down", code, body)
		}
		if _, m := httpGet(info.HTTPAddr, "/metrics"); !strings.Contains(m, "journey_jetstream_ok 0\n") {
			return fmt.Errorf("metrics: %s", grepLines(m, "journey_jetstream_ok"))
		}
		return nil
	})
	// Back: the server restarted with JetStream (re-enabling it in place,
	// EnableJetStream, races inside nats-server with its API dispatch).
	srv.Shutdown()
	srv.WaitForShutdown()
	if srv, err = natsconn.Start(natsconn.Embedded{StoreDir: natsStore, Listen: listen, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		if code, body := httpGet(info.HTTPAddr, "/readyz"); code != 200 {
			return fmt.Errorf("readyz %d %s after JetStream is back", code, body)
		}
		return nil
	})
	publish(evs[200:])
	waitLog(300)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("engine.Run: %v", err)
	}
	store, err := openDataLog(t, data, false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rep, err := store.Verify(context.Background(), nil)
	if err != nil || !rep.OK || rep.Events != 300 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
