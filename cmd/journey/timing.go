package main

import (
	"fmt"
	"math"
	"time"
)

// timing is the duration and rate that end a long command's summary
// (import, publish, rebuild, verify, export); in --json the fields
// duration_s and events_per_s.
type timing struct {
	DurationS  float64 `json:"duration_s"`
	EventsPerS float64 `json:"events_per_s"`
}

// timed is the timing of n events since start, on the app's clock.
func (a *app) timed(start time.Time, n uint64) timing {
	d := a.now().Sub(start)
	t := timing{DurationS: round3(d.Seconds())}
	if d > 0 {
		t.EventsPerS = math.Round(float64(n) / d.Seconds())
	}
	return t
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// String is the human summary's ending: "in 1.234s (56789 events/s)".
func (t timing) String() string {
	d := time.Duration(t.DurationS * float64(time.Second)).Round(time.Millisecond)
	return fmt.Sprintf("in %s (%.0f events/s)", d, t.EventsPerS)
}
