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
)

// StreamOptions name and shape the JetStream stream the touchpoints are
// published to and the engine's durable pull consumer. Zero fields take the
// defaults above.
type StreamOptions struct {
	Stream        string        // stream name
	SubjectPrefix string        // the stream holds SubjectPrefix + ".*" (one token: the customer)
	Consumer      string        // durable pull consumer name
	DedupeWindow  time.Duration // Nats-Msg-Id dedupe window of the stream
	AckWait       time.Duration // redelivery after this long without an ack
	MaxAckPending int           // delivered but unacked messages the server allows in flight
	Replicas      int           // stream replicas on a cluster (0: 1)
}

func (o StreamOptions) withDefaults() StreamOptions {
	o.Stream = cmp.Or(o.Stream, DefaultStream)
	o.SubjectPrefix = cmp.Or(o.SubjectPrefix, DefaultSubjectPrefix)
	o.Consumer = cmp.Or(o.Consumer, DefaultConsumer)
	o.DedupeWindow = cmp.Or(o.DedupeWindow, DefaultDedupeWindow)
	o.AckWait = cmp.Or(o.AckWait, DefaultAckWait)
	o.MaxAckPending = cmp.Or(o.MaxAckPending, DefaultMaxAckPending)
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

// Provision makes sure the stream and the durable consumer exist: each is
// created when missing and left exactly as it is when present (an operator
// may have tuned it). It returns the consumer.
func Provision(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Consumer, error) {
	cons, _, err := provision(ctx, js, o, 0)
	return cons, err
}

// provision is Provision, saying what it created ("stream", "consumer");
// a consumer it creates on a stream it did not create starts at the stream
// sequence from (0 or 1: the first), so that one recreated after a
// deletion does not redeliver what was acked.
func provision(ctx context.Context, js jetstream.JetStream, o StreamOptions, from uint64) (jetstream.Consumer, []string, error) {
	o = o.withDefaults()
	var created []string
	st, err := js.Stream(ctx, o.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		from = 0 // a new stream numbers from 1 again
		created = append(created, "stream")
		st, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        o.Stream,
			Description: "journey touchpoints, one subject token per customer",
			Subjects:    []string{o.SubjectPrefix + ".*"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  o.DedupeWindow,
			Replicas:    o.Replicas,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = js.Stream(ctx, o.Stream) // another engine won the race
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("handlers: stream %s: %w", o.Stream, err)
	}
	// Without a filter the server walks the stream in order instead of
	// matching every subject against a wildcard; a filter is needed only
	// when an operator's stream holds other subjects too.
	filter := o.SubjectPrefix + ".*"
	if subj := st.CachedInfo().Config.Subjects; len(subj) == 1 && subj[0] == filter {
		filter = ""
	}
	cons, err := st.Consumer(ctx, o.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cc := jetstream.ConsumerConfig{
			Durable:       o.Consumer,
			Description:   "journey engine: appends to the log, acks after fsync",
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       o.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: o.MaxAckPending,
			FilterSubject: filter,
		}
		if from > 1 {
			cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
		}
		cons, err = st.CreateConsumer(ctx, cc)
		if err == nil {
			created = append(created, "consumer")
		}
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = st.Consumer(ctx, o.Consumer)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("handlers: consumer %s on %s: %w", o.Consumer, o.Stream, err)
	}
	return cons, created, nil
}
