package engine

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/handlers/reactions"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// Reactions configures the process managers of handlers/reactions
// (thank-you, win-back, complaint escalation) that `journey serve` runs
// beside the views: they record their actions in the log and publish them
// on journey.actions.<kind>. Their database is <data>/reactions.
type Reactions struct {
	// Off runs no reactions (`journey serve --reactions=false`).
	Off bool
	// Config is the policies (zero: the defaults of REACTIONS.md).
	Config reactions.Config
	// SweepEvery is the sweeper's period (0: 1 minute).
	SweepEvery time.Duration
}

// openReactions opens the reactions of dataDir; nil when they are off or
// there are no views to decide from.
func openReactions(cfg Reactions, dataDir string, store *eventstore.Store, views *projections.Views, js jetstream.JetStream,
	proj *customer.Config, clock func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*reactions.Reactor, error) {
	if cfg.Off || views == nil {
		return nil, nil
	}
	r, err := reactions.Open(reactions.Options{Store: store, Views: views, JetStream: js, Dir: filepath.Join(dataDir, "reactions"),
		Config: cfg.Config, Projections: proj, Clock: clock, Logger: log, Registerer: reg, SweepEvery: cfg.SweepEvery})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return r, nil
}
