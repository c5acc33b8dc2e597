package reactions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/projections"
	"github.com/journey-cdp/journey/projections/customer"
)

// Row is one action of a listing: the customer and the action (its status
// as of the listing's instant).
type Row struct {
	Customer string `json:"customer"`
	customer.Action
}

// Filter selects the actions of a listing; zero fields select all.
type Filter struct {
	Kind   string    // thank_you, winback, escalation
	Status string    // pending, done
	AsOf   time.Time // zero: now
	Limit  int       // 0: no limit
}

// errStop ends a listing at its limit.
var errStop = errors.New("limit reached")

// Check refuses a filter naming an unknown kind or status, with the field
// and the rule.
func (f Filter) Check() error {
	if f.Kind != "" && !slices.Contains(Kinds(), f.Kind) {
		return &journey.Error{Code: journey.CodeInvalidField, Field: "kind", Rule: fmt.Sprintf("%q is not an action kind (one of %s)", f.Kind, strings.Join(Kinds(), ", "))}
	}
	if f.Status != "" && f.Status != customer.ActionPending && f.Status != customer.ActionDone {
		return &journey.Error{Code: journey.CodeInvalidField, Field: "status", Rule: fmt.Sprintf("%q is not an action status (pending or done)", f.Status)}
	}
	if f.Limit < 0 {
		return &journey.Error{Code: journey.CodeInvalidField, Field: "limit", Rule: "must be 0 (no limit) or more"}
	}
	return nil
}

// List calls fn for every action of the views' customers that f selects,
// customer by customer (in the views' order), each customer's oldest first.
// The actions are those the customers' states keep (the last
// customer.MaxActions each); as of an instant, those recorded by then,
// with their status then.
func List(ctx context.Context, v *projections.Views, f Filter, fn func(Row) error) error {
	if err := f.Check(); err != nil {
		return err
	}
	n := 0
	err := v.Customers(ctx, f.AsOf, false, func(a *customer.Answer) error {
		for _, x := range a.Actions {
			if (f.Kind != "" && x.Kind != f.Kind) || (f.Status != "" && x.Status != f.Status) {
				continue
			}
			if err := fn(Row{Customer: a.State.Customer, Action: x}); err != nil {
				return err
			}
			if n++; f.Limit > 0 && n >= f.Limit {
				return errStop
			}
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}
