package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/keystore"
)

// BenchmarkAppendSealed fills a fresh log with the 200,000-event pool in
// synced calls of 1,000, plaintext and encrypted (a key per customer).
func BenchmarkAppendSealed(b *testing.B) {
	pool := benchEventPool(b)
	reqs := appendReqs(pool)
	for _, sealed := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "encrypted"}[sealed]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				d := b.TempDir()
				o := &eventstore.Options{}
				var ks *keystore.Store
				if sealed {
					var err error
					if ks, err = openBenchKeys(filepath.Join(d, "keys")); err != nil {
						b.Fatal(err)
					}
					o.Sealer = ks
				}
				s, err := eventstore.Open(filepath.Join(d, "log"), o)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for i := 0; i < len(reqs); i += 1000 {
					if _, err := s.Append(context.Background(), reqs[i:min(i+1000, len(reqs))]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				s.Close()
				if ks != nil {
					ks.Close()
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(reqs)*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
