package customer

import (
	"bufio"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// foldCase is one case of testdata/fold/*.txt: a journey in, the expected
// answer out (see the header of stages.txt for the format).
type foldCase struct {
	name, file string
	line       int
	asOf       time.Time
	cfg        *Config
	pop        *Population
	events     []string
	referredBy []string
	expect     map[string]string
}

func readFoldCases(t *testing.T) []*foldCase {
	t.Helper()
	files, err := filepath.Glob("testdata/fold/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/fold/*.txt: %v", err)
	}
	var cases []*foldCase
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		var c *foldCase
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			word, rest, _ := strings.Cut(line, " ")
			if word == "case" {
				c = &foldCase{name: rest, file: filepath.Base(path), line: n, asOf: mustTime(t, "2024-07-01")}
				cases = append(cases, c)
				continue
			}
			if c == nil {
				t.Fatalf("%s:%d: %q before the first case", path, n, line)
			}
			switch word {
			case "as_of":
				c.asOf = mustTime(t, rest)
			case "pop":
				days, err := strconv.ParseFloat(strings.TrimPrefix(rest, "median_gap_days="), 64)
				if err != nil {
					t.Fatalf("%s:%d: %v", path, n, err)
				}
				c.pop = &Population{MedianGap: time.Duration(days * 24 * float64(time.Hour))}
			case "config":
				c.cfg = &Config{HomeCountry: strings.TrimPrefix(rest, "home_country=")}
			case "referred_by":
				c.referredBy = append(c.referredBy, rest)
			case "expect":
				c.expect = map[string]string{}
				for _, kv := range strings.Fields(rest) {
					k, v, _ := strings.Cut(kv, "=")
					c.expect[k] = v
				}
			default:
				c.events = append(c.events, line)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return cases
}

// withDefaults fills the data fields a test line leaves out.
func withDefaults(line string) string {
	f := strings.Fields(line)
	has := func(k string) bool {
		return slices.ContainsFunc(f[2:], func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
	}
	def := func(k, v string) {
		if !has(k) {
			f = append(f, k+"="+v)
		}
	}
	switch f[1] {
	case "visit":
		def("channel", "store")
	case "purchase":
		def("order_id", "o-"+f[0])
		def("amount", "10.00")
		def("currency", "GBP")
	case "profile":
		def("kind", "individual")
	}
	return strings.Join(f, " ")
}

func (c *foldCase) run(t *testing.T) *Answer {
	t.Helper()
	var evs []foldEvent
	for i, line := range c.events {
		evs = append(evs, parseEventLine(t, "cust", uint64(i+1), withDefaults(line)))
	}
	sortFold(evs)
	s := fold("cust", evs)
	for _, r := range c.referredBy {
		who, at, _ := strings.Cut(r, " ")
		s.MarkReferred(who, mustTime(t, at), 1)
	}
	return c.cfg.Derive(s, c.asOf, c.pop)
}

func splitList(v string) []string {
	if v == "" {
		return []string{}
	}
	return strings.Split(v, ",")
}

func TestFoldGolden(t *testing.T) {
	cases := readFoldCases(t)
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".txt")+"/"+c.name, func(t *testing.T) {
			if c.expect == nil {
				t.Fatalf("%s:%d: no expect line", c.file, c.line)
			}
			cu := c.run(t)
			for k, want := range c.expect {
				var got string
				switch k {
				case "stage":
					got = cu.Stage
					seen["stage:"+got] = true
				case "highest":
					got = cu.HighestStage
				case "churn":
					got = cu.Churn
				case "flags":
					if !slices.Equal(cu.Flags, splitList(want)) {
						t.Errorf("%s:%d: flags %v, want %v", c.file, c.line, cu.Flags, splitList(want))
					}
					for _, f := range cu.Flags {
						seen["flag:"+f] = true
					}
					continue
				case "types":
					if !slices.Equal(cu.Types, splitList(want)) {
						t.Errorf("%s:%d: types %v, want %v", c.file, c.line, cu.Types, splitList(want))
					}
					for _, ty := range cu.Types {
						seen["type:"+ty] = true
					}
					continue
				case "satisfaction":
					w, _ := strconv.ParseFloat(want, 64)
					if math.Abs(cu.Satisfaction-w) > 0.001 {
						t.Errorf("%s:%d: satisfaction %.4f, want %s", c.file, c.line, cu.Satisfaction, want)
					}
					continue
				default:
					t.Fatalf("%s:%d: unknown expect key %q", c.file, c.line, k)
				}
				if got != want {
					t.Errorf("%s:%d: %s %q, want %q", c.file, c.line, k, got, want)
				}
			}
		})
	}
	// Every stage, flag and type has at least one example.
	for _, st := range Stages() {
		if !seen["stage:"+st] {
			t.Errorf("no golden case with stage %s", st)
		}
	}
	for _, f := range []string{FlagAdvocate, FlagDetractor} {
		if !seen["flag:"+f] {
			t.Errorf("no golden case with flag %s", f)
		}
	}
	for _, ty := range Types() {
		if !seen["type:"+ty] {
			t.Errorf("no golden case with type %s", ty)
		}
	}
}

