package projections

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/journey-cdp/journey/projections/customer"
)

// The trait index: a key per profile trait of every stored state,
//
//	t/ uvarint(len(key)) key uvarint(len(v)) v customer   (empty value)
//
// with v the trait's value case-folded (foldTrait), written beside the
// state (putEntry, and the rebuild's state tables), so that a search by
// key:value is a range read of the customers holding it. A key whose
// value has since changed stays until Forget or a rebuild; a search reads
// each candidate's state and keeps it only when its trait still matches.
// Forget deletes every index key of the customer. keyTraitIndex marks a
// views database whose every state was written with its keys (one built
// by a rebuild, or fresh); views built before the index have no mark and
// a trait search there reads every state, until the next rebuild.
var (
	prefixTrait   = []byte("t/")
	keyTraitIndex = []byte("m/traitindex")
)

// traitIndexReads counts the trait searches served from the index (tests).
var traitIndexReads atomic.Uint64

// foldTrait is a trait value as the index keys it (case-insensitive).
func foldTrait(v string) string { return strings.ToLower(strings.ToUpper(v)) }

// traitPrefix appends the index prefix of the customers whose trait key
// has value (any case) to b.
func traitPrefix(b []byte, key, value string) []byte {
	b = append(b, prefixTrait...)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	fv := foldTrait(value)
	b = binary.AppendUvarint(b, uint64(len(fv)))
	return append(b, fv...)
}

// traitCustomer is the customer of an index key.
func traitCustomer(k []byte) (string, bool) {
	if !bytes.HasPrefix(k, prefixTrait) {
		return "", false
	}
	k = k[len(prefixTrait):]
	for range 2 { // the key, then the value
		n, w := binary.Uvarint(k)
		if w <= 0 || uint64(len(k)-w) < n {
			return "", false
		}
		k = k[w+int(n):]
	}
	return string(k), true
}

// traitKeys are the index keys of st's traits, sorted.
func traitKeys(id string, st *customer.State) [][]byte {
	if len(st.Traits) == 0 {
		return nil
	}
	out := make([][]byte, 0, len(st.Traits))
	for k, v := range st.Traits {
		out = append(out, append(traitPrefix(make([]byte, 0, len(prefixTrait)+len(k)+len(v)+len(id)+4), k, v), id...))
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// traitSeed seeds traitsSum (a process's own: sums are not stored).
var traitSeed = maphash.MakeSeed()

// traitsSum is an order-free digest of traits (0 for none): putEntry
// writes the index keys again only when it changed.
func traitsSum(traits map[string]string) uint64 {
	var sum uint64
	for k, v := range traits {
		sum += maphash.Comparable(traitSeed, [2]string{k, foldTrait(v)}) | 1
	}
	return sum
}

// putTraits writes the index keys of st's traits into w.
func putTraits(w *pebble.Batch, id string, st *customer.State) error {
	for _, k := range traitKeys(id, st) {
		if err := w.Set(k, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// deleteTraits deletes every index key of customer id (those of values
// since changed too) into b: a pass over the index.
func deleteTraits(r pebble.Reader, b *pebble.Batch, id string) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefixTrait, UpperBound: prefixEnd(prefixTrait)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if c, ok := traitCustomer(it.Key()); ok && c == id {
			_ = b.Delete(bytes.Clone(it.Key()), nil)
		}
	}
	return it.Close()
}

// hasTraitIndex reports whether r's states all have their index keys.
func hasTraitIndex(r pebble.Reader) bool {
	_, c, err := r.Get(keyTraitIndex)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
