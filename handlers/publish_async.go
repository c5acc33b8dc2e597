package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// asyncPub is Publish's JetStream async publisher on plain NATS: each
// message goes out with its own reply subject under one wildcard inbox,
// and the PubAck that comes back there is matched to it by a sequence
// number in the subject. The PubAck semantics are JetStream's (the stream
// answers once it has stored the message, or with an error); this replaces
// only the client bookkeeping of jetstream.PublishMsgAsync, which cost
// about twice as much per message (an option struct, a timer-free future,
// a random reply token, a header map and encoding/json on every PubAck).
//
// A "no responders" answer (no stream leader at the moment) is retried
// twice, 250ms apart, as jetstream.PublishMsgAsync does; a disconnection
// fails every message waiting for its PubAck (it may or may not have been
// stored: publishing the line again is safe, the id dedupes it).
type asyncPub struct {
	nc     *nats.Conn
	p      *publisher
	prefix string // reply subjects: prefix + decimal sequence
	sub    *nats.Subscription
	window chan struct{} // one token per message awaiting its PubAck

	mu      sync.Mutex
	pending map[uint64]pubSlot
	taken   int // taken from pending, outcome not yet counted (see settle)
	next    uint64
	done    chan struct{} // closed when pending empties (see complete)
	stopped bool
	timers  map[*time.Timer]struct{} // retries waiting to publish again

	// wg joins the connection watcher and the retry callbacks (close).
	wg sync.WaitGroup

	// prevErr is the connection's async error handler before Publish
	// set onAsyncError in its place (close puts it back).
	prevErr nats.ErrHandler

	// Reused by the reading goroutine for each publish (nats.go copies
	// subject, reply, header and data into its buffer during the call).
	msg     nats.Msg
	hdr     nats.Header
	scratch []byte
	status  chan nats.Status
}

// pubSlot is a message awaiting its PubAck.
type pubSlot struct {
	id, subject string
	msgID       string // the Nats-Msg-Id sent (MsgID of id and data)
	data        []byte // for a retry after "no responders"
	retries     int
	n           int  // events in the message
	batch       bool // a BatchContentType message
}

// The Content-Type header of a batch message.
const contentType = "Content-Type"

var batchCT = []string{BatchContentType}

const (
	pubRetries   = 2
	pubRetryWait = 250 * time.Millisecond
)

func newAsyncPub(nc *nats.Conn, p *publisher, window int) (*asyncPub, error) {
	a := &asyncPub{nc: nc, p: p, prefix: nc.NewInbox() + ".",
		window:  make(chan struct{}, window),
		pending: make(map[uint64]pubSlot, window),
		hdr:     nats.Header{jetstream.MsgIDHeader: []string{""}},
	}
	// Before the subscription: the server answers a refused one
	// asynchronously.
	a.prevErr = nc.ErrorHandler()
	nc.SetErrorHandler(a.onAsyncError)
	sub, err := nc.Subscribe(a.prefix+"*", a.onReply)
	if err != nil {
		nc.SetErrorHandler(a.prevErr)
		return nil, err
	}
	_ = sub.SetPendingLimits(-1, -1)
	a.sub = sub
	a.status = nc.StatusChanged(nats.RECONNECTING, nats.CLOSED)
	a.timers = make(map[*time.Timer]struct{})
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.watchConn() }()
	return a, nil
}

// close stops listening for PubAcks; what is still pending stays counted
// as not acknowledged by the caller.
func (a *asyncPub) close() {
	a.mu.Lock()
	a.stopped = true
	for t := range a.timers {
		if t.Stop() {
			a.wg.Done() // its callback will not run
		}
	}
	clear(a.timers)
	a.mu.Unlock()
	_ = a.sub.Unsubscribe()
	a.nc.RemoveStatusListener(a.status) // ends watchConn
	a.wg.Wait()
	if a.p.deniedErr() != nil {
		// The server answers the refused messages still under way with
		// one error each, in order: a round trip lets them all reach
		// onAsyncError rather than the connection's handler.
		_ = a.nc.FlushTimeout(2 * time.Second)
	}
	a.nc.SetErrorHandler(a.prevErr)
}

// The texts of the server's permission violations (nats-server's
// pubPermissionViolation, replySubjectViolation, subPermissionViolation).
var (
	denyPublish   = regexp.MustCompile(`Permissions Violation for Publish to "([^"]*)"`)
	denyReply     = regexp.MustCompile(`Permissions Violation for Publish with Reply of "([^"]*)"`)
	denySubscribe = regexp.MustCompile(`Permissions Violation for Subscription to "([^"]*)"`)
)

