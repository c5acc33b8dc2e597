package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/journey-cdp/journey/internal/natstest"
)

// Environment of the ingest child process (TestHelperIngest).
const (
	envIngestData = "JOURNEY_TEST_INGEST_DATA"
	envIngestNATS = "JOURNEY_TEST_INGEST_NATS"
)

// TestHelperIngest is not a test: it is the ingester child process of
// TestIngestKill9, the test binary re-executing itself: a store in the
// data dir and an ingester on the NATS server, until SIGTERM.
func TestHelperIngest(t *testing.T) {
	data := os.Getenv(envIngestData)
	if data == "" {
		t.Skip("helper process for TestIngestKill9")
	}
	fail := func(err error) { fmt.Fprintln(os.Stderr, "helper:", err); os.Exit(1) }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	store, err := eventstore.Open(data, nil)
	if err != nil {
		fail(err)
	}
	nc, err := nats.Connect(os.Getenv(envIngestNATS), nats.MaxReconnects(-1))
	if err != nil {
		fail(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		fail(err)
	}
	cons, err := handlers.Provision(ctx, js, handlers.StreamOptions{})
	if err != nil {
		fail(err)
	}
	if err := handlers.NewIngester(store, nc, cons, handlers.IngestOptions{JetStream: js, BatchSize: 200}).Run(ctx); err != nil {
		fail(err)
	}
	if err := store.Close(); err != nil {
		fail(err)
	}
	nc.Close()
	os.Exit(0)
}

// startIngestChild starts the ingester child and returns once it has
// placed its own consumer (created after its start): until then the
// consumer is the killed child's, whose delivered count says nothing of
// the new one, and a SIGTERM could reach the child before it handles it.
func startIngestChild(t *testing.T, data, url string, st jetstream.Stream) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIngest$", "-test.v=false")
	cmd.Env = append(os.Environ(), envIngestData+"="+data, envIngestNATS+"="+url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	natstest.WaitFor(t, 60*time.Second, func() error {
		c, err := st.Consumer(context.Background(), handlers.DefaultConsumer)
		if err != nil {
			return err
		}
		if created := c.CachedInfo().Created; !created.After(started) {
			return fmt.Errorf("the consumer is the one created at %v, before the child's start", created)
		}
		return nil
	})
	return cmd, &out
}

// slowReader hands out at most 16 KiB per Read, pausing before each, so
// that a publish lasts long enough to kill the ingester in its middle.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 16<<10)])
}

// TestIngestKill9 kills an ingester process with SIGKILL twice in the
// middle of a publish of single-event and batch messages, restarts it,
// republishes everything in batches of other sizes, and checks that the
// log holds every id once (before the republish too: nothing was lost,
// without redelivery), verifies, and that its stream position is the
// stream's last message.
func TestIngestKill9(t *testing.T) {
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := handlers.Provision(ctx, js, handlers.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	const n = 20000
	evs, err := bench.Events(n, 1000, 77)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, handlers.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	delivered := func() uint64 {
		c, err := st.Consumer(ctx, handlers.DefaultConsumer)
		if err != nil {
			return 0
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0
		}
		return info.Delivered.Stream
	}

	child, out := startIngestChild(t, data, srv.ClientURL(), st)
	pubDone := make(chan error, 2)
	go func() {
		// The first half one event a message, the second in batches of 50.
		half := bench.JSONL(evs[:n/2])
		_, err := handlers.Publish(ctx, nc, &slowReader{r: bytes.NewReader(half), pause: 2 * time.Millisecond}, handlers.PublishOptions{})
		if err == nil {
			_, err = handlers.Publish(ctx, nc, &slowReader{r: bytes.NewReader(bench.JSONL(evs[n/2:])), pause: 2 * time.Millisecond},
				handlers.PublishOptions{Batch: 50})
		}
		pubDone <- err
	}()
	for _, at := range []uint64{n / 8, n/2 + 20} {
		natstest.WaitFor(t, 60*time.Second, func() error {
			if d := delivered(); d < at {
				return fmt.Errorf("delivered up to stream seq %d, waiting for %d", d, at)
			}
			return nil
		})
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		t.Logf("killed at delivered stream seq %d", delivered())
		child, out = startIngestChild(t, data, srv.ClientURL(), st)
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	// Before any republish: the log has every event once.
	stopAndCheck(t, child, out, st, data, evs)
	// Everything again, in batches of 37: all duplicates.
	child, out = startIngestChild(t, data, srv.ClientURL(), st)
	sum, err := handlers.Publish(ctx, nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{Batch: 37})
	if err != nil || sum.Published != n {
		t.Fatalf("republish: %+v %v", sum, err)
	}
	stopAndCheck(t, child, out, st, data, evs)
}

// stopAndCheck waits until the ingester child has taken the whole stream,
// stops it (SIGTERM) and checks the log: each id of evs once, a chain that
// verifies, and the stream's last sequence as its position.
func stopAndCheck(t *testing.T, child *exec.Cmd, out *bytes.Buffer, st jetstream.Stream, data string, evs [][]byte) {
	t.Helper()
	ctx := context.Background()
	si, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := si.State.LastSeq
	natstest.WaitFor(t, 60*time.Second, func() error {
		c, err := st.Consumer(ctx, handlers.DefaultConsumer)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if d := info.Delivered.Stream; d != last {
			return fmt.Errorf("delivered up to %d of %d", d, last)
		}
		return nil
	})
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("ingester after SIGTERM: %v\n%s", err, out)
	}
	store, err := eventstore.Open(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if pos, err := store.Position("nats:" + handlers.DefaultStream); err != nil || pos != last {
		t.Fatalf("position %d (%v), want the stream's last seq %d", pos, err, last)
	}
	want := map[string]bool{}
	for _, raw := range evs {
		var p struct{ ID string }
		_ = json.Unmarshal(raw, &p)
		want[p.ID] = true
	}
	seen := map[string]int{}
	if err := store.Scan(ctx, 1, 0, func(rec *eventstore.Record) error {
		seen[rec.ID]++
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
	if rep, err := store.Verify(ctx, nil); err != nil || !rep.OK || rep.Events != uint64(len(evs)) {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
