package customer

import (
	"strings"
	"time"

	journey "github.com/journey-cdp/journey"
)

// MaxActions bounds the actions a State keeps: beyond it the oldest done
// action is dropped (the oldest pending one when none is done). The log
// keeps every action_requested record; the state keeps what a customer's
// answer needs to show.
const MaxActions = 16

// The action statuses of an answer.
const (
	ActionPending = "pending"
	ActionDone    = "done"
)

// Action is one action the reactions asked another system for on this
// customer (an action_requested engine event, see handlers/reactions), and
// whether it was confirmed:
//
//   - any action: a thank_you touchpoint whose message_id is the action id;
//   - winback: also the customer's next purchase (they came back);
//   - escalation: also the complaint_resolved of its case.
type Action struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`
	Reason string    `json:"reason,omitempty"`
	Case   string    `json:"case_id,omitempty"`
	Asked  time.Time `json:"asked_at"`
	Done   time.Time `json:"done_at,omitzero"`
	Status string    `json:"status"` // pending, done (set in an Answer)
}

// applyAction folds an action_requested record. The engine's own record is
// not a touchpoint: it moves no first/last seen and no counter.
func (s *State) applyAction(ev *journey.Event, t time.Time) {
	for i := range s.Actions {
		if s.Actions[i].ID == ev.ID {
			return // the same record folded twice (never in one fold)
		}
	}
	if len(s.Actions) >= MaxActions {
		drop := 0
		for i := range s.Actions {
			if !s.Actions[i].Done.IsZero() {
				drop = i
				break
			}
		}
		s.Actions = append(s.Actions[:drop], s.Actions[drop+1:]...)
	}
	s.Actions = append(s.Actions, Action{ID: strings.Clone(ev.ID), Kind: strings.Clone(ev.Data.Action),
		Reason: strings.Clone(ev.Data.Reason), Case: strings.Clone(ev.Data.CaseID), Asked: t})
}

// confirmActions marks done the pending actions that ev confirms.
func (s *State) confirmActions(ev *journey.Event, t time.Time) {
	for i := range s.Actions {
		a := &s.Actions[i]
		if !a.Done.IsZero() {
			continue
		}
		switch {
		case ev.Type == journey.KindThankYou && ev.Data.MessageID == a.ID,
			ev.Type == journey.KindPurchase && a.Kind == "winback",
			ev.Type == journey.KindComplaintResolved && a.Kind == "escalation" && a.Case == ev.Data.CaseID:
			a.Done = t
		}
	}
}

// answerActions is s's actions with their status, newest last; nil when
// none.
func answerActions(s *State) []Action {
	if len(s.Actions) == 0 {
		return nil
	}
	out := make([]Action, len(s.Actions))
	for i, a := range s.Actions {
		a.Status = ActionPending
		if !a.Done.IsZero() {
			a.Status = ActionDone
		}
		out[i] = a
	}
	return out
}

// The actions' encoding, after the signals, only when there are any (so
// the states of a log without actions encode as before):
//
//	uvarint n, n × (string ID, Kind, Reason, Case; time Asked, Done)
func putActions(b []byte, as []Action) []byte {
	if len(as) == 0 {
		return b
	}
	return putList(b, as, putAction)
}

func putAction(b []byte, a Action) []byte {
	b = putString(b, a.ID)
	b = putString(b, a.Kind)
	b = putString(b, a.Reason)
	b = putString(b, a.Case)
	b = putTime(b, a.Asked)
	return putTime(b, a.Done)
}

func (d *decoder) actions() []Action {
	if len(d.b) == 0 || d.err != nil {
		return nil
	}
	return list(d, 6, (*decoder).action)
}

func (d *decoder) action() Action {
	return Action{ID: d.string(), Kind: d.string(), Reason: d.string(), Case: d.string(), Asked: d.time(), Done: d.time()}
}
