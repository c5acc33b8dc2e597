package reactions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

// DedupeWindow is the actions stream's duplicate window: a message
// published again within it (after a crash between JetStream's ack and
// the dispatcher's position) is stored once.
const DedupeWindow = 24 * time.Hour

// ProvisionStream creates or updates the actions stream (subjects
// journey.actions.>, file storage, DedupeWindow).
func ProvisionStream(ctx context.Context, js jetstream.JetStream, name string) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: cmpOr(name, DefaultStream), Subjects: []string{SubjectPrefix + ">"},
		Storage: jetstream.FileStorage, Duplicates: DedupeWindow, MaxAge: 30 * 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("reactions: provision stream %s: %w", cmpOr(name, DefaultStream), err)
	}
	return nil
}

// dispatchBatch is the most log records one dispatch pass reads.
const dispatchBatch = 4096

// afterPublish, when set (tests), is called after each acknowledged
// publish; an error stops the pass before its position is written, as a
// kill would.
var afterPublish func(id string) error

// A lane is one ordered dispatch of the log: its own position and the
// kinds it publishes. The default lane (position m/dispatched) publishes
// every kind without a lane of its own; a kind with a per_second limit
// gets its own lane (m/dispatched/<kind>), so that its pacing never holds
// back the other kinds (a holiday's thousands of thank-yous at 50 a
// second must not delay an escalation by hours). A kind keeps its lane
// once it had one (its position is its own from then on), paced or not.
type lane struct {
	key  []byte
	kind string // "" for the default lane
	next time.Time
}

// laneKey is the position key of kind's own lane.
func laneKey(kind string) []byte { return cat(keyDispatched, []byte("/"+kind)) }

// openLanes reads (creating) the dispatch lanes: the default one, and one
// for each kind that is paced or had a lane before. A new lane starts at
// the default lane's position: everything before it was published there.
func (r *Reactor) openLanes() error {
	r.lanes = []*lane{{key: keyDispatched}}
	def, _, err := getSeq(r.db, keyDispatched)
	if err != nil {
		return err
	}
	for _, k := range Kinds() {
		key := laneKey(k)
		_, ok, err := getSeq(r.db, key)
		if err != nil {
			return err
		}
		if !ok && r.cfg.policy(k).PerSecond <= 0 {
			continue
		}
		if !ok {
			if err := r.db.Set(key, seqValue(def), pebble.Sync); err != nil {
				return fmt.Errorf("reactions: open the %s dispatch lane: %w", k, err)
			}
		}
		r.lanes = append(r.lanes, &lane{key: key, kind: k})
	}
	return nil
}

// carries reports whether l publishes actions of kind.
func (r *Reactor) carries(l *lane, kind string) bool {
	if l.kind != "" {
		return kind == l.kind
	}
	for _, o := range r.lanes[1:] {
		if o.kind == kind {
			return false
		}
	}
	return true
}

// DispatchLoop publishes the action records of the log in order, from the
// dispatched positions (one per lane), each on journey.actions.<kind> with
// Nats-Msg-Id = the action id, retrying until JetStream acknowledges, and
// moves the lane's position (fsynced) after each pass. It returns when
// ctx ends.
func (r *Reactor) DispatchLoop(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := ProvisionStream(ctx, r.o.JetStream, r.o.Stream)
		if err == nil {
			break
		}
		r.log.Warn("reactions: actions stream not ready; retrying", "err", err)
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range r.lanes {
		g.Go(func() error { return r.laneLoop(gctx, l) })
	}
	return g.Wait()
}

