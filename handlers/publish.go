package handlers

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/internal/every"
)

// PublishOptions configure Publish. Zero fields take defaults.
type PublishOptions struct {
	SubjectPrefix string // "": DefaultSubjectPrefix; an event goes to SubjectPrefix + "." + its subject
	// MaxPending bounds the publishes awaiting their JetStream ack; 0: DefaultMaxPending.
	MaxPending int
	// AckTimeout gives up waiting for the missing acks when none has come
	// for this long; 0: DefaultAckTimeout. (One watchdog, not a timer per message.)
	AckTimeout time.Duration
	// Progress, when set, is called about every ProgressEvery (0: DefaultProgressEvery)
	// from another goroutine, and once more at the end.
	Progress      func(PublishProgress)
	ProgressEvery time.Duration
	// MaxErrors bounds the errors kept in the summary (all are counted); 0: DefaultMaxErrors.
	MaxErrors int
	// Batch, above 1, groups up to Batch events into one message
	// (BatchContentType: a JSON array of the lines, at most MaxBatchBytes),
	// the events of one partition (Partitions) per message, published to
	// the subject of its first event's customer, so that a subject mapping
	// that partitions on the customer token ({{partition(P,1)}}) routes the
	// batch to the partition of all its events. 0 or 1: one event per message.
	Batch int
	// Partitions is the number of customer partitions the batches must
	// respect (NATS's partition(P, 1) of the subject token: FNV-1a 32 mod P);
	// 0 or 1: one partition, any events may share a batch.
	Partitions int
}

// MaxBatchBytes bounds a batch message's data (NATS's default max_payload
// is 1 MiB).
const MaxBatchBytes = 900 << 10

// Defaults of PublishOptions' zero fields.
const (
	DefaultMaxPending    = 4096
	DefaultAckTimeout    = 30 * time.Second
	DefaultProgressEvery = 200 * time.Millisecond
	DefaultMaxErrors     = 100
)

// withDefaults is o with every zero field given its default.
func (o PublishOptions) withDefaults() PublishOptions {
	o.SubjectPrefix = cmp.Or(o.SubjectPrefix, DefaultSubjectPrefix)
	o.MaxPending = positiveOr(o.MaxPending, DefaultMaxPending)
	o.AckTimeout = positiveOr(o.AckTimeout, DefaultAckTimeout)
	o.ProgressEvery = positiveOr(o.ProgressEvery, DefaultProgressEvery)
	o.MaxErrors = positiveOr(o.MaxErrors, DefaultMaxErrors)
	o.Batch = positiveOr(o.Batch, 1)
	o.Partitions = positiveOr(o.Partitions, 1)
	return o
}

// PublishProgress is a snapshot of a running Publish.
type PublishProgress struct {
	Lines      int   // lines read so far
	Bytes      int64 // bytes read so far
	Published  int   // acknowledged by JetStream as stored
	Duplicates int   // of which JetStream reported as duplicates (the same id and bytes, MsgID, seen in its window)
	Failed     int   // lines that could not be published
}

// PublishSummary is the outcome of Publish, counted per event (line), batched
// or not. Published counts every event JetStream acknowledged, Duplicates
// those of them it had already (its dedupe window: for a batch, the whole
// message); Failed counts lines that were not published (refused before
// sending, or not acknowledged), described in Errors (at most MaxErrors of
// them).
type PublishSummary struct {
	Published  int         `json:"published"`
	Duplicates int         `json:"duplicates"`
	Failed     int         `json:"failed"`
	Errors     []LineError `json:"errors,omitempty"`
}

// LineError says why one input line was not published.
type LineError struct {
	Line    int    `json:"line,omitempty"` // 1-based input line (0: known only by id)
	ID      string `json:"id,omitempty"`
	Message string `json:"message"`
}

// maxLineBytes is the longest line Publish reads; the engine refuses
// events over journey.MaxEventBytes (and quarantines them), but a line must
// still fit a NATS message.
const maxLineBytes = 1 << 20

