package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/keystore"
)

// sealed measures the encrypted log (each customer's events sealed under
// their own key, package keystore) against the plaintext log on the same
// events, in one run: append in calls of BatchSize, then a full ScanRaw
// (what a rebuild reads). Ratio is encrypted / plaintext.
func (b *storeBench) sealed(ctx context.Context) ([]Result, error) {
	set, bs := b.set, b.cfg.BatchSize
	reqs := appendReqs(set.evs)
	fill := func(sealed bool, keep bool) (time.Duration, string, func(), error) {
		d, err := b.freshDir(map[bool]string{true: "sealed", false: "plain"}[sealed])
		if err != nil {
			return 0, "", nil, err
		}
		o := &eventstore.Options{NoSync: b.cfg.NoSync, Logger: b.cfg.Logger}
		var ks *keystore.Store
		if sealed {
			var err error
			if ks, err = openBenchKeys(filepath.Join(d, "keys")); err != nil {
				return 0, "", nil, err
			}
			o.Sealer = ks
		}
		s, err := eventstore.Open(filepath.Join(d, "log"), o)
		if err != nil {
			return 0, "", nil, err
		}
		start := time.Now()
		for i := 0; i < len(reqs); i += bs {
			if _, err := s.Append(ctx, reqs[i:min(i+bs, len(reqs))]); err != nil {
				return 0, "", nil, err
			}
		}
		el := time.Since(start)
		cleanup := func() {
			s.Close()
			if ks != nil {
				ks.Close()
			}
			os.RemoveAll(d)
		}
		if !keep {
			cleanup()
			return el, "", nil, nil
		}
		b.keep = s
		return el, d, cleanup, nil
	}
	// CPU of each side's fastest round (the fill's own CPU: Open and
	// Close are outside, as in the timing).
	var cpu [2]time.Duration
	best := [2]time.Duration{}
	appendOf := func(sealed bool) func() (time.Duration, error) {
		i := map[bool]int{true: 0, false: 1}[sealed]
		return func() (time.Duration, error) {
			c0 := cpuTime()
			d, _, _, err := fill(sealed, false)
			if c := cpuTime() - c0; err == nil && (best[i] == 0 || d < best[i]) {
				best[i], cpu[i] = d, c
			}
			return d, err
		}
	}
	de, dp, err := b.alternate(appendOf(true), appendOf(false))
	if err != nil {
		return nil, err
	}
	r := pair(fmt.Sprintf("append-batch-%d-encrypted", bs), fmt.Sprintf("the plaintext log, same calls of %d", bs),
		len(reqs), 0, de, dp)
	r.CPUMicrosPerEvent = float64(cpu[0].Microseconds()) / float64(len(reqs))
	r.BaselineCPUMicrosPerEvent = float64(cpu[1].Microseconds()) / float64(len(reqs))
	out := []Result{r}

	// Scan: both logs filled once, each read Rounds times, interleaved.
	var stores [2]*eventstore.Store
	for i, sealed := range []bool{true, false} {
		_, _, cleanup, err := fill(sealed, true)
		if err != nil {
			return out, err
		}
		defer cleanup()
		stores[i] = b.keep
	}
	scanOf := func(s *eventstore.Store) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			start := time.Now()
			n := 0
			err := s.ScanRaw(ctx, 1, 0, func(r *eventstore.RawRecord) error { n += len(r.Raw); return nil })
			return time.Since(start), err
		}
	}
	de, dp, err = b.alternate(scanOf(stores[0]), scanOf(stores[1]))
	if err != nil {
		return out, err
	}
	return append(out, pair("scan-encrypted", "a full ScanRaw of the plaintext log (what a rebuild reads)", len(reqs), 0, de, dp)), nil
}

// openBenchKeys opens (creating) a key store in dir under a fixed master
// key: the benchmark's encrypted logs.
func openBenchKeys(dir string) (*keystore.Store, error) {
	w, err := keystore.NewLocalWrapper(bytes.Repeat([]byte{1}, keystore.MasterKeyLen))
	if err != nil {
		return nil, err
	}
	return keystore.Open(dir, w, nil)
}
