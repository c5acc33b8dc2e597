package checkpoint

import (
	"encoding/hex"
	"time"
)

// Reply is a Report as journey verify --since --json prints it and
// GET /v1/checkpoint/verify answers it (one per checkpoint).
type Reply struct {
	OK             bool      `json:"ok"`
	CheckpointSeq  uint64    `json:"checkpoint_seq"`
	CheckpointTime time.Time `json:"checkpoint_time"`
	Events         uint64    `json:"events"`
	Head           string    `json:"head"`
	FirstBadSeq    *uint64   `json:"first_bad_seq"`
	LastBadSeq     *uint64   `json:"last_bad_seq,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	KeyFromFile    bool      `json:"key_from_file,omitempty"`
	Warning        string    `json:"warning,omitempty"`
}

// Reply is r on the wire.
func (r Report) Reply() Reply {
	p := Reply{OK: r.OK, CheckpointSeq: r.Seq, CheckpointTime: r.Time.UTC(), Events: r.Events, Head: hex.EncodeToString(r.Head[:]),
		Reason: r.Reason, KeyFromFile: r.KeyFromFile, Warning: r.Warning}
	if r.FirstBadSeq != 0 {
		f, l := r.FirstBadSeq, r.LastBadSeq
		p.FirstBadSeq, p.LastBadSeq = &f, &l
	}
	return p
}
