package eventstore

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
)

func TestQuarantineKeepsRepeatedInputOnce(t *testing.T) {
	ctx := context.Background()
	s, err := Open("log", &Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := QuarantineEntry{Code: journey.CodeInvalidJSON, Field: "", Reason: "invalid_json: broken", Origin: "import:a.jsonl:1", Raw: []byte(`{"id":`)}
	first, err := s.Quarantine(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	e.Origin, e.Reason = "import:a.jsonl:1 (again)", "invalid_json: broken, said differently"
	again, err := s.Quarantine(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if again != first || s.QuarantineCount() != 1 {
		t.Fatalf("same input quarantined twice: seq %d then %d, count %d; want one entry", first, again, s.QuarantineCount())
	}
	// Another rule broken by the same bytes is another entry.
	e.Field = "data.amount"
	other, err := s.Quarantine(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if other == first || s.QuarantineCount() != 2 {
		t.Fatalf("other field: seq %d (first %d), count %d; want a second entry", other, first, s.QuarantineCount())
	}
	// After a delete (a successful retry) the same input is kept anew.
	if err := s.QuarantineDelete(first); err != nil {
		t.Fatal(err)
	}
	e.Field = ""
	anew, err := s.Quarantine(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if anew == first || s.QuarantineCount() != 2 {
		t.Fatalf("after delete: seq %d (deleted %d), count %d; want a new entry", anew, first, s.QuarantineCount())
	}
}
