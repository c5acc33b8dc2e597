package handlers_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
)

// TestIngestJetStreamDiskFull fills, for real, the small file system (a
// tmpfs: it needs the right to mount, else it is skipped) under the
// embedded server's JetStream: the stream fails to write and answers
// publishers nothing, which the ingester reports as stream_write_error on
// Ready; once space is freed it restarts the embedded JetStream on its own
// (the server keeps a stream's write error until then), ingest resumes, and
// every acknowledged event, and every one published after, is in the log
// once.
func TestIngestJetStreamDiskFull(t *testing.T) {
	if raceEnabled {
		// Restarting JetStream in place (the repair under test) races inside
		// nats-server itself with its request handling; the race detector
		// flags nats-server, not journey. The test runs without -race.
		t.Skip("restarting JetStream in place races inside nats-server; run without -race")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a small file system here (%v)", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
	srv, _ := jsServer(t, dir, 1<<40) // no limit: the disk fills first
	logs := &logBuf{}
	r := newRigWith(t, rigConfig{srv: srv, ingest: func(r *rig, o *handlers.IngestOptions) {
		o.JetStream = r.js
		o.ServerCheck = handlers.EmbeddedServerCheck(srv)
		o.ServerRepair = handlers.EmbeddedServerRepair(srv, 1<<20)
		o.RepairEvery = 100 * time.Millisecond
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}})
	evs, err := bench.Events(6000, 200, 8)
	if err != nil {
		t.Fatal(err)
	}
	// Leave ~256 KiB free.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*st.Bsize-256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	acked, err := r.publishUntil(t, evs, 2*time.Second)
	if err == nil {
		t.Fatalf("all %d published on a full disk", acked)
	}
	t.Logf("%d acknowledged, then %v", acked, err)
	r.waitReady(t, handlers.ProblemWriteError)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.waitReady(t, "")
	if n, err := r.publishUntil(t, evs[acked:], 5*time.Second); err != nil {
		t.Fatalf("after space was freed: published %d more, then %v", n, err)
	}
	r.settle(t, uint64(len(evs)))
	r.wantLogOnce(t, evs)
	if v := value(t, r.metrics.Recoveries.WithLabelValues("jetstream_restarted")); v < 1 {
		t.Fatalf("jetstream_restarted=%v", v)
	}
	// One line per transition of kind (a filling disk may show as
	// storage_full before stream_write_error), never one per message.
	if n := logs.count("jetstream problem"); n < 1 || n > 3 {
		t.Errorf("%d log lines about the problem, want 1 to 3 (one per kind it went through):\n%s", n, logs.b.String())
	}
}
