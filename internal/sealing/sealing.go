// Package sealing holds the one type that the event store and the key
// store share without importing each other: a customer's sealing key.
package sealing

// A Key seals one customer's events.
type Key interface {
	// Seal appends plaintext sealed with ad as associated data to dst
	// (it may be randomised: the same inputs need not give the same bytes).
	Seal(dst, ad, plaintext []byte) []byte
}

// CarriedKey is a new data key as the log carries it in the batch of the
// events sealed under it, until the key store has made it durable on its
// own: the pseudonym and the key wrapped by the master key.
type CarriedKey struct {
	Pseudonym string
	Wrapped   []byte
}
