// Package handlers connects the event store to the outside world: the
// JetStream ingest (pull consumer → decode and validate → one Append and
// one fsync per batch → ack), the synchronous append over NATS
// request/reply and HTTP, the publisher behind `journey publish`, and the
// operator surface (health, readiness, Prometheus metrics, query reads).
//
// # Acknowledgement rule
//
// Nothing is acknowledged before it is durable: a JetStream message is
// acked only after the Append that holds it has returned, and Append
// returns only after its fsync; the synchronous reply is sent at the same
// point. An invalid message is acked (AckTerm) only after its quarantine
// entry is fsynced. A store error naks with a growing delay and never
// acks; a failed store (closed, or a commit failed) stops the ingester.
// See DURABILITY.md.
//
// # Concurrency
//
// An Ingester runs four stages: the NATS client's delivery goroutine, a
// batcher that decodes and cuts batches while the appender is busy, the
// appender (the goroutine of Run), the only one that appends, so stream
// order is log order, and an acker that acks, quarantines and naks after
// each Append. The synchronous append serves each
// request on its own goroutine (bounded), so concurrent requests share the
// store's group commits.
package handlers
