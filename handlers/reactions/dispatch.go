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

// DispatchLoop publishes the action records of the log in order, from the
// dispatched position, each on journey.actions.<kind> with Nats-Msg-Id =
// the action id, retrying until JetStream acknowledges, and moves the
// position (fsynced) after each pass. It returns when ctx ends.
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
	for {
		pos, _, err := getSeq(r.db, keyDispatched)
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
		if err := r.dispatch(ctx, pos+1, min(pos+dispatchBatch, durable)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

type outgoing struct {
	id, kind string
	data     []byte
}

// dispatch publishes the action records of from..to and writes to as the
// dispatched position.
func (r *Reactor) dispatch(ctx context.Context, from, to uint64) error {
	var out []outgoing
	err := r.o.Store.ScanRaw(ctx, from, to, func(rec *eventstore.RawRecord) error {
		if rec.Type != journey.KindActionRequested {
			return nil
		}
		o, err := outgoingOf(rec.Raw)
		if err != nil {
			r.log.Warn("reactions: unreadable action record skipped", "seq", rec.Seq, "err", err)
			return nil
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reactions: read log %d..%d: %w", from, to, err)
	}
	for _, o := range out {
		if err := r.publish(ctx, o); err != nil {
			return err
		}
		if afterPublish != nil {
			if err := afterPublish(o.id); err != nil {
				return err
			}
		}
	}
	return r.db.Set(keyDispatched, seqValue(to), pebble.Sync)
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
// PerSecond.
func (r *Reactor) publish(ctx context.Context, o outgoing) error {
	if ps := r.cfg.policy(o.kind).PerSecond; ps > 0 && o.kind == r.kindOf(o.kind) {
		r.pace(ctx, o.kind, ps)
	}
	if d := r.cfg.DispatchDelay; d > 0 && !sleep(ctx, d) { // tests only
		return ctx.Err()
	}
	msg := &nats.Msg{Subject: SubjectPrefix + o.kind, Data: o.data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, o.id)
	backoff := 50 * time.Millisecond
	warned := false
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ack, err := r.o.JetStream.PublishMsg(pctx, msg)
		cancel()
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

// kindOf maps a kind to itself when it is one of ours (other kinds have
// no policy of their own and are not paced).
func (r *Reactor) kindOf(k string) string {
	if slices.Contains(Kinds(), k) {
		return k
	}
	return ""
}

// pace waits until the kind's next slot at ps per second: the slots are
// 1/ps apart (no burst), the first one at once after an idle spell.
func (r *Reactor) pace(ctx context.Context, kind string, ps float64) {
	if r.next == nil {
		r.next = map[string]time.Time{}
	}
	now := r.paceNow()
	at := r.next[kind]
	if at.Before(now) {
		at = now
	}
	r.next[kind] = at.Add(time.Duration(float64(time.Second) / ps))
	r.paceSleep(ctx, at.Sub(now))
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
