package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Result is one engine measurement beside its baseline, measured in the
// same run on the same events.
type Result struct {
	Bench              string  `json:"bench"`
	Events             int     `json:"events"`
	EventsPerS         float64 `json:"events_per_s"`
	MBPerS             float64 `json:"mb_per_s"`
	Baseline           string  `json:"baseline"`
	BaselineEventsPerS float64 `json:"baseline_events_per_s"`
	Ratio              float64 `json:"ratio"` // EventsPerS / BaselineEventsPerS
	// LatencyMS and BaselineLatencyMS are the median time of one operation
	// where the bench is about latency (a customer history read, an as-of
	// answer).
	LatencyMS         float64 `json:"latency_ms,omitempty"`
	BaselineLatencyMS float64 `json:"baseline_latency_ms,omitempty"`
	// CPUMicrosPerEvent and BaselineCPUMicrosPerEvent are the process's CPU
	// (every goroutine: Pebble's flushes and compactions too) per event in
	// the fastest round of each side, where the bench measures it.
	CPUMicrosPerEvent         float64 `json:"cpu_us_per_event,omitempty"`
	BaselineCPUMicrosPerEvent float64 `json:"baseline_cpu_us_per_event,omitempty"`
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// cpuTime is the process's user+system CPU time so far (every goroutine).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg reads the 1-minute load average (0 when unavailable).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.SplitN(string(b), " ", 2)[0], 64)
	return f
}

// resetPeakRSS resets the kernel's peak resident set size of the process
// (Linux: "5" to /proc/self/clear_refs); a no-op elsewhere.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMiB reads VmHWM from /proc/self/status (0 when unavailable).
func peakRSSMiB() float64 { return rssMiB("VmHWM:") }

// rssMiB reads a memory line of /proc/self/status (0 when unavailable).
func rssMiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// pebbleLogger is the Pebble logger of the databases the benchmarks open
// directly: informational lines dropped, errors on the configured logger, a
// fatal error a panic (Pebble's Fatalf must not return).
type pebbleLogger struct{ l *slog.Logger }

func (pebbleLogger) Infof(string, ...any) {}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic(msg)
}

// compactDir compacts the whole Pebble database in dir (closed), so that
// a measurement neither pays for nor races with the compactions that
// filling it left behind.
func compactDir(dir string, log *slog.Logger) error {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return err
	}
	err = db.Compact(context.Background(), []byte{0}, []byte{0xff}, true)
	return errors.Join(err, db.Close())
}
