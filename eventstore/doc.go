// Package eventstore is journey's append-only touchpoint log on Pebble: the
// single source of truth that projections fold and auditors verify.
//
// # Model
//
// Every appended event gets a global sequence (dense, from 1, in commit
// order), a per-customer version (1, 2, … per subject), an entry in a
// permanent event-id index, and a hash that chains it to its predecessor.
// The event's bytes are stored exactly as received.
//
// # Key layout (one Pebble database, <data>/log)
//
//	key                                   value
//	-------------------------------------  ------------------------------------
//	"e/" seq(8, big-endian)               record (below)
//	"c/" customer 0x00 version(8, be)     seq(8, be)      customer stream
//	"i/" id                               seq(8, be)      event-id index
//	"q/" qseq(8, be)                      quarantine entry (below)
//	"x/" sha256(code|field|raw)(32)       qseq(8, be)     quarantine dedupe
//	"m/qseq"                              highest quarantine seq ever used
//	"p/" source name                      seq(8, be)      source position
//	"m/sealed"                            1               the log is sealed (seal.go)
//	"m/headfile"                          1               the log has a durable head record (head.go)
//	"k/" pseudonym                        wrapped data key  a new key carried until the
//	                                                        key store fsynced it (carry.go)
//
// Customer ids contain no 0x00 byte, so "c/" customer 0x00 is a prefix that
// holds exactly one customer's versions in order.
//
// A record is
//
//	+----------+------------------------------------------------------------+
//	| hash(32) | body                                                       |
//	+----------+------------------------------------------------------------+
//	body = format(1)=1 | seq(8) | version(8) | recorded_at unix ns(8, int64)
//	     | event time unix s(8, int64) | event time ns(4)
//	     | uvarint len | type | uvarint len | customer | uvarint len | id
//	     | raw event bytes (the rest of the value)
//
// (all integers big-endian) and
//
//	hash = SHA-256(previous record's hash || body)
//
// with 32 zero bytes as the hash before sequence 1. The hash covers
// everything in the value except itself, including the sequence, so a
// record moved, dropped, duplicated or altered breaks the chain at its
// sequence, and Verify names it. There is no separate head key: Open
// recovers the head (sequence and hash) from the last record.
//
// What the chain cannot show: a log cut back at its end (the last records
// and their index entries deleted) is a valid shorter chain. Auditors who
// need that guarantee keep the head hash that Verify reports (or Head)
// outside the log and compare it later.
//
// A sealed log (Options.Sealer, seal.go) stores records of format 2: the
// customer field is the customer's pseudonym (also in the c/ keys), and
// the raw bytes are the customer's own Sealer output of (uvarint-length
// customer id | event bytes), authenticated with the header's kind,
// pseudonym, id and event time. The hash covers these stored bytes, so
// Verify needs no keys. Forget appends a record of format 3 (plain, the
// pseudonym as customer, an ErasureNote as raw) after destroying the
// customer's key; their format-2 records then read as Erased.
//
// A source position ("p/", see AppendAt) is the sequence of the last
// message of an external ordered source (the ingester's JetStream stream)
// whose events are in the log; it is written only in the same batch as
// those events (or alone, SetPosition), so a crash leaves it and the log in
// agreement.
//
// A quarantine entry is format(1)=1 | received_at unix ns(8) | uvarint-length
// code, field, reason, origin | raw (the rest).
//
// # Concurrency and durability
//
// One writer goroutine owns sequence assignment, the head hash, a cache of
// customer versions and the idempotency checks. It drains the pending
// Append calls into one Pebble batch (up to Options.MaxBatchEvents events
// or 16 MiB) and hands it to a syncer goroutine, which applies it with one
// fsync (pebble.Sync), publishes the new durable head and completes the
// callers. One batch at a time is with the syncer; while it is being
// applied and fsynced, the writer merges the calls that arrive into the
// next batch, so under load many calls share one batch and one fsync, and
// the writer's work overlaps Pebble's. Ids of the batch in flight are
// checked from memory, the rest from the log's i/ index.
//
// Pebble makes an applied batch readable before its fsync completes, so
// every read (Scan, CustomerEvents, CustomerVersion, Get) stops at
// DurableSeq: nothing is observable before it is durable. When a commit
// fails, every caller of that batch and of later ones gets the error and
// the store refuses further appends (its in-memory state may be ahead of
// the log) until it is reopened.
//
// Pebble reports a failed WAL write or fsync through its logger's Fatalf
// (by default: exit the process). The store recovers it around its own
// commits: the batch's callers and every later Append get ErrFailed, and
// nothing of that batch is ever acknowledged or read. On-disk corruption
// found while reading is logged, not fatal; reads return the error and
// Verify names the sequence.
//
// Readers use their own Pebble iterators and never block the writer.
// Close waits for the writer to finish the call it has started and for
// running reads, then closes Pebble.
package eventstore
