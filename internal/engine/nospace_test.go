package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/journey-cdp/journey/internal/engine"
	"github.com/journey-cdp/journey/internal/natsconn"
	"github.com/journey-cdp/journey/internal/natstest"
)

// TestServeLogFullDisk runs the engine with its data dir on a small tmpfs
// (NATS elsewhere) while a publisher keeps publishing: when the log's disk
// fills, the engine stops taking work and exits with an error naming the
// lack of space — it neither hangs nor acknowledges what it did not write.
// Once space is freed, a restarted engine ingests the rest, and every
// PubAcked event is in the log exactly once.
func TestServeLogFullDisk(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root and mount rights): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := natsconn.Start(natsconn.Embedded{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	evs, err := bench.Events(120000, 5000, 9)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(mnt, "data")
	// The library's 16 MiB memtable (the engine's 64 MiB one would need
	// 128 MiB free to open): the 80 MiB tmpfs fills with 120,000 events.
	cfg := engine.Config{DataDir: data, NATS: natsconn.Client{URL: srv.ClientURL()}, HTTP: "127.0.0.1:0", NoViews: true,
		LogMemTableSize: eventstore.DefaultMemTableSize,
		CheckEvery:      50 * time.Millisecond, Logger: quiet}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done := startEngine(t, ctx, cfg)
	nc := natstest.Connect(t, srv)

	published := 0
	var runErr error
	deadline := time.Now().Add(120 * time.Second)
publishing:
	for published < len(evs) {
		chunk := evs[published:min(len(evs), published+2000)]
		sum, err := handlers.Publish(ctx, nc, bytes.NewReader(bench.JSONL(chunk)), handlers.PublishOptions{AckTimeout: 5 * time.Second})
		if err != nil || sum.Published != len(chunk) {
			t.Fatalf("publish (JetStream is on another disk): %+v %v", sum, err)
		}
		published += len(chunk)
		select {
		case runErr = <-done:
			break publishing
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the disk never filled")
		}
	}
	if runErr == nil {
		select {
		case runErr = <-done:
		case <-time.After(180 * time.Second): // ingest is slow on a loaded machine
			t.Fatalf("the engine neither failed nor filled the disk with %d events published", published)
		}
	}
	if runErr == nil || !strings.Contains(runErr.Error(), "no space") {
		t.Fatalf("engine.Run on a full disk = %v, want an error naming the lack of space", runErr)
	}
	t.Logf("after %d published: %v", published, runErr)

	// Free space; the restarted engine takes the rest from the stream.
	if out, err := exec.Command("mount", "-o", "remount,size=600m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	info, done2 := startEngine(t, ctx2, cfg)
	natstest.WaitFor(t, 90*time.Second, func() error {
		_, body := httpGet(info.HTTPAddr, "/metrics")
		if !strings.Contains(body, fmt.Sprintf("journey_log_durable_seq %d\n", published)) {
			return fmt.Errorf("log not at %d: %s", published, grepLines(body, "journey_log_durable_seq"))
		}
		return nil
	})
	cancel2()
	if err := <-done2; err != nil {
		t.Fatalf("engine stop: %v", err)
	}
	store, err := openDataLog(t, data, true)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rep, err := store.Verify(context.Background(), nil)
	if err != nil || !rep.OK || rep.Events != uint64(published) {
		t.Fatalf("verify = %+v, %v; want ok with %d events", rep, err, published)
	}
	for i, ev := range evs[:published] {
		if i%97 != 0 {
			continue
		}
		var id struct{ ID string }
		if err := jsonUnmarshal(ev, &id); err != nil {
			t.Fatal(err)
		}
		if _, found, err := store.Get(id.ID); err != nil || !found {
			t.Fatalf("PubAcked event %s not in the log: %v", id.ID, err)
		}
	}
}
