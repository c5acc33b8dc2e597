package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/journey-cdp/journey/internal/natstest"
)

// TestIngestBatch publishes events in batch messages (Publish with
// Batch): each event is appended on its own, in order, an invalid one is
// quarantined alone (the rest of its batch is appended), republishing the
// same file (with other batch boundaries) appends nothing again, a message
// that is not a JSON array of objects is quarantined whole, and the
// log's stream position is the stream's last message.
func TestIngestBatch(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	evs, err := bench.Events(95, 20, 21)
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte(`{"specversion":"1.0","id":"bad-1","source":"pos/1","type":"no.such.type","subject":"c-1","time":"2025-01-01T00:00:00Z","data":{}}`)
	lines := append(append(append([][]byte{}, evs[:40]...), bad), evs[40:]...)
	sum, err := handlers.Publish(ctx, r.nc, bytes.NewReader(bench.JSONL(lines)), handlers.PublishOptions{Batch: 10})
	if err != nil || sum.Published != 96 || sum.Failed != 0 {
		t.Fatalf("publish: %+v %v", sum, err)
	}
	r.settle(t, 95)
	if q := r.store.QuarantineCount(); q != 1 {
		t.Fatalf("quarantine %d, want 1 (the invalid event alone)", q)
	}
	// The log holds the events in publish order, with the published bytes.
	i := 0
	if err := r.store.Scan(ctx, 1, 0, func(rec *eventstore.Record) error {
		if !bytes.Equal(rec.Raw, evs[i]) {
			return fmt.Errorf("seq %d: bytes differ from line %d", rec.Seq, i)
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Again, in batches of 7 (other messages, other Nats-Msg-Ids): every
	// event is a duplicate in the log.
	sum, err = handlers.Publish(ctx, r.nc, bytes.NewReader(bench.JSONL(lines)), handlers.PublishOptions{Batch: 7})
	if err != nil || sum.Published != 96 || sum.Duplicates != 0 {
		t.Fatalf("republish: %+v %v", sum, err)
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		if d := value(t, r.metrics.Duplicates); d != 95 {
			return fmt.Errorf("duplicates %v, want 95", d)
		}
		return nil
	})
	if got := r.store.DurableSeq(); got != 95 {
		t.Fatalf("durable %d after the republish, want 95", got)
	}

	// Not an array of objects: quarantined whole, with the reason.
	for _, body := range []string{`{"id":"x"}`, `[{"id":"x"}, 3]`, `[{"id":`} {
		m := nats.NewMsg("journey.events.c-1")
		m.Header.Set("Content-Type", handlers.BatchContentType)
		m.Data = []byte(body)
		if _, err := r.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	natstest.WaitFor(t, 30*time.Second, func() error {
		if q := r.store.QuarantineCount(); q != 4 {
			return fmt.Errorf("quarantine %d, want 4", q)
		}
		return nil
	})
	var reasons []string
	_ = r.store.QuarantineScan(ctx, func(e *eventstore.QuarantineEntry) error {
		if e.Field == "batch" {
			reasons = append(reasons, e.Reason)
		}
		return nil
	})
	if len(reasons) != 3 || !strings.Contains(reasons[1], "element 1 of the batch is not a JSON object") {
		t.Fatalf("batch refusals: %q", reasons)
	}
	st, err := r.js.Stream(ctx, handlers.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	last := st.CachedInfo().State.LastSeq
	natstest.WaitFor(t, 10*time.Second, func() error {
		if got := r.in.Position(); got != last {
			return fmt.Errorf("position %d, want the stream's last seq %d", got, last)
		}
		return nil
	})
	if rep, err := r.store.Verify(ctx, nil); err != nil || !rep.OK || rep.Events != 95 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// TestPublishBatchBrokenLine: a line that routes (its id and subject come
// first) but is not one whole JSON object — cut short, or with bytes after
// it — is published alone, so the engine quarantines it with its own
// reason, and the valid events around it in the same batch are appended.
func TestPublishBatchBrokenLine(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	evs, err := bench.Events(20, 5, 31)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"pos/1","type":"visit","subject":"c-broken","time":"2025-01-01T00:00:00Z","data":{"channel":"web"}}`
	}
	cut := []byte(ev("cut")[:90])                  // truncated after the subject
	trailing := []byte(ev("trailing") + `  junk`)  // bytes after the object
	unbalanced := []byte(ev("unbalanced") + `}}]`) // closing brackets too many
	lines := append(append([][]byte{}, evs[:8]...), cut, trailing, unbalanced)
	lines = append(lines, evs[8:]...)
	sum, err := handlers.Publish(ctx, r.nc, bytes.NewReader(bench.JSONL(lines)), handlers.PublishOptions{Batch: 10})
	if err != nil || sum.Published != 23 || sum.Failed != 0 {
		t.Fatalf("publish: %+v %v", sum, err)
	}
	r.settle(t, 20)
	natstest.WaitFor(t, 30*time.Second, func() error {
		if q := r.store.QuarantineCount(); q != 3 {
			return fmt.Errorf("quarantine %d, want 3 (the broken lines, each alone)", q)
		}
		return nil
	})
	_ = r.store.QuarantineScan(ctx, func(e *eventstore.QuarantineEntry) error {
		if e.Field == "batch" || !bytes.HasPrefix(e.Raw, []byte(`{"specversion"`)) {
			t.Errorf("quarantined %s %s: %s (raw %.60q)", e.Code, e.Field, e.Reason, e.Raw)
		}
		return nil
	})
	if rep, err := r.store.Verify(ctx, nil); err != nil || !rep.OK || rep.Events != 20 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// TestPublishBatchPartitions: with Partitions, a batch holds the events of
// one partition only, published to the subject of one of its customers,
// so that NATS's partition(P,1) mapping of that subject is the partition
// of every event in it; Partition agrees with the server's mapping.
func TestPublishBatchPartitions(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	const parts = 3
	evs, err := bench.Events(200, 40, 5)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *nats.Msg, 1000)
	sub, err := r.nc.ChanSubscribe(handlers.DefaultSubjectPrefix+".*", seen)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	sum, err := handlers.Publish(ctx, r.nc, bytes.NewReader(bench.JSONL(evs)), handlers.PublishOptions{Batch: 25, Partitions: parts})
	if err != nil || sum.Published != 200 {
		t.Fatalf("publish: %+v %v", sum, err)
	}
	r.settle(t, 200)
	events := 0
	for events < 200 {
		m := <-seen
		if m.Header.Get("Content-Type") != handlers.BatchContentType {
			t.Fatalf("message without the batch content type: %v", m.Header)
		}
		token := strings.TrimPrefix(m.Subject, handlers.DefaultSubjectPrefix+".")
		want := handlers.Partition(token, parts)
		var elems []struct{ Subject string }
		if err := json.Unmarshal(m.Data, &elems); err != nil {
			t.Fatal(err)
		}
		for _, e := range elems {
			if got := handlers.Partition(e.Subject, parts); got != want {
				t.Fatalf("batch on %s (partition %d) holds %s (partition %d)", m.Subject, want, e.Subject, got)
			}
		}
		events += len(elems)
	}

	// The server's own partition mapping puts each customer where
	// Partition says.
	if err := r.srv.GlobalAccount().AddMapping("part.*", "parted.{{partition(3,1)}}.{{wildcard(1)}}"); err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 100)
	psub, err := r.nc.ChanSubscribe("parted.*.*", got)
	if err != nil {
		t.Fatal(err)
	}
	defer psub.Unsubscribe()
	for i := range 50 {
		if err := r.nc.Publish(fmt.Sprintf("part.c-%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		m := <-got
		tok := strings.Split(m.Subject, ".")
		if want := fmt.Sprint(handlers.Partition(tok[2], 3)); tok[1] != want {
			t.Fatalf("server maps %s to partition %s, Partition says %s", tok[2], tok[1], want)
		}
	}
}

// TestHTTPBatch: POST /v1/events with the batch content type answers per
// event, in order: appended, duplicate (the same id and bytes), invalid
// (quarantined alone), id conflict (quarantined); the rest of the batch is
// appended. A body that is not a JSON array of objects is a 400,
// quarantined whole; If-Match is refused with a batch.
func TestHTTPBatch(t *testing.T) {
	st := openStore(t)
	app := handlers.NewAppender(st, handlers.AppendOptions{})
	srv := httptest.NewServer(handlers.NewHTTPHandler(handlers.HTTPOptions{Store: st, Appender: app}))
	defer srv.Close()
	a, b := visit(t, "hb-1", "cust-hb"), visit(t, "hb-2", "cust-hb")
	other := visit(t, "hb-1", "cust-other") // hb-1 with other bytes
	bad := []byte(`{"specversion":"1.0","id":"hb-3","source":"pos/1","type":"no.such.type","subject":"c","time":"2025-01-01T00:00:00Z"}`)
	hdr := http.Header{"Content-Type": {handlers.BatchContentType}}
	body := []byte("[" + string(a) + "," + string(b) + "," + string(a) + "," + string(bad) + "," + string(other) + "]")
	code, out := post(t, srv.URL, hdr, body)
	var rep handlers.BatchReply
	if code != 200 || json.Unmarshal(out, &rep) != nil {
		t.Fatalf("batch: %d %s", code, out)
	}
	ev := rep.Events
	if rep.Appended != 2 || rep.Duplicates != 1 || rep.Refused != 2 || len(ev) != 5 ||
		ev[0].Seq != 1 || ev[1].Seq != 2 || !ev[2].Duplicate || ev[2].Seq != 1 ||
		ev[3].Error == nil || ev[4].Error == nil || ev[4].Error.Code != journey.CodeIDConflict || ev[4].Index != 4 {
		t.Fatalf("batch reply: %s", out)
	}
	if q := st.QuarantineCount(); q != 2 {
		t.Fatalf("quarantine %d, want 2", q)
	}
	code, out = post(t, srv.URL, hdr, []byte(`{"not":"an array"}`))
	var er handlers.ErrorReply
	if code != 400 || json.Unmarshal(out, &er) != nil || er.Error.Field != "batch" {
		t.Fatalf("not an array: %d %s", code, out)
	}
	if q := st.QuarantineCount(); q != 3 {
		t.Fatalf("quarantine %d after the refused batch, want 3", q)
	}
	hdr.Set("If-Match", `"1"`)
	if code, out := post(t, srv.URL, hdr, body); code != 400 {
		t.Fatalf("If-Match with a batch: %d %s", code, out)
	}
	if got := st.DurableSeq(); got != 2 {
		t.Fatalf("durable %d, want 2", got)
	}
}
