// Package privacy answers a data subject: it forgets a customer
// (GDPR art. 17, PIPL art. 47) by crypto-shredding, across every store of
// the engine, and gathers everything held about one (art. 15).
//
// Forget, in order: the views delete their rows (projections.Views.Forget,
// so that a Forget cut short after the next step leaves nothing of theirs
// answered); the log destroys the customer's key and appends an erasure
// record (eventstore.Store.Forget: from then on nothing of theirs
// decrypts, and the chain still verifies), deletes their quarantine
// entries; the views delete their rows again (one an event made in
// between), the reactions theirs; the JetStream stream's messages on their subject are erased
// (overwritten in the file store, not only marked deleted). Each step is
// idempotent, so a Forget cut short (a crash) is completed by running it
// again.
package privacy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/accesslog"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// Engine is what a Forget or a subject-access export reaches. Store is
// required; the others are skipped when nil.
type Engine struct {
	Store     *eventstore.Store
	Views     *projections.Views
	AccessLog *accesslog.Log
	// JetStream and Stream name the stream whose messages on
	// SubjectPrefix.<customer> are purged on Forget.
	JetStream     jetstream.JetStream
	Stream        string
	SubjectPrefix string
	// ActionsStream, when set, is a stream whose messages name customers
	// in their data, on subjects that do not (the reactions' actions, a
	// subject per kind): on Forget each message naming the customer is
	// erased. Every message is read, so it is for a stream kept small by
	// its limits.
	ActionsStream string
	// Reactions, when set, is the reactions' store (reactions.Reactor):
	// its rows of the customer are deleted on Forget.
	Reactions Forgetter
	// Unknown lets Forget record the erasure of a customer the log has no
	// event of and the views no state of (a mistyped id, or one known only
	// elsewhere): without it such a Forget is ErrUnknownCustomer, since
	// the erasure refuses every later event of that id.
	Unknown bool
}

// ErrUnknownCustomer is a Forget of a customer journey holds nothing of:
// no event in the log, no state in the views.
var ErrUnknownCustomer = errors.New("journey holds no event and no state of this customer")

// A Forgetter deletes what it keeps of a customer, for good.
type Forgetter interface {
	Forget(ctx context.Context, customerID string) error
}

// Report says what Forget did.
type Report struct {
	Customer string `json:"customer"`
	eventstore.ForgetReport
	Views          bool   `json:"views"`                     // the views had a state for them
	StreamPurged   uint64 `json:"stream_purged"`             // stream messages purged
	StreamSkipped  string `json:"stream_skipped,omitempty"`  // why the stream was not purged
	ActionsErased  uint64 `json:"actions_erased,omitempty"`  // messages of the actions stream naming them, erased
	AccessLogAfter string `json:"access_log_note,omitempty"` // what the access log keeps
}

// holds reports whether the log has an event of customerID (readable or
// already erased) or the views a state of them (a referred prospect).
func (e Engine) holds(ctx context.Context, customerID string) (bool, error) {
	v, err := e.Store.CustomerVersion(customerID)
	if err != nil || v > 0 || e.Views == nil {
		return v > 0, err
	}
	_, err = e.Views.Customer(ctx, customerID, time.Time{})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, projections.ErrNotFound):
		return false, nil
	}
	return false, err
}

// Forget erases customer from every store of e (see the package doc).
func (e Engine) Forget(ctx context.Context, customerID, reason string) (Report, error) {
	if e.Store == nil {
		return Report{}, errors.New("privacy: no log")
	}
	rep := Report{Customer: customerID}
	if !e.Unknown {
		known, err := e.holds(ctx, customerID)
		if err != nil {
			return rep, err
		}
		if !known {
			return rep, ErrUnknownCustomer
		}
	}
	step(StepStart)
	// The views row first: a forget cut short once the key is destroyed
	// (a crash) must not leave the views answering with the customer's
	// data (their traits, their sums) until it is run again.
	if e.Views != nil {
		had, err := e.Views.Forget(ctx, customerID)
		if err != nil {
			return rep, fmt.Errorf("views: %w", err)
		}
		rep.Views = had
	}
	step(StepViewsFirst)
	fr, err := e.Store.Forget(ctx, customerID, reason)
	rep.ForgetReport = fr
	if err != nil {
		return rep, err
	}
	step(StepLog)
	// And again: an event of theirs taken between the first deletion and
	// the key's destruction made a row anew (none can come after it).
	if e.Views != nil {
		had, err := e.Views.Forget(ctx, customerID)
		if err != nil {
			return rep, fmt.Errorf("views: %w", err)
		}
		rep.Views = rep.Views || had
	}
	step(StepViews)
	if e.Reactions != nil {
		if err := e.Reactions.Forget(ctx, customerID); err != nil {
			return rep, err
		}
	}
	step(StepReactions)
	if e.JetStream != nil {
		subj := e.SubjectPrefix + "." + customerID
		pr, err := purge(ctx, e.JetStream, e.Stream, subj, step)
		if err != nil {
			return rep, fmt.Errorf("stream: purge %s: %w", subj, err)
		}
		rep.StreamPurged = pr
		if e.ActionsStream != "" {
			n, err := eraseNaming(ctx, e.JetStream, e.ActionsStream, customerID, step)
			if err != nil {
				return rep, fmt.Errorf("stream %s: %w", e.ActionsStream, err)
			}
			rep.ActionsErased = n
		}
		step(StepStream)
	} else {
		rep.StreamSkipped = "not connected to the stream: its messages of this customer stay until the stream's max age"
	}
	if e.AccessLog != nil {
		rep.AccessLogAfter = "the access log keeps who read this customer's data and when (an audit trail, never the data); it ages out with its retention"
	}
	return rep, nil
}

