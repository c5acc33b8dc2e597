// Package keyspace holds the byte-key helpers that the Pebble databases of
// the log and the views share.
package keyspace

// PrefixEnd is the smallest key greater than every key with prefix p (the
// exclusive upper bound of an iteration over the prefix); nil when there is
// none (p is empty or all 0xff).
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
