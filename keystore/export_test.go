package keystore

// HMACForTest is the store's HMAC-SHA-256 of the concatenated parts.
func HMACForTest(key []byte, parts ...[]byte) []byte {
	p := newHMACPads(key)
	sum := p.mac(parts...)
	return sum[:]
}
