// Package engine wires `journey serve`: the event store, the embedded or
// external NATS connection, stream and consumer provisioning, the ingest,
// the synchronous append, the live projections and the HTTP surface, and
// their orderly shutdown. cmd/journey maps its flags onto Config and calls
// Run.
//
// Shutdown order (ctx cancelled, e.g. SIGINT/SIGTERM): stop the HTTP
// server, stop taking synchronous appends and answer those in flight, stop
// fetching and finish the ingest batch in flight (fsync, acks), stop the
// projections, flush and close NATS (so the last acks reach the server),
// then close the views, the log and the embedded server. After a SIGKILL the
// next Run resumes from the consumer's unacked messages; the log's
// idempotent append absorbs those that were durable but not yet acked.
package engine
