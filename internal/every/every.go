// Package every runs a function at a steady interval on a goroutine its
// caller owns: the progress reports of long commands and of Publish.
package every

import (
	"sync"
	"time"
)

// Do calls f every d (d > 0) from a new goroutine until stop, which ends
// the goroutine and waits for it: after stop returns, f is not running
// and will not be called again.
func Do(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}
