package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/handlers"
	"github.com/journey-cdp/journey/handlers/reactions"
	"github.com/journey-cdp/journey/internal/natstest"
)

// serveChild is a `journey serve` process (the test binary, which TestMain
// makes the journey command on $PATH) on data, against the NATS server at
// natsURL, with extra flags. It returns once serve says where it serves.
type serveChild struct {
	cmd     *exec.Cmd
	httpURL string
	mu      sync.Mutex
	out     bytes.Buffer
}

func (c *serveChild) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func startServeChild(t *testing.T, data, natsURL string, extra ...string) *serveChild {
	t.Helper()
	bin, err := exec.LookPath("journey")
	if err != nil {
		t.Fatalf("the journey command of TestMain: %v", err)
	}
	args := append([]string{"serve", "--data", data, "--nats-url", natsURL, "--http", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	c := &serveChild{cmd: exec.Command(bin, args...)}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout, c.cmd.Stderr = pw, pw
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	ready := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`journey serving \(NATS \S+, HTTP (\S+)\)`)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		pr.Close()
	}()
	select {
	case c.httpURL = <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("serve not ready after 20s:\n%s", c.output())
	}
	return c
}

// kill9 SIGKILLs the child and waits for it.
func (c *serveChild) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// stop SIGTERMs the child and waits for it to exit cleanly.
func (c *serveChild) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, c.output())
	}
}

// TestServeKillBetweenDecideAndDispatch is the SIGKILL criterion
// with a real process: `journey serve` (a child process, NATS in this
// test) decides a thank-you for each of 24 customers' repeat purchase;
// its dispatcher is held (the hidden, test-only
// --reactions-dispatch-delay) so that the child can be SIGKILLed when
// every action is decided in the log and only a few are dispatched. After
// a restart, every decided action is published, and the actions stream
// holds each Nats-Msg-Id exactly once (read by a JetStream consumer).
func TestServeKillBetweenDecideAndDispatch(t *testing.T) {
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{} // core subscriber: Nats-Msg-Id → times
	sub, err := nc.Subscribe(reactions.SubjectPrefix+">", func(m *nats.Msg) {
		mu.Lock()
		seen[m.Header.Get(jetstream.MsgIDHeader)]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}

	const customers = 24
	now := time.Now().UTC().Truncate(time.Second)
	var lines bytes.Buffer
	for i := range customers {
		c := fmt.Sprintf("k%02d", i)
		for j, at := range []time.Time{now.Add(-3 * time.Hour), now.Add(-time.Hour)} {
			id := fmt.Sprintf("%s-p%d", c, j)
			raw, err := journey.NewEvent(id, "pos/store-1/till-1", journey.KindPurchase, c, at,
				map[string]any{"order_id": "o-" + id, "amount": "20.00", "currency": "EUR"})
			if err != nil {
				t.Fatal(err)
			}
			lines.Write(raw)
			lines.WriteByte('\n')
		}
	}

	data := filepath.Join(t.TempDir(), "data")
	// 400 ms before each publish: 24 actions take ~10 s to dispatch.
	child := startServeChild(t, data, srv.ClientURL(), "--reactions-dispatch-delay", "400ms")
	mustRun(t, lines.Bytes(), "publish", "--nats-url", srv.ClientURL(), "-")

	// Every action decided (in the log, folded by the views: the listing
	// shows it), while the dispatcher has published only some.
	var decided []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ans handlers.ActionsAnswer
		r := runCLI(t, nil, "actions", "list", "--server", child.httpURL, "--json", "--limit", "1000")
		if r.code == 0 {
			if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil {
				t.Fatal(err)
			}
			if len(ans.Actions) == customers {
				for _, a := range ans.Actions {
					if a.Kind != reactions.KindThankYou || a.Reason != "repeat_purchase" {
						t.Fatalf("unexpected action %+v", a)
					}
					decided = append(decided, a.ID)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("actions list: exit %d %v, %d actions, want %d\n%s", r.code, r.err, len(ans.Actions), customers, child.output())
		}
	}
	// A few published and acknowledged (their pass's position not yet
	// written: the restart publishes them again, JetStream stores them once).
	natstest.WaitFor(t, 5*time.Second, func() error {
		if n := received(); n < 2 {
			return fmt.Errorf("%d actions dispatched, want 2 before the kill", n)
		}
		return nil
	})
	child.kill9(t)
	nc.Flush()
	before := received()
	if before >= customers {
		t.Fatalf("all %d actions were dispatched before the kill: the window was missed", before)
	}
	t.Logf("SIGKILL with %d actions decided, %d dispatched", len(decided), before)

	// Restart (no delay): the dispatcher resumes from its position.
	child = startServeChild(t, data, srv.ClientURL())
	natstest.WaitFor(t, 15*time.Second, func() error {
		if n := received(); n < customers {
			return fmt.Errorf("%d of %d actions dispatched", n, customers)
		}
		return nil
	})
	child.stop(t)

	mu.Lock()
	for _, id := range decided {
		if seen[id] == 0 {
			t.Errorf("decided action %s never dispatched", id)
		}
	}
	if len(seen) != customers {
		t.Errorf("the subscriber saw %d distinct ids, want the %d decided", len(seen), customers)
	}
	mu.Unlock()

	// The stream: each id exactly once.
	ctx := context.Background()
	s, err := js.Stream(ctx, reactions.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != customers {
		t.Fatalf("the actions stream holds %d messages, want %d (each decided action once)", info.State.Msgs, customers)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(customers+10, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	inStream := map[string]int{}
	for m := range batch.Messages() {
		inStream[m.Headers().Get(jetstream.MsgIDHeader)]++
	}
	var ids []string
	for id, n := range inStream {
		ids = append(ids, id)
		if n != 1 {
			t.Errorf("action %s is %d times in the stream", id, n)
		}
	}
	sort.Strings(ids)
	sort.Strings(decided)
	if strings.Join(ids, ",") != strings.Join(decided, ",") {
		t.Fatalf("stream ids %v\nwant the decided %v", ids, decided)
	}
}