// TestCustomerJSON: the answer marshals to clean JSON (no zero times, no
// Go-only values) that reads back.
func TestCustomerJSON(t *testing.T) {
	for _, c := range readFoldCases(t) {
		if c.name != "loyal" {
			continue
		}
		cu := c.run(t)
		b, err := json.Marshal(cu)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "0001-01-01") {
			t.Errorf("zero time in JSON: %s", b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		st, _ := m["state"].(map[string]any)
		if m["stage"] != "loyal" || st["customer"] != "cust" || st["purchases"] != 4.0 {
			t.Errorf("JSON lacks the answer: %s", b)
		}
		// Money as events carry it: a decimal string per currency.
		if rev, _ := st["revenue"].(map[string]any); rev["GBP"] != "40.00" || len(rev) != 1 {
			t.Errorf("revenue in JSON = %v, want {GBP: \"40.00\"}", st["revenue"])
		}
		var back Answer
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(back.State.Revenue, cu.State.Revenue) {
			t.Errorf("revenue read back %v, want %v", back.State.Revenue, cu.State.Revenue)
		}
		return
	}
	t.Fatal("no loyal case")
}

// TestEverLoyalMatchesBruteForce: the highest-stage walk agrees with
// evaluating the loyal rule at every signal instant from scratch.
func TestEverLoyalMatchesBruteForce(t *testing.T) {
	sc := DefaultSatisfaction()
	rngJourneys := 0
	for seed := range uint64(60) {
		rng := newRand(seed)
		evs := randomJourney(t, rng, "l", 3+rng.IntN(60))
		sortFold(evs)
		s := fold("l", evs)
		asOf := s.LastTime.Add(time.Duration(rng.IntN(400)) * 24 * time.Hour)
		want := false
		for _, sg := range s.Signals {
			at := time.Unix(sg.At, 0)
			if trailingDays(s, at, 365) >= 3 && sc.Score(s, at) >= loyalSatisfaction {
				want = true
			}
		}
		if trailingDays(s, asOf, 365) >= 3 && sc.Score(s, asOf) >= loyalSatisfaction {
			want = true
		}
		if want {
			rngJourneys++
		}
		if got := sc.everLoyal(s, asOf); got != want {
			t.Fatalf("seed %d: everLoyal=%v, brute force %v", seed, got, want)
		}
	}
	if rngJourneys == 0 {
		t.Fatal("no random journey was ever loyal: the test checks nothing")
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 99)) }

func readRulesDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("RULES.md")
	if err != nil {
		t.Fatalf("RULES.md: %v", err)
	}
	return string(b)
}

// TestRulesDocumented: every stage, flag, type and RFM segment has a row in
// RULES.md.
func TestRulesDocumented(t *testing.T) {
	doc := readRulesDoc(t)
	names := append(append(append(Stages(), FlagAdvocate, FlagDetractor), Types()...), RFMSegments()...)
	for _, n := range names {
		if !strings.Contains(doc, "| `"+n+"`") {
			t.Errorf("RULES.md has no table row for %s", n)
		}
	}
}