// onAsyncError stops Publish on a permissions violation of its own
// publishes or of its PubAck subscription: the server drops each such
// message (no PubAck will come) and will refuse every next one too.
// Other errors go to the connection's previous handler.
func (a *asyncPub) onAsyncError(nc *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		msg := err.Error()
		if m := denyPublish.FindStringSubmatch(msg); m != nil && strings.HasPrefix(m[1], a.p.o.SubjectPrefix+".") {
			a.p.deny(&PublishDeniedError{Subject: m[1]})
			return
		}
		if m := denyReply.FindStringSubmatch(msg); m != nil && strings.HasPrefix(m[1], a.prefix) {
			a.p.deny(&PublishDeniedError{Subject: a.prefix + "*", Reply: true})
			return
		}
		if m := denySubscribe.FindStringSubmatch(msg); m != nil && m[1] == a.prefix+"*" {
			a.p.deny(&PublishDeniedError{Subject: m[1], Subscribe: true})
			return
		}
	}
	if a.prevErr != nil {
		a.prevErr(nc, sub, err)
	}
}

// abandon drops every message still awaiting its PubAck and returns how
// many events they hold, for the caller to count as failed.
func (a *asyncPub) abandon() int {
	a.mu.Lock()
	n, msgs := 0, len(a.pending)
	for seq, s := range a.pending {
		n += s.n
		delete(a.pending, seq)
	}
	a.signalLocked()
	a.mu.Unlock()
	for range msgs {
		<-a.window
	}
	return n
}

// watchConn fails the messages awaiting PubAcks when the connection drops:
// their PubAcks, if any were sent, are lost.
func (a *asyncPub) watchConn() {
	for st := range a.status {
		if st == nats.CLOSED {
			a.failAll(nats.ErrConnectionClosed)
			return
		}
		a.failAll(nats.ErrDisconnected)
	}
}

func (a *asyncPub) failAll(err error) {
	a.mu.Lock()
	failed := make([]pubSlot, 0, len(a.pending))
	for seq, s := range a.pending {
		failed = append(failed, s)
		delete(a.pending, seq)
	}
	a.taken += len(failed)
	a.mu.Unlock()
	for _, s := range failed {
		<-a.window
		a.p.failN(s.n, 0, s.id, fmt.Sprintf("not acknowledged: %v", err))
	}
	a.settle(len(failed)) // after the counting: complete's waiter reads the counts
}

// publish sends one message of n events (a batch: BatchContentType, its
// Nats-Msg-Id from its first event's id and its bytes), waiting for room
// in the window: while the window stays full, for as long as acks keep
// coming, and otherwise until stall has passed without one
// (ErrTooManyStalledMsgs) or ctx ends. data must stay unchanged until the
// PubAck (a retry resends it).
func (a *asyncPub) publish(ctx context.Context, prefix, subject, id string, data []byte, n int, batch bool, stall time.Duration) error {
	if err := a.p.deniedErr(); err != nil {
		return err
	}
	select {
	case a.window <- struct{}{}:
	default:
		if err := a.waitRoom(ctx, stall); err != nil {
			return err
		}
	}
	msgID := MsgID(id, data)
	if batch {
		msgID = "batch:" + msgID
	}
	a.mu.Lock()
	a.next++
	seq := a.next
	a.pending[seq] = pubSlot{id: id, subject: subject, msgID: msgID, data: data, n: n, batch: batch}
	a.mu.Unlock()

	// Subject and reply in one scratch buffer, viewed as strings for the
	// call only: nats.go copies them into its write buffer.
	b := append(a.scratch[:0], prefix...)
	b = append(b, subject...)
	nsub := len(b)
	b = append(b, a.prefix...)
	b = strconv.AppendUint(b, seq, 10)
	a.scratch = b
	a.msg.Subject = unsafe.String(&b[0], nsub)
	a.msg.Reply = unsafe.String(&b[nsub], len(b)-nsub)
	a.hdr[jetstream.MsgIDHeader][0] = msgID
	if batch {
		a.hdr[contentType] = batchCT
	} else {
		delete(a.hdr, contentType)
	}
	a.msg.Header = a.hdr
	a.msg.Data = data
	err := a.nc.PublishMsg(&a.msg)
	a.msg = nats.Msg{}
	if err != nil {
		a.forget(seq)
		return err
	}
	return nil
}

// waitRoom waits for a free place in the window.
func (a *asyncPub) waitRoom(ctx context.Context, stall time.Duration) error {
	t := time.NewTimer(stall)
	defer t.Stop()
	last := a.p.published.Load() + a.p.failed.Load()
	for {
		select {
		case a.window <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-a.p.denied:
			return a.p.deniedErr()
		case <-t.C:
			if n := a.p.published.Load() + a.p.failed.Load(); n != last {
				last = n
				t.Reset(stall)
				continue
			}
			return jetstream.ErrTooManyStalledMsgs
		}
	}
}

// forget drops a message that was not sent.
func (a *asyncPub) forget(seq uint64) {
	a.mu.Lock()
	_, ok := a.pending[seq]
	delete(a.pending, seq)
	a.signalLocked()
	a.mu.Unlock()
	if ok {
		<-a.window
	}
}

