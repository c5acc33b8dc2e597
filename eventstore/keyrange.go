package eventstore

import "bytes"

// RecordKeyRange is the key range [lower, upper) of the log's records in
// its Pebble database (the "e/" keys of the key layout above), for tools
// that read that database directly beside the store, such as the rebuild
// benchmark's raw-Pebble baseline (internal/bench). The slices are the
// caller's.
func RecordKeyRange() (lower, upper []byte) {
	lower, upper = bytes.Clone(prefixEvent), bytes.Clone(prefixEvent)
	upper[len(upper)-1]++ // "e/" → "e0"
	return lower, upper
}
