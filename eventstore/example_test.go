package eventstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
)

func Example() {
	s, err := eventstore.Open("log", &eventstore.Options{FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	at := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	raw, _ := journey.NewEvent("0196a1c2-0000-7000-8000-000000000001", "pos/store-042/till-3",
		journey.KindPurchase, "cust-17", at, map[string]any{"order_id": "o-1", "amount": "42.50", "currency": "EUR"})
	ev, _ := journey.DecodeStored(raw)

	ctx := context.Background()
	res, _ := s.Append(ctx, []eventstore.Request{{Event: ev, ExpectedVersion: 0}})
	fmt.Println("seq", res[0].Seq, "version", res[0].Version, "duplicate", res[0].Duplicate)

	// The same event again is a duplicate of the original.
	res, _ = s.Append(ctx, []eventstore.Request{{Event: ev, ExpectedVersion: eventstore.AnyVersion}})
	fmt.Println("seq", res[0].Seq, "version", res[0].Version, "duplicate", res[0].Duplicate)

	history, _ := s.CustomerEvents(ctx, "cust-17", 0, 0)
	fmt.Println(len(history), history[0].Type, history[0].EventTime.Format(time.RFC3339))

	rep, _ := s.Verify(ctx, nil)
	fmt.Println("verified", rep.OK, rep.Events)
	// Output:
	// seq 1 version 1 duplicate false
	// seq 1 version 1 duplicate true
	// 1 purchase 2025-05-01T10:00:00Z
	// verified true 1
}
