package bench

import (
	"context"
	"encoding/json"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
)

// TestIngest runs the whole measurement on a few events: every result
// is shaped as `journey bench` prints it.
func TestIngest(t *testing.T) {
	dir := t.TempDir()
	res, err := Ingest(context.Background(), IngestConfig{Events: 3000, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// A second run in the same directory starts from nothing: it used to
	// find the first run's log and report the end-to-end run as done in
	// well under a millisecond.
	again, err := Ingest(context.Background(), IngestConfig{Events: 3000, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Seconds < 1e-3 || again[0].Seconds > 100*res[0].Seconds {
		t.Fatalf("second run took %.6fs end to end, first %.6fs", again[0].Seconds, res[0].Seconds)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the bench left %d entries in its directory", len(left))
	}
	if len(res) != 5 {
		t.Fatalf("%d results, want 5", len(res))
	}
	for i, r := range res {
		if want := []string{"jetstream_publish", "pebble_raw_append", "engine_consume_only", "bare_pipeline_consume", "jetstream_publish"}[i]; r.Baseline != want {
			t.Fatalf("result %d is beside %q, want %q", i, r.Baseline, want)
		}
		if want := []string{"ingest", "ingest", "ingest", "ingest", "ingest_batch100"}[i]; r.Bench != want || r.Events != 3000 || r.EventsPerS <= 0 || r.BaselineEventsPerS <= 0 || r.BaselineCPUMicrosPerEvent <= 0 {
			t.Fatalf("result %+v", r)
		}
		b, _ := json.Marshal(r)
		t.Logf("%s", b)
	}
}

// BenchmarkIngest measures end to end (and both baselines) once per
// iteration; -benchtime=1x is enough. JOURNEY_INGEST_CPUPROFILE=file
// profiles the end-to-end part only; JOURNEY_INGEST_BATCH=N sets the batch
// size and JOURNEY_INGEST_TCP=1 connects the engine over TCP.
func BenchmarkIngest(b *testing.B) {
	n := 200000
	prof := os.Getenv("JOURNEY_INGEST_CPUPROFILE")
	for b.Loop() {
		cfg := IngestConfig{Events: n, Dir: b.TempDir(), EngineTCP: os.Getenv("JOURNEY_INGEST_TCP") != ""}
		if v, err := strconv.Atoi(os.Getenv("JOURNEY_INGEST_BATCH")); err == nil {
			cfg.BatchSize = v
		}
		if prof != "" {
			cfg.Profile = func(start bool) {
				if start {
					f, err := os.Create(prof)
					if err != nil {
						b.Fatal(err)
					}
					if err := pprof.StartCPUProfile(f); err != nil {
						b.Fatal(err)
					}
					return
				}
				pprof.StopCPUProfile()
			}
		}
		res, err := Ingest(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res[0].EventsPerS, "e2e_events/s")
		b.ReportMetric(res[0].BaselineEventsPerS, "publish_events/s")
		b.ReportMetric(res[1].BaselineEventsPerS, "pebble_events/s")
		b.ReportMetric(res[0].CPUMicrosPerEvent, "e2e_cpu_us/event")
		b.ReportMetric(res[0].BaselineCPUMicrosPerEvent, "publish_cpu_us/event")
		for _, r := range res {
			j, _ := json.Marshal(r)
			b.Logf("%s", j)
		}
	}
}