// MsgID is the Nats-Msg-Id journey's publishers give an event: its id, a
// colon, and the first 16 bytes of the SHA-256 of its bytes (exactly the
// bytes published) in hex. An exact retry has the same MsgID, so the
// stream's dedupe window absorbs it; an id reused with other bytes has
// another one, so it reaches the engine, which refuses and quarantines it
// as an id_conflict, as the synchronous append does. (With the bare event
// id as Nats-Msg-Id, JetStream would drop such a conflict within its
// window as a duplicate, unseen by the engine.)
func MsgID(id string, raw []byte) string {
	sum := sha256.Sum256(raw)
	b := make([]byte, 0, len(id)+1+32)
	b = append(b, id...)
	b = append(b, ':')
	b = hex.AppendEncode(b, sum[:16])
	return string(b)
}

// Publish reads JSONL events from r and publishes each to JetStream on
// SubjectPrefix.<subject>, with Nats-Msg-Id set to MsgID (the event id and
// a digest of its bytes), so that a republished file is absorbed by the
// stream's dedupe window (and, beyond it, by the log's idempotent append),
// while an id reused with other bytes reaches the engine and is
// quarantined as an id_conflict. The subject and id come from a light
// parse; full validation happens in the engine, which quarantines what is
// invalid. A line without a usable id or subject is counted as failed with
// its line number, and publishing goes on. Publish is asynchronous with a
// bounded window of MaxPending unacknowledged messages and returns after
// every publish has its JetStream ack (or failed). The error is non-nil
// only when reading r failed, ctx ended, acks stopped coming for
// AckTimeout, or the server refused the publishes (a *PublishDeniedError:
// Publish stops at the first permissions violation of its subjects, as
// every next publish would be refused too), with the summary so far.
//
// While it runs, Publish handles the connection's async errors
// (nats.Conn.SetErrorHandler), passing on those that are not its own
// permissions violations, and puts the previous handler back at the end:
// run one Publish at a time on a connection.
func Publish(ctx context.Context, nc *nats.Conn, r io.Reader, o PublishOptions) (PublishSummary, error) {
	o = o.withDefaults()
	p := &publisher{o: o, denied: make(chan struct{})}
	if o.Batch > 1 {
		p.batches = make([]pubBatch, o.Partitions)
	}
	js, err := newAsyncPub(nc, p, o.MaxPending)
	if err != nil {
		return PublishSummary{}, fmt.Errorf("handlers: subscribe to the PubAcks: %w", err)
	}
	defer js.close()

	stopProgress := p.progressLoop()
	readErr := p.readAll(ctx, js, r)

	// Wait for every ack (or its timeout) even after an error: what was
	// sent is reported truthfully.
	wait := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(context.WithoutCancel(ctx), o.AckTimeout)
		defer cancel()
	}
	if err := p.waitAcks(wait, js); err != nil && readErr == nil {
		readErr = err
	}
	stopProgress()
	return p.summary(), readErr
}

// waitAcks waits until every publish has its ack or failed, giving up
// when none has come for AckTimeout: those left are counted as failed.
func (p *publisher) waitAcks(ctx context.Context, js *asyncPub) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last, since := p.published.Load()+p.failed.Load(), time.Now()
	for {
		select {
		case <-js.complete():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if n := p.published.Load() + p.failed.Load(); n != last {
				last, since = n, time.Now()
				continue
			}
			if time.Since(since) >= p.o.AckTimeout {
				n := js.abandon()
				msg := fmt.Sprintf("%s not acknowledged within %v", plural(n, "event was", "events were"), p.o.AckTimeout)
				p.failN(n, 0, "", msg)
				return errors.New(msg)
			}
		case <-p.denied:
			err := p.deniedErr()
			p.failN(js.abandon(), 0, "", err.Error())
			return err
		}
	}
}

// plural is "1 one" or "n many".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// PublishDeniedError is Publish's error when the NATS server refuses its
// messages for want of permission: to publish to Subject, to publish with
// Subject as the reply subject (Reply), or to subscribe to Subject
// (Subscribe), where the PubAcks come.
type PublishDeniedError struct {
	Subject   string
	Reply     bool
	Subscribe bool
}

func (e *PublishDeniedError) Error() string {
	switch {
	case e.Subscribe:
		return fmt.Sprintf("not allowed to subscribe to %s, where the acknowledgements come (a NATS permissions violation)", e.Subject)
	case e.Reply:
		return fmt.Sprintf("not allowed to publish with the reply subject %s, where the acknowledgements come (a NATS permissions violation)", e.Subject)
	}
	return fmt.Sprintf("not allowed to publish to %s (a NATS permissions violation)", e.Subject)
}

