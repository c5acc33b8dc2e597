package handlers

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// splitSeeds are batch bodies of every shape the splitter must follow.
var splitSeeds = []string{
	`[]`, ` [ ] `, `[{}]`, `[{"a":1}]`, `[{"a":1},{"b":2}]`, "[\n {\"a\":\"x\"},\n\t{\"b\":[1,{\"c\":\"}\"}]}\n]\n",
	`[{"s":"a \"quoted\" } ] { [ string"}, {"t":"\\"}]`, `[{"u":"\u005d\u007d"}]`, `[{"n":{"m":{"o":[[],[{}]]}}}]`,
	`{"id":"x"}`, `[{"id":"x"}, 3]`, `[{"id":`, `[{"a":1}`, `[{"a":1},]`, `[{"a":1}] x`, `[{"a":1} {"b":2}]`,
	`[{"a":[}]`, `[{"a":"unterminated}]`, `[`, ``, `  `, `[{"a":1}]]`, `["x"]`, `[null]`, `[{"a":1},`,
}

// TestSplitBatch: on every valid array of objects the splitter returns
// exactly encoding/json's elements; what encoding/json refuses for its
// structure (not an array, an element not an object, unterminated, a
// bracket that does not match, trailing bytes) it refuses as a whole,
// naming the rule and never echoing the body.
func TestSplitBatch(t *testing.T) {
	for _, body := range splitSeeds {
		checkSplit(t, []byte(body))
	}
	got, err := splitBatch([]byte(`[{"id":"x"}, 3]`))
	if err == nil || got != nil || err.Field != "batch" || !strings.Contains(err.Rule, "element 1 of the batch is not a JSON object") {
		t.Fatalf("an element that is not an object: %v %v", got, err)
	}
	if _, err := splitBatch([]byte(`[{"secret":"ada@example.com"`)); err == nil || strings.Contains(err.Rule, "ada@") {
		t.Fatalf("an unterminated batch: %v (the rule must not echo the body)", err)
	}
}

// FuzzSplitBatch: the splitter agrees with encoding/json on every input
// that encoding/json reads as an array of objects.
func FuzzSplitBatch(f *testing.F) {
	for _, s := range splitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkSplit(t, body) })
}

func checkSplit(t *testing.T, body []byte) {
	t.Helper()
	got, err := splitBatch(body)
	var elems []json.RawMessage
	valid := json.Unmarshal(body, &elems) == nil
	for _, e := range elems {
		if len(e) == 0 || e[0] != '{' {
			valid = false
		}
	}
	if valid {
		if err != nil {
			t.Fatalf("%q: refused (%v), encoding/json reads it as an array of objects", body, err)
		}
		if len(got) != len(elems) {
			t.Fatalf("%q: %d elements, encoding/json %d", body, len(got), len(elems))
		}
		for i := range got {
			if !bytes.Equal(got[i], elems[i]) {
				t.Fatalf("%q: element %d is %q, encoding/json %q", body, i, got[i], elems[i])
			}
		}
		return
	}
	if err == nil {
		// Accepted while encoding/json refuses: only because an element's
		// own JSON is invalid (checked when it is decoded); the structure
		// holds: every element is an object, and the body is the array.
		for _, e := range got {
			if e[0] != '{' || e[len(e)-1] != '}' {
				t.Fatalf("%q: element %q is not an object's bytes", body, e)
			}
		}
	}
}
