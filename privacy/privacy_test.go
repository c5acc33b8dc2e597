package privacy

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-cdp/journey/internal/natstest"
)

// TestPurgeErasesStoreBytes: the stream purge of Forget erases the
// customer's messages from the JetStream file store itself (a real
// embedded server, its store on disk) — no block file keeps their bytes or
// their subject — while the other customers' messages stay, readable.
func TestPurgeErasesStoreBytes(t *testing.T) {
	dir, js, stop := fileStream(t, "T", "ev.*")
	ctx := context.Background()
	const secret = "ORD-ZQX-90417-victim"
	for i := range 4 {
		for _, c := range []string{"victim-77", "other-1"} {
			body := fmt.Sprintf(`{"subject":%q,"n":%d}`, c, i)
			if c == "victim-77" {
				body = fmt.Sprintf(`{"subject":%q,"order_id":"%s-%d"}`, c, secret, i)
			}
			if _, err := js.Publish(ctx, "ev."+c, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var steps []string
	n, err := purge(ctx, js, "T", "ev.victim-77", func(s string) { steps = append(steps, s) })
	if err != nil || n != 4 || len(steps) != 4 {
		t.Fatalf("purge: %d messages, steps %v, %v; want 4", n, steps, err)
	}
	st, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("ev.>"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 || info.State.Subjects["ev.victim-77"] != 0 || info.State.Subjects["ev.other-1"] != 4 {
		t.Fatalf("stream after purge: %d messages, subjects %v", info.State.Msgs, info.State.Subjects)
	}
	if m, err := st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject("ev.other-1")); err != nil || !bytes.Contains(m.Data, []byte(`"other-1"`)) {
		t.Fatalf("another customer's message after purge: %v", err)
	}
	// Again: nothing left, nothing erased.
	if n, err := purge(ctx, js, "T", "ev.victim-77", func(string) {}); err != nil || n != 0 {
		t.Fatalf("purge again: %d, %v", n, err)
	}
	// Stopped, as after a restart: its state files written.
	stop()
	files := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, s := range []string{secret, "victim-77"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q is still in %s", s, p)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk %s: %d files, %v", dir, files, err)
	}
}

// TestEraseNamingActions: the actions stream (a subject per kind, the
// customer only in the data) loses exactly the messages naming the
// forgotten customer, erased from its file store.
func TestEraseNamingActions(t *testing.T) {
	dir, js, stop := fileStream(t, "A", "act.*")
	ctx := context.Background()
	for i, c := range []string{"victim-77", "other-1", "victim-77", "victim-777", "other-2"} {
		body := fmt.Sprintf(`{"action_id":"a-%d","kind":"winback","customer":%q,"report":{"likely_reason":"price"}}`, i, c)
		if _, err := js.Publish(ctx, "act.winback", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "act.winback", []byte(`{"customer":"other-3"}`)); err != nil {
		t.Fatal(err)
	}
	n, err := eraseNaming(ctx, js, "A", "victim-77", func(string) {})
	if err != nil || n != 2 {
		t.Fatalf("eraseNaming: %d, %v; want 2", n, err)
	}
	if n, err := eraseNaming(ctx, js, "missing", "victim-77", func(string) {}); err != nil || n != 0 {
		t.Fatalf("eraseNaming of a missing stream: %d, %v", n, err)
	}
	st, _ := js.Stream(ctx, "A")
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != 4 {
		t.Fatalf("stream after erasing: %+v %v, want the 4 other messages", info.State, err)
	}
	stop()
	kept := map[string]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(`"victim-77"`)) {
			t.Errorf("the erased customer is still in %s", p)
		}
		for _, other := range []string{`"other-1"`, `"victim-777"`, `"other-3"`} {
			if bytes.Contains(b, []byte(other)) {
				kept[other] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 3 {
		t.Fatalf("the other customers' messages kept in the store: %v, want all 3", kept)
	}
}

// fileStream starts an embedded server with its store in a fresh dir and
// makes a file-stored stream name on subject; stop closes the connection
// and shuts the server down (its files then complete on disk).
func fileStream(t *testing.T, name, subject string) (dir string, js jetstream.JetStream, stop func()) {
	t.Helper()
	dir = t.TempDir()
	srv := natstest.RunServerAt(t, dir, -1)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	return dir, js, func() { nc.Close(); srv.Shutdown(); srv.WaitForShutdown() }
}