type publisher struct {
	o          PublishOptions
	lines      atomic.Int64
	bytes      atomic.Int64
	published  atomic.Int64
	duplicates atomic.Int64
	failed     atomic.Int64

	batches []pubBatch // per partition, when batching

	// denied is closed at the first permissions violation, deniedE says which.
	denied   chan struct{}
	denyOnce sync.Once
	deniedE  atomic.Pointer[PublishDeniedError]

	mu     sync.Mutex
	errors []LineError
}

// pubBatch is a batch message being filled.
type pubBatch struct {
	data           []byte // "[" line "," line ...
	n              int
	subject, first string // the first event's customer and id
	firstLine      int
}

// deny stops publishing: the server refused a message for want of permission.
func (p *publisher) deny(e *PublishDeniedError) {
	p.denyOnce.Do(func() {
		p.deniedE.Store(e)
		close(p.denied)
	})
}

// deniedErr is the permissions violation that stopped publishing, or nil.
func (p *publisher) deniedErr() error {
	if e := p.deniedE.Load(); e != nil {
		return e
	}
	return nil
}

func (p *publisher) fail(line int, id, msg string) { p.failN(1, line, id, msg) }

// failN counts n events not published, keeping one error for them.
func (p *publisher) failN(n, line int, id, msg string) {
	p.failed.Add(int64(n))
	p.mu.Lock()
	if len(p.errors) < p.o.MaxErrors {
		p.errors = append(p.errors, LineError{Line: line, ID: id, Message: msg})
	}
	p.mu.Unlock()
}

func (p *publisher) snapshot() PublishProgress {
	return PublishProgress{
		Lines:      int(p.lines.Load()),
		Bytes:      p.bytes.Load(),
		Published:  int(p.published.Load()),
		Duplicates: int(p.duplicates.Load()),
		Failed:     int(p.failed.Load()),
	}
}

func (p *publisher) summary() PublishSummary {
	s := p.snapshot()
	p.mu.Lock()
	defer p.mu.Unlock()
	return PublishSummary{Published: s.Published, Duplicates: s.Duplicates, Failed: s.Failed,
		Errors: append([]LineError(nil), p.errors...)}
}

// progressLoop calls Progress now and then until the returned stop, which
// makes the last call.
func (p *publisher) progressLoop() (stop func()) {
	if p.o.Progress == nil {
		return func() {}
	}
	report := func() { p.o.Progress(p.snapshot()) }
	stopEvery := every.Do(p.o.ProgressEvery, report)
	return func() {
		stopEvery()
		report()
	}
}

func (p *publisher) readAll(ctx context.Context, js *asyncPub, r io.Reader) error {
	err := p.readLines(ctx, js, r)
	for i := range p.batches {
		if ferr := p.flush(ctx, js, &p.batches[i]); ferr != nil && err == nil {
			err = ferr
		}
	}
	return err
}

func (p *publisher) readLines(ctx context.Context, js *asyncPub, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLineBytes)
	prefix := p.o.SubjectPrefix + "."
	var slab []byte
	line := 0
	for {
		if line&255 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := p.deniedErr(); err != nil {
			return err
		}
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			line++
			n := int64(len(b))
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				n += int64(len(b))
			}
			p.lines.Add(1)
			p.bytes.Add(n)
			p.fail(line, "", fmt.Sprintf("line is longer than %d bytes", maxLineBytes))
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("handlers: read line %d: %w", line, err)
			}
			continue
		}
		if len(b) == 0 && err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("handlers: read line %d: %w", line+1, err)
		}
		line++
		p.lines.Add(1)
		p.bytes.Add(int64(len(b)))
		ev := bytes.TrimSpace(b)
		if len(ev) > 0 {
			if perr := p.publishLine(ctx, js, &slab, prefix, line, ev); perr != nil {
				return perr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("handlers: read line %d: %w", line, err)
		}
	}
}

