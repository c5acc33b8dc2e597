// Package bench holds the measurements `journey bench store|ingest|rebuild|asof`
// prints, and their `go test -bench` wrappers. Each measures a part of the
// engine beside a baseline measured in the same run on the same events, so
// the ratio says what the engine's work costs on this machine, now:
//
//   - Store: eventstore's Append, Scan and CustomerEvents beside raw Pebble
//     writing and reading the same bytes;
//   - Ingest: JSONL published to JetStream, ingested, durable and acked,
//     beside JetStream publish alone, raw Pebble appends, the engine
//     draining a filled stream and a bare one-stage pipeline;
//   - Rebuild: a full rebuild of the views beside a raw Pebble scan of the
//     same log's records;
//   - AsOf: one customer's answer as of past instants beside reading that
//     customer's history from the log.
//
// Events and Generate are the one synthetic-event generator of the
// benchmarks and tests (internal/simulate is the realistic one: journeys
// of a population over time, with late tills and invalid variants).
//
// The library packages know nothing of this package: it uses their public
// APIs only. The raw-Pebble baselines of Store and Ingest write keys of
// their own (three per event, shaped like the log's) so that raw Pebble
// writes the same bytes; that layout is the baseline's, not the log's,
// which only eventstore writes.
package bench