// Steps of Forget, named to TestHook as each completes (StepStart: before
// anything).
const (
	StepStart      = "start"
	StepViewsFirst = "views-first" // the views rows deleted (before the key is destroyed)
	StepLog        = "log"         // eventstore.Store.Forget done: key destroyed, erasure record appended
	StepViews      = "views"       // the views rows deleted again (a row made meanwhile) and forced out
	StepReactions  = "reactions"   // the reactions' rows deleted
	StepErase      = "erase"       // one stream message erased (named once per message)
	StepStream     = "stream"      // the stream's messages of the customer gone
)

// TestHook, when set, is called with each step of Forget as it is reached.
// Only the journey command's crash tests set it (JOURNEY_TEST_FORGET_KILL,
// cmd/journey): nil otherwise.
var TestHook func(step string)

func step(name string) {
	if TestHook != nil {
		TestHook(name)
	}
}

// purge erases the stream's messages on subj. A JetStream purge only marks
// a message deleted: its bytes stay in the file store's block until the
// block is compacted, or for good in the last block. So each message is
// first erased (a secure delete: the server overwrites the record, subject
// and headers included, with random bytes and rewrites the block), then
// the subject is purged (whatever arrived meanwhile).
func purge(ctx context.Context, js jetstream.JetStream, name, subj string, step func(string)) (uint64, error) {
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0, err
	}
	var n uint64
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("find the next message: %w", err)
		}
		if err := st.SecureDeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("erase message %d: %w", m.Sequence, err)
		}
		n++
		step(StepErase)
		seq = m.Sequence + 1
	}
	before, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return n, err
	}
	if ss, ok := before.State.Subjects[subj]; ok && ss > 0 {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return n, err
		}
		n += ss
	}
	return n, nil
}

// eraseNaming erases (secure delete) the messages of stream name whose
// data holds the customer id as a JSON string.
func eraseNaming(ctx context.Context, js jetstream.JetStream, name, customerID string, step func(string)) (uint64, error) {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	quoted, err := json.Marshal(customerID)
	if err != nil {
		return 0, err
	}
	var n uint64
	for seq := info.State.FirstSeq; seq != 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted, or gone with the limits
		}
		if err != nil {
			return n, fmt.Errorf("read message %d: %w", seq, err)
		}
		if !bytes.Contains(m.Data, quoted) {
			continue
		}
		if err := st.SecureDeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("erase message %d: %w", seq, err)
		}
		n++
		step(StepErase)
	}
	return n, nil
}

// Export is everything journey holds about one customer, for a
// subject-access request.
type Export struct {
	Customer    string                      `json:"customer"`
	ExportedAt  time.Time                   `json:"exported_at"`
	Erased      *eventstore.ErasureNote     `json:"erased,omitempty"`
	Answer      *customer.Answer            `json:"answer,omitempty"`
	Events      []eventstore.StoredEvent    `json:"events"`
	Quarantine  []eventstore.QuarantineLine `json:"quarantine"`
	AccessLog   []accesslog.Entry           `json:"access_log"`
	NotIncluded []string                    `json:"not_included,omitempty"`
}

// SubjectAccess gathers everything e holds about customerID: the events
// decrypted, the current answer, its actions (in the answer), quarantine
// entries naming them, and the access-log entries of reads of their data.
func (e Engine) SubjectAccess(ctx context.Context, customerID string, now time.Time) (*Export, error) {
	if e.Store == nil {
		return nil, errors.New("privacy: no log")
	}
	x := &Export{Customer: customerID, ExportedAt: now.UTC(), Events: []eventstore.StoredEvent{}, Quarantine: []eventstore.QuarantineLine{}, AccessLog: []accesslog.Entry{}}
	recs, err := e.Store.CustomerEvents(ctx, customerID, 0, 0)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Type == eventstore.KindCustomerErased {
			var n eventstore.ErasureNote
			if json.Unmarshal(r.Raw, &n) == nil {
				x.Erased = &n
			}
			continue
		}
		x.Events = append(x.Events, r.Stored())
	}
	if e.Views != nil && x.Erased == nil {
		a, err := e.Views.Customer(ctx, customerID, time.Time{})
		switch {
		case err == nil:
			x.Answer = a
		case !errors.Is(err, projections.ErrNotFound):
			return nil, err
		}
	}
	err = e.Store.QuarantineScan(ctx, func(q *eventstore.QuarantineEntry) error {
		var head struct {
			Subject string `json:"subject"`
		}
		if json.Unmarshal(q.Raw, &head) != nil || head.Subject != customerID {
			return nil
		}
		x.Quarantine = append(x.Quarantine, q.Line())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if e.AccessLog != nil {
		if err := e.AccessLog.Export(ctx, accesslog.Filter{Customer: customerID}, func(en accesslog.Entry) error {
			x.AccessLog = append(x.AccessLog, en)
			return nil
		}); err != nil {
			return nil, err
		}
	} else {
		x.NotIncluded = append(x.NotIncluded, "access log: not kept here (access control off) or not reachable offline")
	}
	x.NotIncluded = append(x.NotIncluded,
		"the JetStream stream may still hold their messages until its max age",
		"backups and exports already handed out are outside the engine")
	return x, nil
}
