package simulate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	journey "github.com/journey-cdp/journey"
)

func generate(t testing.TB, cfg Config) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Run(context.Background(), &buf, cfg)
	if err != nil {
		t.Fatalf("Run(%+v): %v", cfg, err)
	}
	return buf.Bytes(), st
}

func lines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

// now is a clock after every simulated event, so that none is "in the future".
func now(cfg Config) time.Time { return cfg.End().Add(time.Hour) }

func TestSameSeedSameBytes(t *testing.T) {
	cfg := Config{Customers: 300, Days: 120, Seed: 7}
	a, _ := generate(t, cfg)
	b, _ := generate(t, cfg)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with the same seed differ")
	}
	cfg.Seed = 8
	c, _ := generate(t, cfg)
	if bytes.Equal(a, c) {
		t.Fatal("seeds 7 and 8 gave the same output")
	}
}

func TestEveryEventDecodesAndEveryKindOccurs(t *testing.T) {
	cfg := Config{Customers: 500, Days: 180, Seed: 1}
	out, st := generate(t, cfg)
	ls := lines(out)
	if got, want := len(ls), st.Events; got != want {
		t.Fatalf("wrote %d lines, stats say %d", got, want)
	}
	if st.Customers != cfg.Customers {
		t.Fatalf("Stats.Customers=%d, want %d", st.Customers, cfg.Customers)
	}
	kinds := map[journey.Kind]int{}
	ids := map[string]bool{}
	subjects := map[string]bool{}
	var referred []string
	for i, l := range ls {
		ev, err := journey.Decode(l, now(cfg))
		if err != nil {
			t.Fatalf("line %d does not decode: %v\n%s", i+1, err, l)
		}
		if ids[ev.ID] {
			t.Fatalf("line %d: id %s used twice", i+1, ev.ID)
		}
		ids[ev.ID] = true
		subjects[ev.Subject] = true
		kinds[ev.Type]++
		if ev.Type == journey.KindReferral {
			referred = append(referred, ev.Data.Referred)
		}
		if ev.Time.Before(cfg.start()) || ev.Time.After(cfg.End()) {
			t.Fatalf("line %d: time %v outside the period", i+1, ev.Time)
		}
	}
	for _, k := range journey.Kinds() {
		if kinds[k] == 0 {
			t.Errorf("no %s event in %d events", k, len(ls))
		}
	}
	if len(subjects) != cfg.Customers {
		t.Errorf("%d distinct customers, want %d", len(subjects), cfg.Customers)
	}
	for _, r := range referred {
		if !subjects[r] {
			t.Errorf("referral to %s, who never appears", r)
		}
	}
}

// TestLateEventsArriveOutOfOrder checks that offline tills produce events
// written after events with a later time, and that only they do: the stream
// is otherwise in arrival = time order.
func TestLateEventsArriveOutOfOrder(t *testing.T) {
	cfg := Config{Customers: 400, Days: 90, Seed: 3}
	out, st := generate(t, cfg)
	if st.Late == 0 {
		t.Fatal("no late events")
	}
	var maxSeen time.Time
	late := 0
	for _, l := range lines(out) {
		var env struct {
			Time   time.Time `json:"time"`
			Source string    `json:"source"`
		}
		if err := json.Unmarshal(l, &env); err != nil {
			t.Fatal(err)
		}
		if env.Time.Before(maxSeen.Add(-time.Minute)) {
			late++
			if env.Source[:4] != "pos/" {
				t.Errorf("out-of-order event from %s, only tills should be late: %s", env.Source, l)
			}
		}
		if env.Time.After(maxSeen) {
			maxSeen = env.Time
		}
	}
	if late == 0 {
		t.Fatalf("stats say %d late events, but every event arrived in time order", st.Late)
	}
}

func TestInvalidRate(t *testing.T) {
	cfg := Config{Customers: 300, Days: 60, Seed: 5, InvalidRate: 0.1}
	out, st := generate(t, cfg)
	bad := 0
	codes := map[journey.Code]bool{}
	for _, l := range lines(out) {
		if _, err := journey.Decode(l, now(cfg)); err != nil {
			var je *journey.Error
			if !errors.As(err, &je) {
				t.Fatalf("Decode error %v is not a *journey.Error", err)
			}
			codes[je.Code] = true
			bad++
		}
	}
	if bad != st.Invalid {
		t.Fatalf("%d lines fail to decode, stats say %d invalid", bad, st.Invalid)
	}
	if frac := float64(bad) / float64(st.Events); frac < 0.05 || frac > 0.15 {
		t.Fatalf("invalid fraction %.3f, want about 0.1", frac)
	}
	if len(codes) < 3 {
		t.Errorf("only codes %v among invalid events", codes)
	}
}

func TestValidate(t *testing.T) {
	for _, cfg := range []Config{{Customers: 0, Days: 1}, {Customers: 1, Days: 0}, {Customers: 1, Days: 1, InvalidRate: 2}} {
		if _, err := Run(context.Background(), &bytes.Buffer{}, cfg); err == nil {
			t.Errorf("Run(%+v) accepted an invalid config", cfg)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, &bytes.Buffer{}, Config{Customers: 100000, Days: 365, Seed: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run on a cancelled context: %v, want context.Canceled", err)
	}
}

func BenchmarkRun(b *testing.B) {
	var n int
	for b.Loop() {
		st, err := Run(context.Background(), discard{}, Config{Customers: 2000, Days: 365, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		n += st.Events
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
