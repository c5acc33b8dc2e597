package journey_test

import (
	"errors"
	"fmt"
	"time"

	journey "github.com/journey-cdp/journey"
)

func ExampleDecode() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	raw := []byte(`{"specversion":"1.0","id":"0195f1c2-7d2a-7b3e-9c4d-1a2b3c4d5e6f","source":"pos/store-042/till-3",
		"type":"purchase","subject":"cust-42","time":"2025-03-01T11:58:00Z","datacontenttype":"application/json",
		"data":{"order_id":"o-981","amount":"42.5","currency":"EUR","items":2}}`)
	ev, err := journey.Decode(raw, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Type, ev.Subject, ev.Data.Amount, ev.Data.Currency, journey.FormatAmount(ev.Data.Amount, ev.Data.Currency))
	// Output: purchase cust-42 4250 EUR 42.50
}

func ExampleDecode_rejection() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	raw := []byte(`{"specversion":"1.0","id":"evt-2","source":"pos/store-042/till-3","type":"purchase",
		"subject":"cust-42","time":"2025-03-01T11:58:00Z",
		"data":{"order_id":"o-982","amount":"1.234","currency":"EUR"}}`)
	_, err := journey.Decode(raw, now)
	fmt.Println(err)

	var e *journey.Error
	if errors.As(err, &e) {
		fmt.Printf("code=%s field=%s\n", e.Code, e.Field)
	}
	fmt.Println(errors.Is(err, &journey.Error{Code: journey.CodeInvalidField}))
	// Output:
	// invalid_field: data.amount: "1.234" has more decimals than EUR allows (2)
	// code=invalid_field field=data.amount
	// true
}

func ExampleNewEvent() {
	at := time.Date(2025, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	raw, err := journey.NewEvent("evt-3", "web/shop", journey.KindFeedback, "cust-42", at,
		map[string]any{"csat": 5, "comment": "quick delivery"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(raw))
	// Output: {"specversion":"1.0","id":"evt-3","source":"web/shop","type":"feedback","subject":"cust-42","time":"2025-03-01T11:30:00Z","datacontenttype":"application/json","data":{"comment":"quick delivery","csat":5}}
}
