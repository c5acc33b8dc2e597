// Package sealing holds the one type that the event store and the key
// store share without importing each other: a customer's sealing key.
package sealing

// A Key seals one customer's events.
type Key interface {
	// Seal appends plaintext sealed with ad as associated data to dst
	// (it may be randomised: the same inputs need not give the same bytes).
	Seal(dst, ad, plaintext []byte) []byte
}