func (r *Reactor) laneLoop(ctx context.Context, l *lane) error {
	for {
		pos, _, err := getSeq(r.db, l.key)
		if err != nil {
			return err
		}
		durable := r.o.Store.DurableSeq()
		if pos >= durable {
			if _, err := r.o.Store.WaitDurable(ctx, pos); err != nil {
				if ctx.Err() != nil || errors.Is(err, eventstore.ErrClosed) {
					return nil
				}
				return err
			}
			continue
		}
		if err := r.dispatchLane(ctx, l, pos+1, min(pos+dispatchBatch, durable)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

type outgoing struct {
	seq      uint64 // the action record's
	id, kind string
	data     []byte
}

// dispatch is dispatchLane of the default lane.
func (r *Reactor) dispatch(ctx context.Context, from, to uint64) error {
	return r.dispatchLane(ctx, r.lanes[0], from, to)
}

// dispatchLane publishes l's action records of from..to and writes to as
// l's position.
func (r *Reactor) dispatchLane(ctx context.Context, l *lane, from, to uint64) error {
	var out []outgoing
	err := r.o.Store.ScanRaw(ctx, from, to, func(rec *eventstore.RawRecord) error {
		if rec.Type != journey.KindActionRequested || rec.Erased {
			return nil // an erased customer's action is not dispatched
		}
		o, err := outgoingOf(rec.Raw)
		if err != nil {
			r.log.Warn("reactions: unreadable action record skipped", "seq", rec.Seq, "err", err)
			return nil
		}
		if r.carries(l, o.kind) {
			o.seq = rec.Seq
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reactions: read log %d..%d: %w", from, to, err)
	}
	saved := r.paceNow()
	for _, o := range out {
		if err := r.publish(ctx, l, o); err != nil {
			return err
		}
		if afterPublish != nil {
			if err := afterPublish(o.id); err != nil {
				return err
			}
		}
		// A long pass (a paced lane: 4096 actions at 1 a minute take
		// days) writes its position as it goes, at most once a second:
		// after a kill, what was published more than a moment ago is
		// not published again (outside JetStream's 24 h dedupe window
		// it would be stored twice).
		if now := r.paceNow(); now.Sub(saved) >= time.Second {
			if err := r.db.Set(l.key, seqValue(o.seq), pebble.Sync); err != nil {
				return err
			}
			saved = now
		}
	}
	return r.db.Set(l.key, seqValue(to), pebble.Sync)
}

// outgoingOf reads an action record: only the engine's own are sent.
func outgoingOf(raw []byte) (outgoing, error) {
	var env struct {
		ID     string         `json:"id"`
		Source string         `json:"source"`
		Data   jsontext.Value `json:"data"`
	}
	if err := json.Unmarshal(raw, &env, json.RejectUnknownMembers(false)); err != nil {
		return outgoing{}, err
	}
	if env.Source != journey.EngineSource {
		return outgoing{}, fmt.Errorf("source %q is not the engine's", env.Source)
	}
	var req struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(env.Data, &req, json.RejectUnknownMembers(false)); err != nil {
		return outgoing{}, err
	}
	if req.Kind == "" {
		return outgoing{}, errors.New("no data.kind")
	}
	return outgoing{id: env.ID, kind: req.Kind, data: slices.Clone([]byte(env.Data))}, nil
}

// publish sends o until JetStream acknowledges it, paced by its kind's
// PerSecond (a paced kind has a lane of its own).
func (r *Reactor) publish(ctx context.Context, l *lane, o outgoing) error {
	if ps := r.cfg.policy(o.kind).PerSecond; ps > 0 && l.kind == o.kind {
		r.pace(ctx, l, ps)
	}
	if d := r.cfg.DispatchDelay; d > 0 && !sleep(ctx, d) { // tests only
		return ctx.Err()
	}
	msg := &nats.Msg{Subject: SubjectPrefix + o.kind, Data: o.data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, o.id)
	backoff := 50 * time.Millisecond
	warned := false
	for {
		ack, erased, err := r.publishOnce(ctx, o, msg)
		var le logError
		if errors.As(err, &le) {
			return le.err
		}
		if erased {
			return nil
		}
		if err == nil {
			if !ack.Duplicate {
				r.dispatched.WithLabelValues(o.kind).Inc()
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !warned {
			r.log.Warn("reactions: publish not acknowledged; retrying", "action", o.id, "kind", o.kind, "err", err)
			warned = true
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			_ = ProvisionStream(ctx, r.o.JetStream, r.o.Stream)
		}
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// publishOnce publishes msg once, unless o's customer was forgotten since
// the pass read o (erased): it holds forgetMu's read lock from the check
// to the acknowledgement, so that a Forget (which takes the write lock
// after the customer's key is destroyed, before the actions stream is
// erased) either waits for this publish, whose message its erasure then
// finds, or makes the check see the erasure.
func (r *Reactor) publishOnce(ctx context.Context, o outgoing, msg *nats.Msg) (*jetstream.PubAck, bool, error) {
	r.forgetMu.RLock()
	defer r.forgetMu.RUnlock()
	erased := false
	err := r.o.Store.ReadSeqs(ctx, []uint64{o.seq}, func(rec *eventstore.RawRecord) error {
		erased = rec.Erased
		return nil
	})
	if err != nil {
		return nil, false, logError{fmt.Errorf("reactions: read action record %d: %w", o.seq, err)}
	}
	if erased {
		return nil, true, nil
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ack, err := r.o.JetStream.PublishMsg(pctx, msg)
	return ack, false, err
}

// logError is a failure to read the log, not to publish: not retried.
type logError struct{ err error }

func (e logError) Error() string { return e.err.Error() }

// pace waits until the lane's next slot at ps per second: the slots are
// 1/ps apart (no burst), the first one at once after an idle spell.
func (r *Reactor) pace(ctx context.Context, l *lane, ps float64) {
	now := r.paceNow()
	at := l.next
	if at.Before(now) {
		at = now
	}
	r.paceSleep(ctx, at.Sub(now))
	// The next slot is 1/ps after this publish goes, not after its slot:
	// a wait that overran (a busy machine, a slow acknowledgement before
	// it) must not let the next publish catch up.
	if t := r.paceNow(); t.After(at) {
		at = t
	}
	l.next = at.Add(time.Duration(float64(time.Second) / ps))
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
