// Package cli holds what the journey binary's subcommands share: resolving
// the data directory (--data, $JOURNEY_DATA, ./data), opening the log with
// a clear error when a running server holds it, parsing --as-of instants,
// JSON output and progress bars that show only on a terminal.
//
// It reads no flags and no environment of its own accord: cmd/journey
// passes what it parsed.
package cli
