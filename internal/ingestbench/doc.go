// Package ingestbench measures the engine's ingest end to end — JSONL
// published to JetStream, decoded, validated, appended with the hash chain
// and indexes, fsynced and acked — beside its two baselines measured in the
// same run on the same events: JetStream publish alone, and raw Pebble
// appends. `journey bench ingest` prints its results.
package ingestbench
