package handlers

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedServerCheck is an IngestOptions.ServerCheck for a NATS server
// running in this process (journey serve's embedded one): it reports
// JetStream shut down (ProblemUnavailable), a stream that failed to write,
// typically its disk full, which the server then answers no publisher
// about (ProblemWriteError), and the server's max_file_store reached
// (ProblemStorageFull: publishers get "insufficient resources").
func EmbeddedServerCheck(srv *server.Server) func() (string, error) {
	return func() (string, error) {
		if !srv.JetStreamEnabled() {
			return ProblemUnavailable, errors.New("JetStream is shut down on the embedded NATS server")
		}
		h := srv.Healthz(&server.HealthzOptions{Details: true})
		for _, e := range h.Errors {
			if strings.Contains(e.Error, "write error") {
				return ProblemWriteError, errors.New(e.Error)
			}
		}
		jsz, err := srv.Jsz(&server.JSzOptions{})
		if err != nil {
			return ProblemUnavailable, fmt.Errorf("embedded JetStream: %w", err)
		}
		if max := jsz.Config.MaxStore; max > 0 && int64(jsz.Store) >= max {
			return ProblemStorageFull, fmt.Errorf("the embedded JetStream's storage is full: %d of its max_file_store %d bytes used", jsz.Store, max)
		}
		return "", nil
	}
}

// EmbeddedServerRepair is an IngestOptions.ServerRepair for a NATS server
// running in this process: once the file system of its JetStream store has
// at least minFree bytes available (where that can be measured), it shuts
// JetStream down and starts it again with the same configuration, which
// reloads the streams from disk and so clears a stream's write error (the
// server keeps it until then) or re-enables a JetStream that shut itself
// down. Messages the stream acknowledged are on disk and kept.
func EmbeddedServerRepair(srv *server.Server, minFree int64) func() error {
	var cfg server.JetStreamConfig
	if c := srv.JetStreamConfig(); c != nil {
		cfg = *c
	}
	// EnableJetStream appends "jetstream" to the store dir again.
	if filepath.Base(cfg.StoreDir) == server.JetStreamStoreDir {
		cfg.StoreDir = filepath.Dir(cfg.StoreDir)
	}
	return func() error {
		if cfg.StoreDir == "" {
			return errors.New("the embedded JetStream's configuration is unknown")
		}
		if free, ok := freeBytes(cfg.StoreDir); ok && free < minFree {
			return fmt.Errorf("%s has %d bytes free, fewer than %d: not restarting JetStream yet", cfg.StoreDir, free, minFree)
		}
		if srv.JetStreamEnabled() {
			if err := srv.ShutdownJetStream(); err != nil {
				return fmt.Errorf("shut JetStream down: %w", err)
			}
		}
		c := cfg
		if err := srv.EnableJetStream(&c); err != nil {
			return fmt.Errorf("restart JetStream: %w", err)
		}
		return nil
	}
}
