package main

import (
	"github.com/spf13/cobra"

	"github.com/journey-cdp/journey/internal/engine"
)

// addCheckpointFlags gives serve --checkpoint-every: how often the engine
// signs the head of its log (journey checkpoint, verify --since).
func addCheckpointFlags(cmd *cobra.Command, cfg *engine.Config) {
	cmd.Flags().DurationVar(&cfg.CheckpointEvery, "checkpoint-every", 0,
		"sign the head of the log this often, kept in DATA/checkpoint (0: 15m; negative: only on demand, GET /v1/checkpoint)")
}
