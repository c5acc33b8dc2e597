package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/journey-cdp/journey/internal/natstest"
)

// TestIngest20k publishes 20,000 events of every kind for many customers
// and checks that every id is in the log exactly once, each customer's in
// publish order; then that publishing the same file again, and
// republishing past the stream's dedupe, adds nothing.
func TestIngest20k(t *testing.T) {
	r := newRig(t)
	const n = 20000
	evs, err := bench.Events(n, 700, 7)
	if err != nil {
		t.Fatal(err)
	}
	file := bench.JSONL(evs)
	ctx := context.Background()
	var progressed int
	sum, err := handlers.Publish(ctx, r.nc, bytes.NewReader(file), handlers.PublishOptions{
		Progress: func(p handlers.PublishProgress) { progressed = p.Published },
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Published != n || sum.Duplicates != 0 || sum.Failed != 0 {
		t.Fatalf("first publish: %+v, want %d published", sum, n)
	}
	if progressed != n {
		t.Errorf("last progress published=%d, want %d", progressed, n)
	}
	r.settle(t, n)

	// Per-customer expected order: publish order.
	want := map[string][]string{}
	for _, raw := range evs {
		ev, err := journey.Decode(raw, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		want[ev.Subject] = append(want[ev.Subject], ev.ID)
	}
	got := map[string][]string{}
	seen := map[string]int{}
	if err := r.store.Scan(ctx, 1, 0, func(rec *eventstore.Record) error {
		seen[rec.ID]++
		got[rec.Customer] = append(got[rec.Customer], rec.ID)
		if int(rec.Version) != len(got[rec.Customer]) {
			return fmt.Errorf("seq %d: version %d, want %d", rec.Seq, rec.Version, len(got[rec.Customer]))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("log has %d distinct ids, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("id %s %d times", id, c)
		}
	}
	for c, ids := range want {
		if strings.Join(got[c], ",") != strings.Join(ids, ",") {
			t.Fatalf("customer %s: log order %v, want %v", c, got[c], ids)
		}
	}
	if v := value(t, r.metrics.Appended); v != n {
		t.Errorf("appended metric %v, want %d", v, n)
	}

	// The same file again: JetStream's dedupe window absorbs it.
	sum, err = handlers.Publish(ctx, r.nc, bytes.NewReader(file), handlers.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Published != n || sum.Duplicates != n {
		t.Fatalf("second publish: %+v, want %d published, all duplicates", sum, n)
	}
	// Past the dedupe window (another Nats-Msg-Id): the log's idempotent
	// append absorbs it.
	const again = 300
	for i := 0; i < again; i++ {
		ev, _ := journey.Decode(evs[i], time.Now())
		m := nats.NewMsg("journey.events." + ev.Subject)
		m.Data = evs[i]
		m.Header.Set(jetstream.MsgIDHeader, "replay-"+ev.ID)
		if _, err := r.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		if v := value(t, r.metrics.Duplicates); v != again {
			return fmt.Errorf("duplicate metric %v, want %d", v, again)
		}
		return nil
	})
	r.settle(t, n)
	rep, err := r.store.Verify(ctx, nil)
	if err != nil || !rep.OK || rep.Events != n {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

// TestIngestRejects checks that invalid events, a subject-token mismatch
// and an id conflict are quarantined, announced on journey.rejected and
// terminated, while the valid event is appended.
func TestIngestRejects(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	notices := make(chan *nats.Msg, 16)
	sub, err := r.nc.ChanSubscribe(handlers.DefaultRejectSubject, notices)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	tm := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	good, err := journey.NewEvent("good-1", "pos/1", journey.KindVisit, "cust-a", tm, map[string]any{"channel": "store"})
	if err != nil {
		t.Fatal(err)
	}
	conflict, err := journey.NewEvent("good-1", "pos/1", journey.KindVisit, "cust-a", tm, map[string]any{"channel": "web"})
	if err != nil {
		t.Fatal(err)
	}
	mismatch, err := journey.NewEvent("mm-1", "pos/1", journey.KindVisit, "cust-a", tm, map[string]any{"channel": "store"})
	if err != nil {
		t.Fatal(err)
	}
	unknown := []byte(`{"specversion":"1.0","id":"unk-1","source":"pos/1","type":"teleport","subject":"cust-c","time":"2025-05-01T12:00:00Z","data":{}}`)
	broken := []byte(`{"id":"br-1","subject":"cust-d",`)

	pub := func(subject string, data []byte, msgID string) {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, msgID)
		if _, err := r.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	pub("journey.events.cust-a", good, "good-1")
	r.settle(t, 1)
	pub("journey.events.cust-a", conflict, "good-1-again") // past dedupe: same id, other bytes
	pub("journey.events.cust-b", mismatch, "mm-1")
	pub("journey.events.cust-c", unknown, "unk-1")
	pub("journey.events.cust-d", broken, "br-1")

	type want struct {
		code   journey.Code
		field  string
		origin string
	}
	wants := map[string]want{
		"good-1": {journey.CodeIDConflict, "", "nats:journey.events.cust-a"},
		"mm-1":   {journey.CodeInvalidField, "subject", "nats:journey.events.cust-b"},
		"unk-1":  {journey.CodeUnknownType, "type", "nats:journey.events.cust-c"},
		"br-1":   {journey.CodeInvalidJSON, "", "nats:journey.events.cust-d"},
	}
	got := map[string]handlers.Rejection{}
	deadline := time.After(30 * time.Second)
	for len(got) < len(wants) {
		select {
		case m := <-notices:
			var rej handlers.Rejection
			if err := json.Unmarshal(m.Data, &rej); err != nil {
				t.Fatalf("notice %s: %v", m.Data, err)
			}
			got[rej.ID] = rej
		case <-deadline:
			t.Fatalf("got %d notices, want %d: %+v", len(got), len(wants), got)
		}
	}
	for id, w := range wants {
		rej := got[id]
		if rej.Code != w.code || (w.field != "" && rej.Field != w.field) || rej.Message == "" {
			t.Errorf("notice %s: %+v, want code %s field %q", id, rej, w.code, w.field)
		}
	}
	if got["mm-1"].Customer != "cust-a" || !strings.Contains(got["mm-1"].Message, "NATS subject token") {
		t.Errorf("mismatch notice: %+v", got["mm-1"])
	}
	r.settle(t, 1)
	if n := r.store.QuarantineCount(); n != 4 {
		t.Fatalf("quarantine count %d, want 4", n)
	}
	if err := r.store.QuarantineScan(ctx, func(e *eventstore.QuarantineEntry) error {
		var p struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(e.Raw, &p)
		if p.ID == "" {
			p.ID = "br-1"
		}
		w, ok := wants[p.ID]
		if !ok || e.Code != w.code || e.Origin != w.origin || e.Reason == "" {
			return fmt.Errorf("quarantine entry %+v, want %+v", e, w)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for code, n := range map[journey.Code]float64{journey.CodeIDConflict: 1, journey.CodeInvalidField: 1, journey.CodeUnknownType: 1, journey.CodeInvalidJSON: 1} {
		if v := value(t, r.metrics.Rejected.WithLabelValues(string(code))); v != n {
			t.Errorf("rejected{code=%s}=%v, want %v", code, v, n)
		}
	}
}

// TestIngestStoreClosed closes the store under a running ingester: the
// next batch is not committed (the log's position stays before it, for the
// next run) and Run returns the store's error.
func TestIngestStoreClosed(t *testing.T) {
	dir := t.TempDir()
	r := newRigStore(t, dir, nil)
	r.expectErr = true
	evs, err := bench.Events(2, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	r.publishOne(t, evs[0])
	r.settle(t, 1)
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	r.publishOne(t, evs[1])
	r.wantRunErr(t, eventstore.ErrClosed)
	wantPosition(t, dir, 1)
}

// TestIngestStoreFailed makes the log's WAL fail under the ingester: the
// batch is not committed, Run stops with the store's error (a failed store
// takes no appends until reopened), and once the store is reopened a new
// ingester appends the message exactly once.
func TestIngestStoreFailed(t *testing.T) {
	var broken atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if broken.Load() && strings.HasSuffix(op.Path, ".log") &&
			(op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileWrite) {
			return errorfs.ErrInjected
		}
		return nil
	}))
	dir := t.TempDir()
	r := newRigStore(t, dir, &eventstore.Options{FS: fs})
	r.expectErr = true
	ctx := context.Background()
	evs, err := bench.Events(2, 2, 9)
	if err != nil {
		t.Fatal(err)
	}
	r.publishOne(t, evs[0])
	r.settle(t, 1)
	broken.Store(true)
	r.publishOne(t, evs[1])
	r.wantRunErr(t, eventstore.ErrFailed)

	// The restart: the store reopened on a healthy disk, a new ingester.
	_ = r.store.Close()
	broken.Store(false)
	wantPosition(t, dir, 1)
	if r.store, err = eventstore.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- handlers.NewIngester(r.store, r.nc, r.cons, handlers.IngestOptions{}).Run(rctx)
	}()
	r.settle(t, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("second ingester: %v", err)
	}
	rep, err := r.store.Verify(ctx, nil)
	if err != nil || !rep.OK || rep.Events != 2 {
		t.Fatalf("verify after the restart: %+v %v", rep, err)
	}
}

// TestWALFsyncMetric: the log's WAL fsync histogram (Pebble's, in
// nanoseconds) is exported in seconds, and a closed store drops it from
// the scrape instead of failing it.
func TestWALFsyncMetric(t *testing.T) {
	r := newRig(t)
	r.metrics.NanosHistogram("journey_wal_fsync_seconds", "WAL fsync.", r.store.WALFsyncLatency)
	evs, err := bench.Events(50, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, r.srv)
	if sum, err := handlers.Publish(context.Background(), nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{}); err != nil || sum.Published != 50 {
		t.Fatalf("publish: %+v %v", sum, err)
	}
	r.settle(t, 50)
	fsync := func() *dto.Histogram {
		t.Helper()
		fams, err := r.metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "journey_wal_fsync_seconds" {
				return f.Metric[0].GetHistogram()
			}
		}
		return nil
	}
	h := fsync()
	if h == nil || h.GetSampleCount() == 0 || h.GetSampleSum() <= 0 {
		t.Fatalf("WAL fsync histogram after 50 appended events: %v", h)
	}
	if mean := h.GetSampleSum() / float64(h.GetSampleCount()); mean > 10 {
		t.Fatalf("mean fsync %v s: not converted from nanoseconds", mean)
	}
	r.stop()
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	if h := fsync(); h != nil {
		t.Fatalf("a closed store still reports %v", h)
	}
}

// TestPublishIDConflictQuarantined publishes, through journey's publisher
// and within the stream's dedupe window, an event, its exact retry and its
// id reused with other bytes: the retry is a JetStream duplicate, the
// conflict reaches the engine, which refuses and quarantines it as an
// id_conflict (as POST /v1/events answers 409) instead of JetStream
// dropping it as a duplicate.
func TestPublishIDConflictQuarantined(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	tm := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	orig, err := journey.NewEvent("sale-1", "pos/1", journey.KindPurchase, "cust-a", tm, map[string]any{"order_id": "o-1", "amount": "10.00", "currency": "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := journey.NewEvent("sale-1", "pos/1", journey.KindPurchase, "cust-a", tm, map[string]any{"order_id": "o-1", "amount": "99.00", "currency": "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	pub := func(lines ...[]byte) handlers.PublishSummary {
		t.Helper()
		sum, err := handlers.Publish(ctx, r.nc, bytes.NewReader(append(bytes.Join(lines, []byte("\n")), '\n')), handlers.PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	if sum := pub(orig); sum.Published != 1 || sum.Duplicates != 0 {
		t.Fatalf("first publish: %+v", sum)
	}
	r.settle(t, 1)
	if sum := pub(orig, other); sum.Published != 2 || sum.Duplicates != 1 || sum.Failed != 0 {
		t.Fatalf("retry and conflict: %+v, want 2 published, 1 duplicate (the exact retry)", sum)
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		if n := r.store.QuarantineCount(); n != 1 {
			return fmt.Errorf("quarantine holds %d, want the conflict", n)
		}
		return nil
	})
	r.settle(t, 1)
	var entries []*eventstore.QuarantineEntry
	if err := r.store.QuarantineScan(ctx, func(e *eventstore.QuarantineEntry) error {
		entries = append(entries, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if e := entries[0]; e.Code != journey.CodeIDConflict || !bytes.Equal(e.Raw, other) ||
		!strings.Contains(e.Reason, "other bytes") || e.Origin != "nats:journey.events.cust-a" {
		t.Fatalf("quarantine entry %+v", e)
	}
	if v := value(t, r.metrics.Rejected.WithLabelValues(string(journey.CodeIDConflict))); v != 1 {
		t.Fatalf("rejected{code=id_conflict}=%v, want 1", v)
	}
	if v := value(t, r.metrics.Duplicates); v != 0 {
		t.Fatalf("the engine saw %v duplicates; the exact retry should stop at JetStream's dedupe", v)
	}
}
