package engine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/journey-cdp/journey/checkpoint"
	"github.com/journey-cdp/journey/eventstore"
)

// openCheckpoints loads (on the first start: makes) the signing key of
// the data dir and returns the Keeper that signs the log's head every
// cfg.CheckpointEvery and on GET /v1/checkpoint (issue 11).
func openCheckpoints(cfg Config, store *eventstore.Store, log *slog.Logger, clock func() time.Time) (*checkpoint.Keeper, error) {
	k, err := checkpoint.OpenKeeper(cfg.DataDir, store, checkpoint.KeeperOptions{Clock: clock, Logger: log.With("component", "checkpoint")})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	log.Info("checkpoint signing key", "public_key", k.Key().PublicText(), "every", checkpointEvery(cfg))
	return k, nil
}

// checkpointEvery is cfg.CheckpointEvery with its default; 0 means none.
func checkpointEvery(cfg Config) time.Duration {
	switch {
	case cfg.CheckpointEvery < 0:
		return 0
	case cfg.CheckpointEvery == 0:
		return checkpoint.DefaultEvery
	}
	return cfg.CheckpointEvery
}
