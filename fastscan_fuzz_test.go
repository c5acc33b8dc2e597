package journey

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzFastScan is the differential check of Decode's two parsers: whatever
// the allocation-free fastScan accepts, the jsontext path (scanJSON) must
// accept too, and both must record the same attribute and data-field
// values, so that no stored event can be read two ways. (fastScan may
// decline any input; scanJSON then decides alone.) The seeds are
// FuzzDecode's corpus plus one event of each kind.
func FuzzFastScan(f *testing.F) {
	for _, k := range Kinds() {
		f.Add(event(k, ""))
	}
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if raw, ok := corpusBytes(b); ok {
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast, slow decodeState
		if !fast.fastScan(raw) {
			return
		}
		if err := slow.scanJSON(raw); err != nil {
			t.Fatalf("fastScan accepted what jsontext rejects (%v): %q", err, raw)
		}
		if fast.attrs != slow.attrs {
			t.Fatalf("attributes differ:\nfast %v\nslow %v\nraw %q", fast.attrs, slow.attrs, raw)
		}
		if fast.fields != slow.fields {
			t.Fatalf("data fields differ:\nfast %v\nslow %v\nraw %q", fast.fields, slow.fields, raw)
		}
	})
}

// corpusBytes extracts the []byte value of a "go test fuzz v1" corpus file.
func corpusBytes(file []byte) ([]byte, bool) {
	lines := strings.SplitN(string(file), "\n", 3)
	if len(lines) < 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
		return nil, false
	}
	raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		return nil, false
	}
	return []byte(raw), true
}

// TestFastScanTakesCommonEvents checks that the fast path is the one taken
// for an ordinary event of every kind (else FuzzFastScan would compare
// nothing), and declines input it leaves to jsontext (escapes).
func TestFastScanTakesCommonEvents(t *testing.T) {
	for _, k := range Kinds() {
		var s decodeState
		if raw := event(k, ""); !s.fastScan(raw) {
			t.Errorf("fastScan declined an ordinary %s event: %s", k, raw)
		}
	}
	var s decodeState
	if raw := []byte(`{"specversion":"1.0","id":"a\u0062","source":"s","type":"visit","subject":"c","time":"2025-01-01T00:00:00Z","data":{"channel":"web"}}`); s.fastScan(raw) {
		t.Errorf("fastScan took an event with an escape, which it leaves to jsontext")
	}
}
