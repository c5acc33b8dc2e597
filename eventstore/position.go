package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// prefixPosition holds the positions of external ordered sources (a
// JetStream stream) the log was fed from: "p/" name → the source sequence
// of the last message taken (8, big-endian). It is written only by
// AppendAt and SetPosition, in the same Pebble batch as the events (and
// quarantine entries) that message produced, so that after a crash the
// position and the log agree: whatever the position covers is in the log,
// and nothing after it is.
var prefixPosition = []byte("p/")

// maxPositionName bounds a position's name.
const maxPositionName = 256

func positionKey(name string) []byte {
	return append(append(make([]byte, 0, len(prefixPosition)+len(name)), prefixPosition...), name...)
}

// Position is where a reader of an external ordered source stands, to be
// committed with the events of one AppendAt.
type Position struct {
	// Name names the source (e.g. "nats:JOURNEY"); 1..256 bytes.
	Name string
	// Seq is the source sequence of the last message the call's requests
	// came from: committed with them.
	Seq uint64
	// Sources, when set, holds for each request the source sequence of the
	// message it came from (len(reqs) entries, non-decreasing). A request
	// that is refused (its Result.Err is set: an id or version conflict)
	// holds the committed position back to just before its message (the
	// smallest such Sources[i]-1), so that a crash before the caller has
	// dealt with the refusal (quarantined it) finds that message again; the
	// caller then commits Seq with SetPosition.
	Sources []uint64
}

// committed is the position a call commits once its results are known.
func (p *Position) committed(results []Result) uint64 {
	seq := p.Seq
	if len(p.Sources) == len(results) {
		for i := range results {
			if results[i].Err != nil && p.Sources[i] > 0 {
				seq = min(seq, p.Sources[i]-1)
			}
		}
	}
	return seq
}

func checkPosition(p *Position) error {
	if p.Name == "" || len(p.Name) > maxPositionName {
		return fmt.Errorf("%w: position name must be 1..%d bytes", ErrInvalidRequest, maxPositionName)
	}
	return nil
}

// AppendAt is Append, committing pos in the same batch (and fsync) as the
// call's last request: after a crash, the log holds the events of every
// message up to the stored position and none after it. Concurrent calls
// with the same name are committed in the order the writer takes them;
// a source's reader calls one at a time. With no requests it is
// SetPosition.
func (s *Store) AppendAt(ctx context.Context, reqs []Request, pos Position) ([]Result, error) {
	if err := checkPosition(&pos); err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		return nil, s.SetPosition(ctx, pos.Name, pos.Seq)
	}
	if pos.Sources != nil && len(pos.Sources) != len(reqs) {
		return nil, fmt.Errorf("%w: %d position sources for %d requests", ErrInvalidRequest, len(pos.Sources), len(reqs))
	}
	return s.append(ctx, reqs, &pos)
}

// SetPosition commits a source position alone, fsynced (after the
// messages since the last one produced no event, or after the caller
// dealt with a refusal AppendAt held the position back for).
func (s *Store) SetPosition(ctx context.Context, name string, seq uint64) error {
	if err := checkPosition(&Position{Name: name}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.readLock(); err != nil {
		return err
	}
	defer s.readUnlock()
	b := s.db.NewBatch()
	_ = b.Set(positionKey(name), seqValue(seq), nil)
	if err := s.write(b); err != nil {
		return fmt.Errorf("eventstore: position %s: %w", name, err)
	}
	return nil
}

// Position returns the source position last committed under name, 0 when
// none was. Read it before appending with it: it may show a batch applied
// and not yet fsynced.
func (s *Store) Position(name string) (uint64, error) {
	if err := s.readLock(); err != nil {
		return 0, err
	}
	defer s.readUnlock()
	v, closer, err := s.db.Get(positionKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("eventstore: position %s: %w", name, err)
	}
	defer closer.Close()
	seq, err := decodeSeqValue(v)
	if err != nil {
		return 0, fmt.Errorf("eventstore: position %s: %w", name, err)
	}
	return seq, nil
}
