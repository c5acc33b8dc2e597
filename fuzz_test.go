package journey

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// FuzzDecode checks that Decode never panics, that what it accepts is valid
// UTF-8 of at most MaxEventBytes, decodes again to the same Event, and keeps
// its meaning through NewEvent's canonical form; and that what it rejects
// carries one of Decode's codes. The seed corpus is testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, k := range Kinds() {
		f.Add(event(k, ""))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw)
		ev, err := Decode(raw, clock)
		if !bytes.Equal(in, raw) {
			t.Fatalf("Decode modified its input")
		}
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Decode error %T %v is not an *Error", err, err)
			}
			switch e.Code {
			case CodeTooLarge, CodeInvalidUTF8, CodeInvalidJSON, CodeMissingField, CodeInvalidField, CodeUnknownType:
			default:
				t.Fatalf("Decode error has code %q: %v", e.Code, e)
			}
			if e.Rule == "" {
				t.Fatalf("Decode error without a rule: %#v", e)
			}
			if ev != nil {
				t.Fatalf("Decode returned an event and %v", err)
			}
			return
		}
		if !utf8.Valid(raw) {
			t.Fatalf("accepted invalid UTF-8: %q", raw)
		}
		if len(raw) > MaxEventBytes {
			t.Fatalf("accepted %d bytes", len(raw))
		}
		if !bytes.Equal(ev.Raw, raw) {
			t.Fatalf("Raw differs from the input")
		}
		if !ev.Type.Known() || !ValidCustomerID(ev.Subject) || ev.ID == "" || len(ev.ID) > MaxIDBytes {
			t.Fatalf("accepted an event breaking an envelope rule: %+v", ev)
		}
		if ev.Time.Sub(clock) > MaxFutureSkew {
			t.Fatalf("accepted time %v, more than %v after %v", ev.Time, MaxFutureSkew, clock)
		}

		again, err := Decode(bytes.Clone(raw), clock)
		if err != nil {
			t.Fatalf("second Decode = %v", err)
		}
		again.Raw = ev.Raw
		if !reflect.DeepEqual(ev, again) {
			t.Fatalf("Decode is not deterministic:\n%+v\n%+v", ev, again)
		}
		if stored, err := DecodeStored(raw); err != nil || !reflect.DeepEqual(stored.Data, ev.Data) {
			t.Fatalf("DecodeStored = %v, %v", stored, err)
		}

		// The canonical form NewEvent writes means the same.
		canon, err := NewEvent(ev.ID, ev.Source, ev.Type, ev.Subject, ev.Time, dataValue(t, raw))
		if err != nil {
			t.Fatalf("NewEvent of an accepted event = %v\n%s", err, raw)
		}
		ce, err := Decode(canon, clock)
		if err != nil {
			t.Fatalf("Decode(NewEvent) = %v\n%s", err, canon)
		}
		ce.Raw = ev.Raw
		if !reflect.DeepEqual(ev, ce) {
			t.Fatalf("canonical form decodes differently:\n%+v\n%+v\n%s", ev, ce, canon)
		}
	})
}

// dataValue returns the raw "data" member of an accepted event.
func dataValue(t *testing.T, raw []byte) jsontext.Value {
	t.Helper()
	d := jsontext.NewDecoder(bytes.NewReader(raw))
	if _, err := d.ReadToken(); err != nil {
		t.Fatal(err)
	}
	for d.PeekKind() != '}' {
		tok, err := d.ReadToken()
		if err != nil {
			t.Fatal(err)
		}
		name := tok.String()
		v, err := d.ReadValue()
		if err != nil {
			t.Fatal(err)
		}
		if name == "data" {
			return bytes.Clone(v)
		}
	}
	t.Fatalf("no data in an accepted event: %s", raw)
	return nil
}

// TestFuzzSeeds checks the seed corpus says what its names say: valid_*
// seeds are accepted, invalid_* ones rejected.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			continue // a corpus entry the fuzzer added, in another form
		}
		raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		_, err = Decode([]byte(raw), clock)
		switch {
		case strings.HasPrefix(e.Name(), "valid_"):
			n++
			if err != nil {
				t.Errorf("%s: %v", e.Name(), err)
			}
		case strings.HasPrefix(e.Name(), "invalid_"):
			n++
			if err == nil {
				t.Errorf("%s: accepted", e.Name())
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d named seeds in %s", n, dir)
	}
}
