package projections_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
)

// Project a small log and ask about a customer, now and as of an earlier
// instant.
func Example() {
	dir, _ := os.MkdirTemp("", "journey-example-")
	defer os.RemoveAll(dir)
	log, err := eventstore.Open(filepath.Join(dir, "log"), &eventstore.Options{NoSync: true})
	if err != nil {
		panic(err)
	}
	defer log.Close()
	day := func(d int) time.Time { return time.Date(2025, 3, d, 12, 0, 0, 0, time.UTC) }
	var reqs []eventstore.Request
	for i, d := range []int{1, 20} {
		raw := fmt.Appendf(nil, `{"specversion":"1.0","id":"p%d","source":"pos/store-1/till-1","type":"purchase","subject":"ann","time":%q,"data":{"order_id":"o%d","amount":"25.00","currency":"EUR"}}`,
			i, day(d).Format(time.RFC3339), i)
		ev, err := journey.DecodeStored(raw)
		if err != nil {
			panic(err)
		}
		reqs = append(reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
	}
	if _, err := log.Append(context.Background(), reqs); err != nil {
		panic(err)
	}

	v, err := projections.Open(dir, log, &projections.Options{Clock: func() time.Time { return day(25) }})
	if err != nil {
		panic(err)
	}
	defer v.Close()
	n, err := v.CatchUp(context.Background())
	if err != nil {
		panic(err)
	}
	now, _ := v.Customer(context.Background(), "ann", time.Time{})
	then, _ := v.Customer(context.Background(), "ann", day(10))
	fmt.Println("applied", n)
	fmt.Println("now:", now.Stage, now.State.Purchases)
	fmt.Println("as of March 10:", then.Stage, then.State.Purchases)
	// Output:
	// applied 2
	// now: repeat 2
	// as of March 10: new 1
}
