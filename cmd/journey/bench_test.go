package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestBenchJSONShape runs every `journey bench … --json` small and checks
// that each line it prints has exactly the fields, in order, that the
// measurements have always printed (scripts read them).
func TestBenchJSONShape(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	common := []string{"bench", "events", "events_per_s", "mb_per_s", "baseline", "baseline_events_per_s", "ratio", "latency_ms", "baseline_latency_ms", "cpu_us_per_event", "baseline_cpu_us_per_event"}
	for _, c := range []struct {
		args     []string
		benches  []string // the rows' "bench", in order
		optional []string // rows that may follow them (the sealed-log store rows)
		keys     []string
	}{
		{[]string{"store", "--events", "2000", "--nosync"}, []string{"append-batch-1000", "append-concurrent-64", "scan", "history-1000"}, []string{"append-batch-1000-encrypted", "scan-encrypted"}, common},
		{[]string{"ingest", "--events", "2000"}, []string{"ingest", "ingest", "ingest", "ingest", "ingest_batch100"}, nil, []string{"bench", "events", "events_per_s", "baseline", "baseline_events_per_s", "ratio", "seconds", "cpu_us_per_event", "baseline_cpu_us_per_event"}},
		{[]string{"rebuild", "--events", "3000"}, []string{"rebuild", "rebuild-encrypted"}, nil, append(common[:len(common):len(common)], "customers", "refolded", "rounds", "workers", "deferred_mib", "first_pass_s", "late_pass_s", "finish_s", "peak_rss_mib", "rss_before_mib")},
		{[]string{"asof", "--events", "2000", "--requests", "20"}, []string{"asof"}, nil, append(common[:len(common):len(common)], "log_events", "customers", "instants", "requests", "p50_ms", "p99_ms", "baseline_p99_ms", "cold_ms", "cold_max_ms", "cpu_ms", "load_avg", "records_read")},
		{[]string{"sweep", "--customers", "2000"}, []string{"sweep"}, nil, append(common[:len(common):len(common)], "customers", "swept", "sweeps", "winbacks", "seconds", "cpu_us_per_customer", "ingest_events_per_s", "ingest_during_sweep_events_per_s", "ingest_ratio", "sweep_share", "paced_seconds", "fill_s", "log_s", "views_s", "seed_s")},
		{[]string{"append", "--events", "300"}, []string{"append-nats", "append-http", "append-nats-plaintext"}, nil, []string{"bench", "events", "writers", "encrypted", "events_per_s", "p50_ms", "p99_ms", "cpu_us_per_event", "baseline", "baseline_events_per_s", "baseline_p50_ms", "baseline_p99_ms", "ratio", "transport_events_per_s", "transport_p50_ms", "transport_ratio", "load_avg"}},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			out := mustRun(t, nil, append([]string{"bench", "--json", "--dir", t.TempDir()}, c.args...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) < len(c.benches) || len(lines) > len(c.benches)+len(c.optional) {
				t.Fatalf("%d lines, want %d (+ up to %d optional):\n%s", len(lines), len(c.benches), len(c.optional), out)
			}
			want := append(c.benches[:len(c.benches):len(c.benches)], c.optional[:len(lines)-len(c.benches)]...)
			for i, line := range lines {
				keys, err := jsonKeys([]byte(line))
				if err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				if !reflect.DeepEqual(keys, c.keys) {
					t.Fatalf("fields %v\nwant   %v", keys, c.keys)
				}
				var r benchRow
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatal(err)
				}
				if r.Bench == "" || r.Events <= 0 || !(r.EventsPerS > 0) || !(r.BaselineEventsPerS > 0) || r.Baseline == "" {
					t.Fatalf("incomplete measurement %s", line)
				}
				if r.Bench != want[i] {
					t.Fatalf("row %d is bench %q, want %q: %s", i, r.Bench, want[i], line)
				}
			}
		})
	}
}

// jsonKeys returns the top-level keys of a JSON object, in order.
func jsonKeys(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
