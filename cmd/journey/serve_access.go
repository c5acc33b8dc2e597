package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/journey-cdp/journey/internal/engine"
)

// addAccessFlags gives serve --access-log-retention, how long the access
// log (kept with access control: every read of one customer's data by a
// named token) keeps its entries, checked before serve starts.
func (a *app) addAccessFlags(cmd *cobra.Command, cfg *engine.Config) {
	var retention string
	cmd.Flags().StringVar(&retention, "access-log-retention", "400d", "how long the access log keeps its entries: days (400d) or a duration (720h)")
	addPreRun(cmd, func(cmd *cobra.Command) error {
		d, err := parseRetention(retention)
		if err != nil {
			return err
		}
		cfg.AccessLogRetention = d
		return nil
	})
}

// parseRetention parses --access-log-retention: a number of days ("400d")
// or a positive Go duration ("720h"), at least one hour.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil && n > 0 && n <= 36500 {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Hour {
		return 0, usageErrorf("--access-log-retention %q: want a number of days from 1 to 36500 (400d) or a duration of at least 1h (720h)", s)
	}
	return d, nil
}
