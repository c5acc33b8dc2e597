package handlers

import (
	"bytes"
	"context"
	"testing"

	"github.com/journey-cdp/journey/internal/simulate"
)

func TestPeekFastPath(t *testing.T) {
	for _, c := range []struct {
		raw         string
		id, subject string
		ok, fast    bool
	}{
		{`{"specversion":"1.0","id":"a1","type":"visit","subject":"c-1","data":{"x":1}}`, "a1", "c-1", true, true},
		{` { "subject" : "c-1" , "id" : "a1" } `, "a1", "c-1", true, true},
		{`{"id":"a\u0031","subject":"c"}`, "a1", "c", true, false},   // escape: decoder
		{`{"n":1,"id":"a","subject":"c"}`, "a", "c", true, false},    // number before: decoder
		{`{"id":"a","id":"b","subject":"c"}`, "b", "c", true, false}, // duplicate name: decoder
		{`{"id":"é","subject":"c"}`, "é", "c", true, false},          // non-ASCII: decoder
		{`{"id":"a"}`, "a", "", true, false},                         // no subject
		{`["id","a"]`, "", "", false, false},                         // not an object
		{`{"id":"a","subject":"c"`, "a", "c", true, true},            // both read before the end
		{`{"id":"a"  "subject":"c"}`, "a", "", false, false},         // missing comma
	} {
		id, subject, sure := peekFast([]byte(c.raw))
		if sure != c.fast {
			t.Errorf("peekFast(%s): sure %v, want %v", c.raw, sure, c.fast)
		}
		var p peeker
		gid, gsub, gok := p.peek([]byte(c.raw))
		if gid != c.id || gsub != c.subject || gok != c.ok {
			t.Errorf("peek(%s) = %q %q %v, want %q %q %v", c.raw, gid, gsub, gok, c.id, c.subject, c.ok)
		}
		if sure && (id != gid || subject != gsub) {
			t.Errorf("peekFast(%s) = %q %q, peek %q %q", c.raw, id, subject, gid, gsub)
		}
	}
}

// FuzzPeek checks that whenever the fast path answers, the JSON decoder
// gives the same answer.
func FuzzPeek(f *testing.F) {
	var buf bytes.Buffer
	if _, err := simulate.Run(context.Background(), &buf, simulate.Config{Customers: 5, Days: 10, Seed: 3, InvalidRate: 0.2}); err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		f.Add(line)
	}
	f.Add([]byte(`{"id":"a","subject":"b"}`))
	f.Add([]byte(`{"subject":"b","x":"\u0000","id":"a"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, subject, sure := peekFast(raw)
		if !sure {
			return
		}
		var p peeker
		wid, wsub, wok := p.peekDecoder(raw)
		if !wok || id != wid || subject != wsub {
			t.Fatalf("peekFast(%q) = %q %q, decoder %q %q %v", raw, id, subject, wid, wsub, wok)
		}
	})
}

func BenchmarkPeek(b *testing.B) {
	var buf bytes.Buffer
	if _, err := simulate.Run(context.Background(), &buf, simulate.Config{Customers: 50, Days: 60, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var p peeker
	for _, name := range []string{"fast", "decoder"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				raw := lines[i%len(lines)]
				var ok bool
				if name == "fast" {
					_, _, ok = p.peek(raw)
				} else {
					_, _, ok = p.peekDecoder(raw)
				}
				if !ok {
					b.Fatalf("peek failed on %s", raw)
				}
			}
		})
	}
}
