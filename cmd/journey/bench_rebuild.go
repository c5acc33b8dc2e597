package main

import (
	"context"

	"github.com/journey-cdp/journey/projections"
)

func init() {
	benchRebuild = func(ctx context.Context, a *app, dir string, events int) ([]any, error) {
		rs, err := projections.BenchRebuild(ctx, dir, events, &projections.BenchOptions{Logger: a.logger()})
		if err != nil {
			return nil, err
		}
		out := make([]any, len(rs))
		for i, r := range rs {
			out[i] = r
		}
		return out, nil
	}
}
