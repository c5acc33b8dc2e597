package journey

import "testing"

func TestRoute(t *testing.T) {
	for _, c := range []struct {
		raw         string
		id, subject string
		ok, fast    bool
	}{
		{`{"specversion":"1.0","id":"a1","type":"visit","subject":"c-1","data":{"x":1}}`, "a1", "c-1", true, true},
		{` { "subject" : "c-1" , "n": [1, {"k": null}], "id" : "a1" } `, "a1", "c-1", true, true},
		{`{"id":"é","subject":"c"}`, "é", "c", true, true},
		{`{"id":"a\u0031","subject":"c"}`, "a1", "c", true, false},   // escape: decoder
		{`{"id":"a","id":"b","subject":"c"}`, "b", "c", true, false}, // duplicate name: decoder
		{`{"id":7,"subject":"c"}`, "", "c", true, false},             // not a string: ""
		{`{"id":"a"}`, "a", "", true, false},                         // no subject
		{`["id","a"]`, "", "", false, false},                         // not an object
		{`{"id":"a","subject":"c"`, "a", "c", true, true},            // both read before the end
		{`{"id":"a"  "subject":"c"}`, "a", "", false, false},         // missing comma
		{`{"n":tru,"id":"a","subject":"c"}`, "", "", false, false},   // broken before both
	} {
		id, subject, sure := routeFast([]byte(c.raw))
		if sure != c.fast {
			t.Errorf("routeFast(%s): sure %v, want %v", c.raw, sure, c.fast)
		}
		gid, gsub, gok := Route([]byte(c.raw))
		if gid != c.id || gsub != c.subject || gok != c.ok {
			t.Errorf("Route(%s) = %q %q %v, want %q %q %v", c.raw, gid, gsub, gok, c.id, c.subject, c.ok)
		}
		if sure && (id != gid || subject != gsub) {
			t.Errorf("routeFast(%s) = %q %q, Route %q %q", c.raw, id, subject, gid, gsub)
		}
	}
}

// FuzzRoute checks that whenever the fast scanner answers, the JSON
// decoder gives the same answer.
func FuzzRoute(f *testing.F) {
	for _, k := range Kinds() {
		f.Add(event(k, ""))
	}
	f.Add([]byte(`{"id":"a","subject":"b"}`))
	f.Add([]byte(`{"subject":"b","x":"\u0000","id":"a"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, subject, sure := routeFast(raw)
		if !sure {
			return
		}
		wid, wsub, wok := routeDecoder(raw)
		if !wok || id != wid || subject != wsub {
			t.Fatalf("routeFast(%q) = %q %q, decoder %q %q %v", raw, id, subject, wid, wsub, wok)
		}
	})
}

func BenchmarkRoute(b *testing.B) {
	raws := benchEvents(b)
	for _, c := range []struct {
		name  string
		route func([]byte) (string, string, bool)
	}{{"Route", Route}, {"decoder", routeDecoder}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, _, ok := c.route(raws[i%len(raws)]); !ok {
					b.Fatalf("no route for %s", raws[i%len(raws)])
				}
			}
		})
	}
}
