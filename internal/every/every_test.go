package every

import (
	"sync/atomic"
	"testing"
	"time"
)

// f runs repeatedly until stop, never after it returns, and stop may be
// called twice.
func TestDo(t *testing.T) {
	var n atomic.Int64
	stop := Do(time.Millisecond, func() { n.Add(1) })
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("f ran %d times in 5s at 1ms", n.Load())
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	after := n.Load()
	time.Sleep(20 * time.Millisecond)
	if got := n.Load(); got != after {
		t.Errorf("f ran %d more times after stop", got-after)
	}
	stop()
}
