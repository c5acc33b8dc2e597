package handlers

import (
	"bytes"
	"errors"
	"net/http"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/checkpoint"
)

// The signed checkpoints (auditor):
//
//	GET /v1/checkpoint                   sign the head now: one checkpoint.Checkpoint (kept in the engine's history too)
//	GET /v1/checkpoint/key               the public key: {"key":"<base64>"}
//	GET /v1/checkpoint/verify?since=…[&key=]  walk the live log and check it extends each checkpoint of since
//	                                     (a checkpoint's JSON, or JSON lines of them); key is the trusted
//	                                     public key (none: the key each checkpoint names, with a warning);
//	                                     JSONL of checkpoint.Reply, one per checkpoint
//
// Nil HTTPOptions.Checkpoints: 503 for the first two.
func (h *httpHandler) registerCheckpoint(mux *http.ServeMux) {
	h.handle(mux, "GET /v1/checkpoint", h.checkpoint, auth.Auditor)
	h.handle(mux, "GET /v1/checkpoint/key", h.checkpointKey, auth.Auditor)
	h.handle(mux, "GET /v1/checkpoint/verify", h.checkpointVerify, auth.Auditor)
}

var errNoCheckpoints = errors.New("checkpoints are not signed here")

// checkpoints is the engine's checkpoint keeper; nil when it has none, the
// 503 answer written.
func (h *httpHandler) checkpoints(w http.ResponseWriter) *checkpoint.Keeper {
	if h.o.Checkpoints == nil {
		writeError(w, http.StatusServiceUnavailable, ErrorBody{Code: journey.CodeInternal, Message: errNoCheckpoints.Error()})
	}
	return h.o.Checkpoints
}

func (h *httpHandler) checkpoint(w http.ResponseWriter, r *http.Request) {
	k := h.checkpoints(w)
	if k == nil {
		return
	}
	cp, err := k.Take(r.Context())
	if err != nil {
		h.readError(w, err)
		return
	}
	b, err := cp.Marshal()
	if err != nil {
		h.readError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func (h *httpHandler) checkpointKey(w http.ResponseWriter, r *http.Request) {
	if k := h.checkpoints(w); k != nil {
		writeJSON(w, http.StatusOK, map[string]string{"key": k.Key().PublicText()})
	}
}

func (h *httpHandler) checkpointVerify(w http.ResponseWriter, r *http.Request) {
	if h.o.Store == nil {
		h.readError(w, errNotServed)
		return
	}
	q := r.URL.Query()
	cps, err := checkpoint.Parse([]byte(q.Get("since")))
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidField, Field: "since",
			Message: "since: " + publicMessage(err.Error()) + " (want a checkpoint's JSON, or JSON lines of them)"})
		return
	}
	var trusted []byte
	if k := q.Get("key"); k != "" {
		pk, err := checkpoint.ParsePublicKey(k)
		if err != nil {
			writeError(w, http.StatusBadRequest, ErrorBody{Code: journey.CodeInvalidField, Field: "key", Message: "key: " + err.Error()})
			return
		}
		trusted = pk
	}
	reps, err := checkpoint.VerifySinceAll(r.Context(), h.o.Store, cps, trusted)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		h.readError(w, err)
		return
	}
	var buf bytes.Buffer
	for _, rep := range reps {
		b, err := marshalLine(rep.Reply())
		if err != nil {
			h.readError(w, err)
			return
		}
		buf.Write(b)
	}
	w.Header().Set("Content-Type", "application/jsonl")
	_, _ = w.Write(buf.Bytes())
}
