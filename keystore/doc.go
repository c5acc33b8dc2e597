// Package keystore keeps each customer's data key apart from the log, for
// crypto-shredding: the log stores every customer's events sealed under
// that customer's key (AES-256-GCM), and forgetting a customer destroys the
// key, so that their events, still in the hash chain, can no longer be
// read by anyone.
//
// The keys live in their own Pebble database (<data>/keys), each wrapped
// by a master key (Wrapper: the local AES-256-GCM one, or an external KMS).
// Losing the master key loses the data: nothing sealed can be opened
// without it. A wrong master key is refused at Open (a check value wrapped
// when the store was created), never taken for a new one.
//
// The store also keeps the secret of the customers' pseudonyms: the log's
// index keys and record headers carry HMAC-SHA-256(secret, customer id)
// (its first 128 bits, hex) instead of the id, so that once a customer's
// key is destroyed their id is gone from the log too.
package keystore
