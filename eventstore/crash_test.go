package eventstore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	crashDirEnv   = "JOURNEY_EVENTSTORE_CRASH_DIR"
	crashRoundEnv = "JOURNEY_EVENTSTORE_CRASH_ROUND"
)

// TestCrashChild is the child of TestCrashRecovery: it appends until it is
// killed and prints "ack <id>" for every event after Append returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child of TestCrashRecovery; runs only when re-executed by it")
	}
	round := os.Getenv(crashRoundEnv)
	s, err := Open(dir, nil)
	if err != nil {
		fmt.Printf("open failed: %v\n", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	ack := func(ids []string) {
		mu.Lock()
		for _, id := range ids {
			out.WriteString("ack " + id + "\n")
		}
		out.Flush()
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var acked []Request
			for i := 0; ; i++ {
				n := 1 + rng.IntN(8)
				reqs := make([]Request, 0, n+1)
				for j := range n {
					id := fmt.Sprintf("r%s-g%d-%d-%d", round, g, i, j)
					reqs = append(reqs, unchecked(mkEvent(t, id, fmt.Sprintf("cust-%d", rng.IntN(30)), t0, "")))
				}
				if len(acked) > 0 && i%5 == 0 {
					reqs = append(reqs, acked[rng.IntN(len(acked))]) // a retry: must be a duplicate
				}
				res, err := s.Append(context.Background(), reqs)
				if err != nil {
					fmt.Printf("append failed: %v\n", err)
					os.Exit(4)
				}
				ids := make([]string, 0, len(res))
				for k, r := range res {
					if r.Err != nil || (k >= n) != r.Duplicate {
						fmt.Printf("bad result %d: %+v\n", k, r)
						os.Exit(5)
					}
					ids = append(ids, reqs[k].Event.ID)
				}
				acked = append(acked, reqs[:n]...)
				ack(ids)
			}
		})
	}
	wg.Wait()
}

// TestCrashRecovery kills a child that appends from several goroutines at
// a random moment, reopens the log and checks that every acknowledged
// event is there exactly once, the chain verifies, the sequence is dense
// and appending goes on; a few rounds on the same directory.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var total int
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s=%d", crashRoundEnv, round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := make(map[string]bool)
		var other []string
		readDone := make(chan error)
		firstAck := make(chan struct{})
		go func() {
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil { // a partial last line is not an acknowledgement
					if err == io.EOF {
						err = nil
					}
					readDone <- err
					return
				}
				line = strings.TrimSuffix(line, "\n")
				if id, ok := strings.CutPrefix(line, "ack "); ok {
					if len(acked) == 0 {
						close(firstAck)
					}
					acked[id] = true
				} else {
					other = append(other, line)
				}
			}
		}()
		// Kill at a random moment once the child is appending.
		select {
		case <-firstAck:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: child acknowledged nothing in 20 s", round)
		}
		time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := <-readDone; err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		for _, l := range other {
			if !strings.HasPrefix(l, "=== RUN") && !strings.HasPrefix(l, "PASS") && l != "" {
				t.Fatalf("child said: %s", l)
			}
		}
		if len(acked) == 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}

		s, err := Open(dir, nil)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for id := range acked {
			if _, found, err := s.Get(id); err != nil || !found {
				t.Fatalf("round %d: acknowledged %s not found (%v)", round, id, err)
			}
		}
		count := make(map[string]int)
		var n uint64
		err = s.Scan(context.Background(), 1, 0, func(rec *Record) error {
			n++
			if rec.Seq != n {
				return fmt.Errorf("seq %d at position %d", rec.Seq, n)
			}
			count[rec.ID]++
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: scan: %v", round, err)
		}
		for id, c := range count {
			if c != 1 {
				t.Fatalf("round %d: %s stored %d times", round, id, c)
			}
		}
		if head, _ := s.Head(); head != n || s.DurableSeq() != n {
			t.Fatalf("round %d: head %d, scanned %d", round, head, n)
		}
		rep := mustVerify(t, s)
		if rep.Events != n {
			t.Fatalf("round %d: verify saw %d of %d", round, rep.Events, n)
		}
		res := appendOK(t, s, unchecked(mkEvent(t, fmt.Sprintf("after-%d", round), "cust-0", t0, "")))
		if res[0].Seq != n+1 {
			t.Fatalf("round %d: next append got seq %d, want %d", round, res[0].Seq, n+1)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d acknowledged, %d stored", round, len(acked), n+1)
		total += len(acked)
	}
	if total == 0 {
		t.Fatal("nothing acknowledged")
	}
}
