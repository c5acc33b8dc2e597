package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/eventstore"
)

// BatchItemReply is the answer for one event of a batch append, in the
// batch's order: Seq, Version and Duplicate as AppendReply, or Error.
type BatchItemReply struct {
	Index     int        `json:"index"`
	ID        string     `json:"id,omitempty"`
	Seq       uint64     `json:"seq,omitempty"`
	Version   uint64     `json:"version,omitempty"`
	Duplicate bool       `json:"duplicate,omitempty"`
	Error     *ErrorBody `json:"error,omitempty"`
}

// BatchReply is the answer of POST /v1/events with BatchContentType:
// how many events were appended, duplicates and refused, and one entry
// per event.
type BatchReply struct {
	Appended   int              `json:"appended"`
	Duplicates int              `json:"duplicates"`
	Refused    int              `json:"refused"`
	Events     []BatchItemReply `json:"events"`
}

// AppendBatch decodes, validates and appends the events of a batch body
// (BatchContentType: a JSON array of CloudEvents), each on its own and
// idempotent by its own id, the valid ones in one store Append (one
// fsync), in the batch's order; it returns after the fsync. An invalid
// event or an id conflict is quarantined and answered in its entry; a
// body that is not a JSON array of objects is quarantined whole and
// returned as the error (a *journey.Error). Any other error is the store's
// failure: nothing is acknowledged, the caller may retry the whole batch.
func (a *Appender) AppendBatch(ctx context.Context, body []byte, origin string) (BatchReply, error) {
	elems, je := splitBatch(body)
	if je != nil {
		if err := a.reject(ctx, body, je, origin); err != nil {
			return BatchReply{}, err
		}
		return BatchReply{}, je
	}
	rep := BatchReply{Events: make([]BatchItemReply, len(elems))}
	refuse := func(i int, err error) {
		b := errorBody(err)
		rep.Events[i].Error = &b
		rep.Refused++
	}
	now := a.o.Clock()
	p, authed := auth.FromContext(ctx)
	reqs := make([]eventstore.Request, 0, len(elems))
	idx := make([]int, 0, len(elems))
	for i, raw := range elems {
		rep.Events[i].Index = i
		ev, err := journey.Decode(raw, now)
		if err != nil {
			je, ok := errors.AsType[*journey.Error](err)
			if !ok {
				return BatchReply{}, err
			}
			if qerr := a.reject(ctx, raw, je, origin); qerr != nil {
				return BatchReply{}, qerr
			}
			refuse(i, je)
			continue
		}
		rep.Events[i].ID = ev.ID
		if authed {
			if rule := p.SourceRule(ev.Source); rule != "" {
				// Refused, not invalid: nothing is written, not even to the quarantine.
				refuse(i, &journey.Error{Code: codeForbidden, Field: "source", Rule: journey.Quote(ev.Source) + ": " + rule})
				continue
			}
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
		idx = append(idx, i)
	}
	if len(reqs) == 0 {
		return rep, nil
	}
	t0 := time.Now()
	res, err := a.store.Append(ctx, reqs)
	a.o.Metrics.observeAppend(time.Since(t0).Seconds())
	if err != nil {
		return BatchReply{}, err
	}
	for j, r := range res {
		i := idx[j]
		if r.Err != nil {
			je, ok := errors.AsType[*journey.Error](r.Err)
			if !ok {
				return BatchReply{}, r.Err
			}
			if je.Code == journey.CodeIDConflict || je.Code == journey.CodeErased {
				if qerr := a.reject(ctx, elems[i], je, origin); qerr != nil {
					return BatchReply{}, qerr
				}
			}
			refuse(i, je)
			continue
		}
		e := &rep.Events[i]
		e.Seq, e.Version, e.Duplicate = r.Seq, r.Version, r.Duplicate
		if r.Duplicate {
			rep.Duplicates++
		} else {
			rep.Appended++
		}
	}
	a.o.Metrics.appended(rep.Appended)
	a.o.Metrics.duplicates(rep.Duplicates)
	return rep, nil
}

// postBatch is POST /v1/events with BatchContentType: 200 with a
// BatchReply (one entry per event, each with its own outcome) once the
// valid events are fsynced; 400 when the body is not a JSON array of
// objects (quarantined whole); If-Match is refused (it names one
// customer's version, a batch holds many).
func (h *httpHandler) postBatch(w http.ResponseWriter, r *http.Request) {
	gzipped, err := contentEncoding(r.Header.Values("Content-Encoding"))
	if err != nil {
		writeError(w, http.StatusUnsupportedMediaType, errorBody(err))
		return
	}
	if r.Header.Get("If-Match") != "" {
		writeError(w, http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidField, Field: "header:If-Match",
			Message: "is not accepted with " + BatchContentType + " (it names one customer's version)"})
		return
	}
	raw, status, err := readBody(r.Body, gzipped)
	if err != nil {
		writeError(w, status, errorBody(err))
		return
	}
	rep, err := h.o.Appender.AppendBatch(r.Context(), raw, "http")
	if err != nil {
		body := errorBody(err)
		if body.Code == journey.CodeInternal {
			h.o.Logger.Error("http batch append failed", "err", err)
		}
		writeError(w, statusOf(body.Code), body)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
