package keyspace

import (
	"bytes"
	"testing"
)

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want []byte }{
		{[]byte("e/"), []byte("e0")},
		{[]byte{'c', 0xff}, []byte{'d'}},
		{[]byte{0xff, 0xff}, nil},
		{nil, nil},
	} {
		in := bytes.Clone(c.in)
		if got := PrefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("PrefixEnd(%q) = %q, want %q", c.in, got, c.want)
		}
		if !bytes.Equal(in, c.in) {
			t.Errorf("PrefixEnd modified its argument")
		}
	}
}
