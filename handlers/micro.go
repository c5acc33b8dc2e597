package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	journey "github.com/journey-cdp/journey"
)

// DefaultQueryPrefix is the subject prefix of the NATS query service: the
// endpoints are <prefix>.customer, <prefix>.events and <prefix>.segments.
const DefaultQueryPrefix = "journey.query"

// QueryRequest is the JSON body of a NATS query. ID names the customer
// (customer, events); AsOf is RFC 3339 or YYYY-MM-DD (customer, segments);
// After and Limit page the events; By picks the segmentation.
type QueryRequest struct {
	ID    string `json:"id,omitempty"`
	AsOf  string `json:"as_of,omitempty"`
	After uint64 `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
	By    string `json:"by,omitempty"`
}

// ServeQueries registers the reads of q as a NATS micro service
// ("journey-query", discoverable with `nats micro ls`) with the same
// answers as the HTTP reads. A failed read answers with the micro error
// headers (Nats-Service-Error-Code is the HTTP status) and an ErrorReply
// body. Stop the returned service to unsubscribe.
func ServeQueries(nc *nats.Conn, q Queries, prefix, queue string) (micro.Service, error) {
	if prefix == "" {
		prefix = DefaultQueryPrefix
	}
	if queue == "" {
		queue = DefaultAppendQueue
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "journey-query",
		Version:     "1.0.0",
		Description: "journey customer answers, stored events and segments",
		QueueGroup:  queue,
	})
	if err != nil {
		return nil, fmt.Errorf("handlers: query service: %w", err)
	}
	g := svc.AddGroup(prefix)
	add := func(name string, fn func(ctx context.Context, r QueryRequest) (any, error)) error {
		return g.AddEndpoint(name, micro.HandlerFunc(func(req micro.Request) {
			var r QueryRequest
			if len(req.Data()) > 0 {
				if err := json.Unmarshal(req.Data(), &r); err != nil {
					respondError(req, &journey.Error{Code: journey.CodeInvalidJSON, Rule: "query: " + err.Error()})
					return
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ans, err := fn(ctx, r)
			if err != nil {
				respondError(req, err)
				return
			}
			_ = req.RespondJSON(ans)
		}))
	}
	errs := []error{
		add("customer", func(ctx context.Context, r QueryRequest) (any, error) {
			asOf, err := parseAsOf(r.AsOf)
			if err != nil {
				return nil, err
			}
			return q.Customer(ctx, r.ID, asOf)
		}),
		add("events", func(ctx context.Context, r QueryRequest) (any, error) {
			return q.Events(ctx, r.ID, r.After, r.Limit)
		}),
		add("segments", func(ctx context.Context, r QueryRequest) (any, error) {
			asOf, err := parseAsOf(r.AsOf)
			if err != nil {
				return nil, err
			}
			return q.Segments(ctx, r.By, asOf)
		}),
	}
	for _, err := range errs {
		if err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("handlers: query endpoint: %w", err)
		}
	}
	flushSubscriptions(nc, slog.Default(), prefix+".>")
	return svc, nil
}

func respondError(req micro.Request, err error) {
	status, body := readStatus(err)
	b, _ := json.Marshal(ErrorReply{Error: body})
	_ = req.Error(strconv.Itoa(status), body.Message, b)
}
