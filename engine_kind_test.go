package journey

import (
	"errors"
	"testing"
	"time"
)

// An action_requested engine event is read from the log (DecodeStored) but
// refused from publishers (Decode with a clock), with the rule named.
func TestEngineKindRefusedFromPublishers(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	raw, err := NewEvent("0b4e4c5e-5b8a-5d8e-9c1d-2f3a4b5c6d7e", EngineSource, KindActionRequested, "c-1", at,
		map[string]any{"kind": "thank_you", "reason": "repeat_purchase"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := DecodeStored(raw)
	if err != nil {
		t.Fatalf("DecodeStored: %v", err)
	}
	if ev.Type != KindActionRequested || ev.Data.Action != "thank_you" || ev.Data.Reason != "repeat_purchase" || !ev.Type.Engine() {
		t.Fatalf("decoded %+v", ev)
	}
	_, err = Decode(raw, at)
	var je *Error
	if !errors.As(err, &je) || je.Code != CodeUnknownType || je.Field != "type" {
		t.Fatalf("Decode with a clock: %v, want unknown_type on type", err)
	}
	if _, err := NewEvent("x", EngineSource, KindActionRequested, "c-1", at, map[string]any{"reason": "r"}); err == nil {
		t.Fatal("an action_requested without data.kind was accepted")
	}
	for _, k := range Kinds() {
		if k.Engine() {
			t.Fatalf("Kinds lists the engine kind %q", k)
		}
	}
}