// publishLine publishes one event; a line it cannot route is counted as
// failed. The error is returned only when the connection is closed, ctx
// ended or JetStream stopped acknowledging.
func (p *publisher) publishLine(ctx context.Context, js *asyncPub, slab *[]byte, prefix string, line int, ev []byte) error {
	id, subject, ok := journey.Route(ev)
	switch {
	case !ok:
		p.fail(line, id, "not a JSON object")
		return nil
	case id == "":
		p.fail(line, "", `no string "id" attribute`)
		return nil
	case subject == "":
		p.fail(line, id, `no string "subject" attribute`)
		return nil
	case !validToken(subject):
		p.fail(line, id, fmt.Sprintf("subject %q is not a customer id (1-128 of A-Z a-z 0-9 _ - : @)", subject))
		return nil
	}
	// A line that is not one whole object (cut short, or with bytes after
	// it) goes alone even when batching: in a batch it would make the
	// whole body unreadable and quarantine the batch's other events with it.
	if p.batches != nil && oneObject(ev) {
		return p.addToBatch(ctx, js, line, id, subject, ev)
	}
	// Copy the line out of the reader's buffer into a slab: one
	// allocation per 1 MiB instead of one per event.
	if len(*slab) < len(ev) {
		*slab = make([]byte, max(maxLineBytes, len(ev)))
	}
	data := (*slab)[:len(ev):len(ev)]
	*slab = (*slab)[len(ev):]
	copy(data, ev)
	err := js.publish(ctx, prefix, subject, id, data, 1, false, p.o.AckTimeout)
	return p.sent(ctx, err, 1, line, id)
}

// sent counts a publish of n events that failed to go out; the error is
// returned when publishing cannot go on.
func (p *publisher) sent(ctx context.Context, err error, n, line int, id string) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		p.failN(n, line, id, ctx.Err().Error())
		return ctx.Err()
	case errors.As(err, new(*PublishDeniedError)):
		// One error for them all: the one waitAcks keeps.
		p.failed.Add(int64(n))
		return err
	case errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		// The window stayed full for AckTimeout with no ack coming.
		p.failN(n, line, id, err.Error())
		return fmt.Errorf("handlers: publish line %d: no JetStream ack for %v: %w", line, p.o.AckTimeout, err)
	case errors.Is(err, nats.ErrConnectionClosed):
		p.failN(n, line, id, err.Error())
		return fmt.Errorf("handlers: publish line %d: %w", line, err)
	}
	p.failN(n, line, id, err.Error())
	return nil
}

// oneObject reports whether ev is one JSON object and nothing after it,
// as the engine's batch splitter (splitBatch) follows a body: by its
// strings and brackets only.
func oneObject(ev []byte) bool {
	end, bad := objectEnd(ev, 0)
	return bad < 0 && end == len(ev)
}

// addToBatch adds a routed line to its partition's batch, publishing the
// batch when it is full.
func (p *publisher) addToBatch(ctx context.Context, js *asyncPub, line int, id, subject string, ev []byte) error {
	b := &p.batches[Partition(subject, p.o.Partitions)]
	if b.n > 0 && len(b.data)+1+len(ev)+1 > MaxBatchBytes {
		if err := p.flush(ctx, js, b); err != nil {
			return err
		}
	}
	if b.n == 0 {
		b.data = append(make([]byte, 0, min(MaxBatchBytes, p.o.Batch*(len(ev)+1)+2)), '[')
		b.subject, b.first, b.firstLine = subject, id, line
	} else {
		b.data = append(b.data, ',')
	}
	b.data = append(b.data, ev...)
	b.n++
	if b.n >= p.o.Batch {
		return p.flush(ctx, js, b)
	}
	return nil
}

// flush publishes a partition's batch, if it holds any event.
func (p *publisher) flush(ctx context.Context, js *asyncPub, b *pubBatch) error {
	if b.n == 0 {
		return nil
	}
	data := append(b.data, ']')
	n, line, id, subject := b.n, b.firstLine, b.first, b.subject
	*b = pubBatch{}
	err := js.publish(ctx, p.o.SubjectPrefix+".", subject, id, data, n, true, p.o.AckTimeout)
	if err == nil {
		return nil
	}
	return p.sent(ctx, err, n, line, id)
}

// Partition is the partition (0..partitions-1) of a customer, as NATS's
// subject mapping function partition(partitions, 1) computes it from the
// customer's subject token: FNV-1a 32 of the token mod partitions.
func Partition(customer string, partitions int) int {
	if partitions <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(customer))
	return int(h.Sum32() % uint32(partitions))
}
