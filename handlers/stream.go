package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the NATS surface.
const (
	DefaultStream        = "JOURNEY"
	DefaultSubjectPrefix = "journey.events"
	DefaultConsumer      = "journey-engine"
	DefaultRejectSubject = "journey.rejected"
	DefaultAppendSubject = "journey.append"
	DefaultAppendQueue   = "journey-engine"
	DefaultDedupeWindow  = 2 * time.Minute
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 20000
	// DefaultStreamMaxAge is how long the stream keeps a message (limits
	// retention): the stream is a buffer in front of the log, not the
	// record; the log is. A week covers an engine down over a long weekend.
	DefaultStreamMaxAge = 7 * 24 * time.Hour
)

// StreamOptions name and shape the JetStream stream the touchpoints are
// published to and the engine's durable pull consumer. Zero fields take the
// defaults above.
type StreamOptions struct {
	Stream        string        // stream name
	SubjectPrefix string        // the stream holds SubjectPrefix + ".*" (one token: the customer)
	Consumer      string        // durable pull consumer name
	DedupeWindow  time.Duration // Nats-Msg-Id dedupe window of the stream
	// MaxAge is how long the stream keeps a message (limits retention)
	// when Provision creates it; 0: DefaultStreamMaxAge, negative: no limit.
	// Messages the engine had not taken when they expired are reported as
	// a gap (see Ingester.Ready), never skipped silently.
	MaxAge   time.Duration
	Replicas int // stream replicas on a cluster (0: 1)

	// Deprecated: the engine's consumer acks nothing (AckNone: the stream
	// position is committed in the log with the events); ignored.
	AckWait time.Duration
	// Deprecated: ignored, as AckWait.
	MaxAckPending int
}

// StreamDefaults is o with every zero field given its default.
func StreamDefaults(o StreamOptions) StreamOptions { return o.withDefaults() }

func (o StreamOptions) withDefaults() StreamOptions {
	o.Stream = cmp.Or(o.Stream, DefaultStream)
	o.SubjectPrefix = cmp.Or(o.SubjectPrefix, DefaultSubjectPrefix)
	o.Consumer = cmp.Or(o.Consumer, DefaultConsumer)
	o.DedupeWindow = cmp.Or(o.DedupeWindow, DefaultDedupeWindow)
	o.AckWait = cmp.Or(o.AckWait, DefaultAckWait)
	o.MaxAckPending = cmp.Or(o.MaxAckPending, DefaultMaxAckPending)
	o.MaxAge = cmp.Or(o.MaxAge, DefaultStreamMaxAge)
	o.Replicas = cmp.Or(o.Replicas, 1)
	return o
}

// positiveOr is v, or def when v is not positive (an options field's
// zero, or a nonsensical negative, takes its default).
func positiveOr[T ~int | ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Provision makes sure the stream and the durable consumer exist: the
// stream is created when missing (limits retention, MaxAge) and left
// exactly as it is when present (an operator may have tuned it); the
// consumer is created when missing. The ingester replaces the consumer at
// the start of each Run by one that starts right after the stream position
// the log holds (see Ingester.Run). It returns the consumer.
func Provision(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Consumer, error) {
	o = o.withDefaults()
	st, _, err := provisionStream(ctx, js, o)
	if err != nil {
		return nil, err
	}
	cons, err := st.Consumer(ctx, o.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = st.CreateConsumer(ctx, consumerConfig(o.Consumer, consumerFilter(st, o), 0))
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = st.Consumer(ctx, o.Consumer)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("handlers: consumer %s on %s: %w", o.Consumer, o.Stream, err)
	}
	return cons, nil
}

// provisionStream returns the stream, creating it when missing (created).
func provisionStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (st jetstream.Stream, created bool, err error) {
	o = o.withDefaults()
	st, err = js.Stream(ctx, o.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		created = true
		st, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        o.Stream,
			Description: "journey touchpoints, one subject token per customer (a buffer in front of the engine's log)",
			Subjects:    []string{o.SubjectPrefix + ".*"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  o.DedupeWindow,
			MaxAge:      max(o.MaxAge, 0),
			Replicas:    o.Replicas,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			created = false
			st, err = js.Stream(ctx, o.Stream) // another engine won the race
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("handlers: stream %s: %w", o.Stream, err)
	}
	return st, created, nil
}

// consumerFilter is the consumer's filter on st: none when the stream
// holds only the touchpoint subjects (the server then walks the stream in
// order instead of matching every subject against a wildcard, and the
// ingester can tell a missing stream sequence from another subject's).
func consumerFilter(st jetstream.Stream, o StreamOptions) string {
	filter := o.SubjectPrefix + ".*"
	if subj := st.CachedInfo().Config.Subjects; len(subj) == 1 && subj[0] == filter {
		return ""
	}
	return filter
}

// consumerConfig is the engine's consumer: durable (operators see its lag
// by name), in stream order, acking nothing — the engine commits the
// stream sequence of the last message it took in the log, with the events
// it produced, and starts a new consumer right after it on each start
// (from: the first stream sequence; 0 or 1: the first of the stream).
func consumerConfig(name, filter string, from uint64) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "journey engine: reads in order, acks nothing; its position is committed in the engine's log",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckNonePolicy,
		FilterSubject: filter,
	}
	if from > 1 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	return cc
}

// placeConsumer replaces the consumer name on st by one that starts at
// stream sequence from (see consumerConfig).
func placeConsumer(ctx context.Context, st jetstream.Stream, name, filter string, from uint64) (jetstream.Consumer, error) {
	if err := st.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("handlers: consumer %s: delete: %w", name, err)
	}
	cons, err := st.CreateConsumer(ctx, consumerConfig(name, filter, from))
	if err != nil {
		return nil, fmt.Errorf("handlers: consumer %s: create from stream seq %d: %w", name, from, err)
	}
	return cons, nil
}
