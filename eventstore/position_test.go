package eventstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	journey "github.com/journey-cdp/journey"
)

// TestPosition commits a source position with the events of AppendAt:
// stored with them, kept over a reopen, committed by a call whose events
// are all duplicates, held back to before the message of a refused
// request (then moved on with SetPosition), and refused without a name.
func TestPosition(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const src = "nats:JOURNEY"
	if got, err := s.Position(src); err != nil || got != 0 {
		t.Fatalf("Position of a new log = %d, %v", got, err)
	}
	var reqs []Request
	for i := range 5 {
		reqs = append(reqs, unchecked(mkEvent(t, fmt.Sprintf("p-%d", i), "c1", t0, "")))
	}
	if _, err := s.AppendAt(ctx, reqs, Position{Name: src, Seq: 7}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Position(src); got != 7 {
		t.Fatalf("Position = %d, want 7", got)
	}
	if got, _ := s.Position("other"); got != 0 {
		t.Fatalf("another source's Position = %d", got)
	}
	// All duplicates: nothing appended, the position still moves.
	res, err := s.AppendAt(ctx, reqs[:2], Position{Name: src, Seq: 9})
	if err != nil || !res[0].Duplicate || !res[1].Duplicate {
		t.Fatalf("duplicates: %+v %v", res, err)
	}
	if got, _ := s.Position(src); got != 9 {
		t.Fatalf("Position after duplicates = %d, want 9", got)
	}
	// An id conflict in the message at source seq 12 holds the position at 11.
	other := mkEvent(t, "p-1", "c1", t0, "9.99")
	fresh := mkEvent(t, "p-new", "c2", t0, "")
	res, err = s.AppendAt(ctx, []Request{unchecked(fresh), unchecked(other)},
		Position{Name: src, Seq: 13, Sources: []uint64{10, 12}})
	var je *journey.Error
	if err != nil || res[0].Err != nil || !errors.As(res[1].Err, &je) || je.Code != journey.CodeIDConflict {
		t.Fatalf("conflict: %+v %v", res, err)
	}
	if got, _ := s.Position(src); got != 11 {
		t.Fatalf("Position after a conflict at 12 = %d, want 11", got)
	}
	if err := s.SetPosition(ctx, src, 13); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAt(ctx, reqs, Position{}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("AppendAt without a name = %v", err)
	}
	if _, err := s.AppendAt(ctx, reqs, Position{Name: src, Seq: 1, Sources: []uint64{1}}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("AppendAt with a short Sources = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := s.Position(src); got != 13 {
		t.Fatalf("Position after reopen = %d, want 13", got)
	}
	if rep := mustVerify(t, s); rep.Events != 6 {
		t.Fatalf("verify events=%d", rep.Events)
	}
}