// take removes and returns the message of a reply subject. The caller
// counts the outcome and then calls settle, so that complete's waiter
// never reads the counts before the last one is in.
func (a *asyncPub) take(subject string) (uint64, pubSlot, bool) {
	seq, err := strconv.ParseUint(subject[min(len(a.prefix), len(subject)):], 10, 64)
	if err != nil || len(subject) < len(a.prefix) {
		return 0, pubSlot{}, false
	}
	a.mu.Lock()
	s, ok := a.pending[seq]
	delete(a.pending, seq)
	if ok {
		a.taken++
	}
	a.mu.Unlock()
	if ok {
		<-a.window
	}
	return seq, s, ok
}

// settle records that the outcomes of n taken messages are counted, and
// closes complete's channel if nothing is pending or uncounted any more.
func (a *asyncPub) settle(n int) {
	a.mu.Lock()
	a.taken -= n
	a.signalLocked()
	a.mu.Unlock()
}

// signalLocked closes done once nothing is pending or uncounted.
func (a *asyncPub) signalLocked() {
	if len(a.pending) == 0 && a.taken == 0 && a.done != nil {
		close(a.done)
		a.done = nil
	}
}

// complete returns a channel closed when no message awaits its PubAck.
func (a *asyncPub) complete() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := make(chan struct{})
	if len(a.pending) == 0 && a.taken == 0 {
		close(ch)
		return ch
	}
	if a.done == nil {
		a.done = make(chan struct{})
	}
	return a.done
}

// onReply handles a PubAck (or a no-responders status).
func (a *asyncPub) onReply(m *nats.Msg) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		a.noResponders(m.Subject)
		return
	}
	_, s, ok := a.take(m.Subject)
	if !ok {
		return // not ours any more (failed on a disconnect)
	}
	defer a.settle(1)
	dup, err := parsePubAck(m.Data)
	if err != nil {
		a.p.failN(s.n, 0, s.id, fmt.Sprintf("not acknowledged: %v", err))
		return
	}
	a.p.published.Add(int64(s.n))
	if dup {
		a.p.duplicates.Add(int64(s.n))
	}
}

// noResponders retries a message no stream answered, or fails it.
func (a *asyncPub) noResponders(reply string) {
	seq, err := strconv.ParseUint(reply[min(len(a.prefix), len(reply)):], 10, 64)
	if err != nil {
		return
	}
	a.mu.Lock()
	s, ok := a.pending[seq]
	if ok && s.retries < pubRetries && !a.stopped {
		s.retries++
		a.pending[seq] = s
		a.wg.Add(1)
		var t *time.Timer
		t = time.AfterFunc(pubRetryWait, func() {
			defer a.wg.Done()
			a.mu.Lock()
			delete(a.timers, t)
			stopped := a.stopped
			a.mu.Unlock()
			if stopped {
				return
			}
			m := &nats.Msg{Subject: a.p.o.SubjectPrefix + "." + s.subject, Reply: reply,
				Header: nats.Header{jetstream.MsgIDHeader: []string{s.msgID}}, Data: s.data}
			if s.batch {
				m.Header[contentType] = batchCT
			}
			if err := a.nc.PublishMsg(m); err != nil {
				if _, s, ok := a.take(reply); ok {
					a.p.failN(s.n, 0, s.id, fmt.Sprintf("not acknowledged: %v", err))
					a.settle(1)
				}
			}
		})
		a.timers[t] = struct{}{} // under a.mu, which the callback takes first
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	if _, s, ok := a.take(reply); ok {
		a.p.failN(s.n, 0, s.id, fmt.Sprintf("not acknowledged: %v", jetstream.ErrNoStreamResponse))
		a.settle(1)
	}
}

var (
	pubAckDup    = []byte(`,"duplicate":`)
	pubAckErr    = []byte(`"error"`)
	pubAckPrefix = []byte(`{"stream":"`)
)

// parsePubAck reads a JetStream PubAck: whether the stream had the message
// already (its Nats-Msg-Id in the dedupe window), or the error it
// answered. The common shape is recognised without a JSON decoder.
func parsePubAck(b []byte) (duplicate bool, err error) {
	if bytes.HasPrefix(b, pubAckPrefix) && !bytes.Contains(b, pubAckErr) {
		i := bytes.Index(b, pubAckDup)
		if i < 0 {
			return false, nil
		}
		rest := bytes.TrimLeft(b[i+len(pubAckDup):], " ")
		return bytes.HasPrefix(rest, []byte("true")), nil
	}
	var r struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Stream    string `json:"stream"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return false, fmt.Errorf("invalid PubAck %q: %w", b, err)
	}
	if r.Error != nil {
		return false, fmt.Errorf("%s (code %d, err_code %d)", r.Error.Description, r.Error.Code, r.Error.ErrCode)
	}
	if r.Stream == "" {
		return false, errors.New("PubAck without a stream")
	}
	return r.Duplicate, nil
}
