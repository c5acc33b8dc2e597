package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/internal/bench"
	"github.com/spf13/cobra"
)

// benchRow is the common part of every measurement (each bench's JSON
// line embeds it), read back for the human table.
type benchRow = bench.Result

type benchFlags struct {
	events     int
	dir        string
	noSync     bool
	cpuProfile string
	requests   int
	batch      int
	customers  int
}

func (a *app) benchCommand() *cobra.Command {
	var bf benchFlags
	bc := &cobra.Command{
		Use:   "bench store|ingest|append|rebuild|asof|sweep|web [--events N] [--json]",
		Short: "Measure the engine beside a raw baseline on the same events, in one run",
		Long: `bench measures a part of the engine and, in the same run on the same events, the
baseline it is compared with; --json prints one object per measurement:
{"bench","events","events_per_s","baseline","baseline_events_per_s","ratio",…}.

  store    Append in batches of 1,000 vs a raw synced Pebble batch of the same
           bytes (three keys per event, shaped like the log's); 64 concurrent
           single-event appenders vs 64 raw synced commits; full scan vs raw
           iteration; a 1,000-event customer history
  ingest   end to end: journey publish → JetStream → ingest → durable log → ack,
           beside JetStream publish alone, raw Pebble append, the engine
           draining a filled stream, and issue 3's bare pipeline draining one
           (fetch 1,000, encoding/json, Pebble batch with index keys, fsync,
           ack; no validation, no hash chain, one stage)
  append   the synchronous append at 64 concurrent clients, each sending one
           event and waiting for the reply that follows its fsync: over NATS
           (journey.append) and HTTP (POST /v1/events) against a running engine
           (encrypted log, the default), and over NATS against a plaintext one,
           beside 64 raw Pebble writers each committing one synced event;
           --events (default 30,000), p50_ms, p99_ms, cpu_us_per_event (the
           whole process: engine, NATS server and clients); and the same
           clients against a responder that answers at once (NATS, HTTP): what
           the transport alone reaches here (transport_ratio)
  rebuild  journey rebuild of the views vs a raw Pebble scan of the same log;
           and rebuild-encrypted: the same events in an encrypted log (each
           customer's sealed under their own key) rebuilt vs the plaintext
           log's rebuild, in the same rounds
  asof     one customer's answer as of a past instant (journey customer --as-of,
           HTTP, NATS) for a 1,000-event customer in a population of --events
           (default 50,000), --requests times (default 1,000) at 8 instants, vs
           reading that customer's history alone; p50_ms, p99_ms, and cold_ms
           (the first answer at a new instant: its population snapshot)
  sweep    the reactions' sweeper over --customers (default 1,000,000) lapsed
           buyers all due (a win-back with its report each), from the due index
           seeded from the views, vs reading every customer's answer; seconds,
           cpu_us_per_customer (an unpaced sweep), and the ingest's synced
           append rate alone and while a second sweep runs at the engine's
           default share of a core (ingest_ratio, sweep_share, paced_seconds)
  web      the web page over real HTTP: --requests GETs (default 1,000) of a
           1,000-event customer's page and of the dashboard over --customers
           (default 100,000; three events each on average), mean_ms, p99_ms
           against the budgets (50 ms, 300 ms); the dashboard beside one pass
           over the customers (what each request cost before the overview was
           kept), with the keeper's passes during the requests (0)

The files go under --dir (default: a fresh directory in the current one, so on
the disk you run from), removed afterwards.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	pf := bc.PersistentFlags()
	pf.IntVar(&bf.events, "events", 0, "events to measure on (default 200,000)")
	pf.StringVar(&bf.dir, "dir", "", "directory for the benchmark's databases (default ./.journey-bench-*)")
	pf.BoolVar(&bf.noSync, "nosync", false, "store: skip fsync on both sides (not the product's setting)")
	pf.StringVar(&bf.cpuProfile, "cpuprofile", "", "ingest: write a CPU profile of the end-to-end run to this file; append: of the whole run")
	pf.IntVar(&bf.batch, "batch", 0, "ingest: events per message of the batched end-to-end run (default 100)")
	pf.IntVar(&bf.requests, "requests", 1000, "asof: answers to time")
	pf.IntVar(&bf.customers, "customers", 0, "sweep: customers in the due index (default 1,000,000); web: customers in the views (default 100,000)")
	for _, name := range []string{"store", "ingest", "append", "rebuild", "asof", "sweep", "web"} {
		bc.AddCommand(&cobra.Command{
			Use:   name,
			Short: "Run the " + name + " benchmark",
			Args:  noArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return a.runBench(cmd.Context(), name, bf) },
		})
	}
	return bc
}

func (a *app) runBench(ctx context.Context, name string, bf benchFlags) error {
	if bf.events < 0 {
		return usageErrorf("--events must be positive")
	}
	dir := bf.dir
	if dir == "" {
		d, err := os.MkdirTemp(".", ".journey-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	events := bf.events
	if events == 0 {
		events = 200_000
		if name == "asof" {
			events = 50_000
		}
		if name == "append" {
			events = 30_000
		}
	}
	if bf.requests <= 0 {
		return usageErrorf("--requests must be positive")
	}
	if bf.customers < 0 {
		return usageErrorf("--customers must be positive")
	}
	if !a.jsonOut {
		if name == "web" {
			fmt.Fprintf(a.stderr, "bench web: %d customers under %s …\n", cmp.Or(bf.customers, 100_000), dir)
		} else if name == "sweep" {
			n := bf.customers
			if n == 0 {
				n = 1_000_000
			}
			fmt.Fprintf(a.stderr, "bench sweep: %d customers under %s …\n", n, dir)
		} else {
			fmt.Fprintf(a.stderr, "bench %s: %d events under %s …\n", name, events, dir)
		}
	}
	var results []any
	switch name {
	case "store":
		rs, err := bench.Store(ctx, dir, bench.StoreConfig{Events: events, NoSync: bf.noSync, Logger: a.logger()})
		if err != nil {
			return err
		}
		results = anys(rs)
	case "ingest":
		cfg := bench.IngestConfig{Events: events, Dir: dir, Logger: a.logger(), Batch: bf.batch}
		if bf.cpuProfile != "" {
			f, err := os.Create(bf.cpuProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			cfg.Profile = func(start bool) {
				if start {
					_ = pprof.StartCPUProfile(f)
				} else {
					pprof.StopCPUProfile()
				}
			}
		}
		rs, err := bench.Ingest(ctx, cfg)
		if err != nil {
			return err
		}
		results = anys(rs)
	case "append":
		if bf.cpuProfile != "" {
			f, err := os.Create(bf.cpuProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		rs, err := bench.SyncAppend(ctx, bench.AppendConfig{Events: events, Dir: dir, Logger: a.logger()})
		if err != nil {
			return err
		}
		if !a.jsonOut {
			a.printAppend(rs)
			return nil
		}
		results = anys(rs)
	case "rebuild":
		rs, err := bench.Rebuild(ctx, dir, events, &bench.Options{Logger: a.logger()})
		if err != nil {
			return err
		}
		results = anys(rs)
	case "asof":
		rs, err := bench.AsOf(ctx, dir, events, bf.requests, &bench.Options{Logger: a.logger()})
		if err != nil {
			return err
		}
		results = anys(rs)
	case "sweep":
		rs, err := bench.Sweep(ctx, dir, bench.SweepConfig{Customers: bf.customers, Logger: a.logger()})
		if err != nil {
			return err
		}
		results = anys(rs)
	case "web":
		rs, err := bench.Web(ctx, dir, bench.WebConfig{Customers: bf.customers, Requests: bf.requests, Logger: a.logger()})
		if err != nil {
			return err
		}
		if !a.jsonOut {
			a.printWeb(rs)
			return nil
		}
		results = anys(rs)
	}
	return a.printBench(results)
}

// printAppend prints bench append's table.
func (a *app) printAppend(rs []bench.AppendResult) {
	a.printf("%-22s %7s %9s %10s %8s %8s %8s   %-52s %10s %8s %8s %6s   %-16s %10s %8s %6s\n", "bench", "writers", "events", "events/s", "p50_ms", "p99_ms", "cpu_us",
		"baseline", "events/s", "p50_ms", "p99_ms", "ratio", "transport alone", "events/s", "p50_ms", "ratio")
	for _, r := range rs {
		tr := "nats echo"
		if r.Bench == "append-http" {
			tr = "http echo"
		}
		a.printf("%-22s %7d %9d %10.0f %8.2f %8.2f %8.1f   %-52s %10.0f %8.2f %8.2f %6.2f   %-16s %10.0f %8.2f %6.2f\n", r.Bench, r.Writers, r.Events, r.EventsPerS,
			r.P50MS, r.P99MS, r.CPUMicrosPerEvent, r.Baseline, r.BaselineEventsPerS, r.BaselineP50MS, r.BaselineP99MS, r.Ratio,
			tr, r.TransportEventsPerS, r.TransportP50MS, r.TransportRatio)
	}
}

// printWeb prints bench web's table: each page's latency against its
// budget.
func (a *app) printWeb(rs []bench.WebResult) {
	a.printf("%-10s %9s %9s %9s %9s %9s %10s %-7s %8s   %s\n", "page", "customers", "requests", "mean_ms", "p50_ms", "p99_ms", "budget_ms", "p99", "bytes", "baseline")
	for _, r := range rs {
		ok := "within"
		if !r.WithinP99 {
			ok = "OVER"
		}
		a.printf("%-10s %9d %9d %9.2f %9.2f %9.2f %10.0f %-7s %8d   %s: %.2f ms", r.Page, r.Customers, r.Requests, r.MeanMS, r.LatencyMS, r.P99MS,
			r.BudgetMS, ok, r.Bytes, r.Baseline, r.BaselineLatencyMS)
		if r.Page == "dashboard" {
			a.printf("; keeper passes during the requests %d, first pass %.0f ms", r.Passes, r.FirstPassMS)
		}
		a.printf(" (load %.1f)\n", r.Load1)
	}
}

func anys[T any](rs []T) []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

// printBench prints each measurement as a JSON line, or a table.
func (a *app) printBench(results []any) error {
	if a.jsonOut {
		for _, r := range results {
			if err := a.printJSON(r); err != nil {
				return err
			}
		}
		return nil
	}
	a.printf("%-22s %9s %14s %9s   %-52s %14s %7s\n", "bench", "events", "events/s", "MB/s", "baseline", "events/s", "ratio")
	for _, r := range results {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		var row benchRow
		if err := json.Unmarshal(b, &row); err != nil {
			return err
		}
		mbps := "-"
		if row.MBPerS > 0 {
			mbps = fmt.Sprintf("%.1f", row.MBPerS)
		}
		a.printf("%-22s %9d %14.0f %9s   %-52s %14.0f %7.2f", row.Bench, row.Events, row.EventsPerS, mbps, row.Baseline, row.BaselineEventsPerS, row.Ratio)
		if row.LatencyMS > 0 {
			a.printf("   (%.2f ms vs %.2f ms)", row.LatencyMS, row.BaselineLatencyMS)
		}
		if row.CPUMicrosPerEvent > 0 {
			a.printf("   (CPU %.1f vs %.1f µs/event)", row.CPUMicrosPerEvent, row.BaselineCPUMicrosPerEvent)
		}
		a.printf("\n")
	}
	return nil
}
