package projections

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/keystore"
)

// TestForgetViews: after the log forgets a customer and the views do, the
// views equal a rebuild of them; the customer is not found; their id is
// in no file of the views or the log.
func TestForgetViews(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := keystore.NewLocalWrapper(bytes.Repeat([]byte{3}, keystore.MasterKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(filepath.Join(dir, "keys"), w, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	log, err := eventstore.Open(filepath.Join(dir, "log"), &eventstore.Options{NoSync: true, Sealer: ks})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	raws := simulated(t, 60, 90, 5)
	appendRaw(t, log, raws)
	v := openViews(t, dir, log, nil)
	catchUp(t, v)
	asOf := simStart.AddDate(0, 0, 90)
	before := answers(t, v, asOf, true)
	// A customer with purchases and a referral mark, if there is one.
	var victim string
	for id, a := range before {
		if bytes.Contains([]byte(a), []byte(`"purchases":`)) && (victim == "" || id < victim) {
			victim = id
		}
	}
	if victim == "" {
		t.Fatal("no customer with purchases in the simulation")
	}
	if _, err := log.Forget(ctx, victim, "test"); err != nil {
		t.Fatal(err)
	}
	catchUp(t, v)
	had, err := v.Forget(ctx, victim)
	if err != nil || !had {
		t.Fatalf("views forget: %v %v", had, err)
	}
	if _, err := v.Customer(ctx, victim, time.Time{}); err == nil {
		t.Fatal("the forgotten customer is still answered")
	}
	forgot := answers(t, v, asOf, true)
	if _, ok := forgot[victim]; ok || len(forgot) != len(before)-1 {
		t.Fatalf("%d customers after forget, %d before", len(forgot), len(before))
	}
	// Pebble deletes obsolete files in the background.
	deadline := time.Now().Add(10 * time.Second)
again:
	var found []string
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || filepath.Base(filepath.Dir(path)) == "keys" {
			return nil
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(victim)) {
			found = append(found, path)
		}
		return nil
	})
	if len(found) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		goto again
	}
	if len(found) > 0 {
		t.Fatalf("the forgotten id %s is still in %v", victim, found)
	}
	popForgot, err := v.Population()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	sameAnswers(t, "forget vs rebuild", forgot, answers(t, v, asOf, true))
	popRebuilt, err := v.Population()
	if err != nil {
		t.Fatal(err)
	}
	if popForgot.MedianGap != popRebuilt.MedianGap {
		t.Fatalf("median gap %v after forget, %v after rebuild", popForgot.MedianGap, popRebuilt.MedianGap)
	}
}
