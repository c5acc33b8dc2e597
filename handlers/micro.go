package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/auth"
)

// DefaultQueryPrefix is the subject prefix of the NATS query service: the
// endpoints are <prefix>.customer, <prefix>.events and <prefix>.segments.
const DefaultQueryPrefix = "journey.query"

// QueryRequest is the JSON body of a NATS query. ID names the customer
// (customer, events); AsOf is RFC 3339 or YYYY-MM-DD (customer, segments;
// events: only the events with time ≤ as_of);
// After and Limit page the events, with the rules of the HTTP parameters
// (after: 0 to 2^63-1; limit: 1 to MaxEventsLimit, 0 or absent:
// DefaultEventsLimit; a number or a string of digits, anything else is
// an error); By picks the segmentation.
type QueryRequest struct {
	ID    string `json:"id,omitempty"`
	AsOf  string `json:"as_of,omitempty"`
	After uint64 `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
	By    string `json:"by,omitempty"`
}

// wireQuery is a QueryRequest as it arrives: after and limit as written,
// for the one parser of every surface (parsePage).
type wireQuery struct {
	ID    string          `json:"id"`
	AsOf  string          `json:"as_of"`
	After json.RawMessage `json:"after"`
	Limit json.RawMessage `json:"limit"`
	By    string          `json:"by"`
}

// replyReserve is what a reply keeps free of its max_payload for the
// page's envelope (customer, next_after).
const replyReserve = 512

// ServeQueries registers the reads of q as a NATS micro service
// ("journey-query", discoverable with `nats micro ls`) with the same
// answers as the HTTP reads. A failed read answers with the micro error
// headers (Nats-Service-Error-Code is the HTTP status) and an ErrorReply
// body. A page of events is bounded by MaxPageBytes and by the server's
// max_payload; another answer larger than max_payload is a too_large
// error reply (413), never a dropped reply. Stop the returned service to
// unsubscribe.
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
	log := q.Logger
	if log == nil {
		log = discardLogger
	}
	g := svc.AddGroup(prefix)
	// add registers an endpoint whose fn returns the reply's bytes, for
	// the tokens whose role allows one of needs (with q.Auth).
	add := func(name string, fn func(ctx context.Context, r wireQuery) ([]byte, error), needs ...auth.Role) error {
		subject := prefix + "." + name
		return g.AddEndpoint(name, micro.HandlerFunc(func(req micro.Request) {
			var p auth.Principal
			if q.Auth != nil {
				var ref *auth.Refusal
				if p, ref = q.Auth.Check(subject, authorizationOf(req.Headers()), needs...); ref != nil {
					q.Auth.CountNATS(subject, ref)
					_ = req.Error(strconv.Itoa(ref.Status), headerText(ref.Message), ref.Body())
					return
				}
			}
			var r wireQuery
			if len(req.Data()) > 0 {
				if err := json.Unmarshal(req.Data(), &r); err != nil {
					respondError(req, queryJSONError(err))
					return
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := fn(ctx, r)
			if err == nil {
				if maxp := nc.MaxPayload(); int64(len(b)) > maxp {
					err = &journey.Error{Code: journey.CodeTooLarge, Rule: fmt.Sprintf(
						"the answer is %d bytes, more than the NATS server's max_payload (%d); ask over HTTP", len(b), maxp)}
				}
			}
			if err != nil {
				respondError(req, err)
				return
			}
			if err := req.Respond(b); err != nil {
				log.Warn("query reply not sent", "endpoint", name, "err", err)
				respondError(req, err)
			} else if q.Auth != nil && q.Auth.OnCustomerRead != nil && (name == "customer" || name == "events") {
				q.Auth.OnCustomerRead(p, r.ID, subject) // one customer's data was read: the access log
			}
		}))
	}
	marshal := func(v any, err error) ([]byte, error) {
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	errs := []error{
		add("customer", func(ctx context.Context, r wireQuery) ([]byte, error) {
			asOf, err := parseAsOf(r.AsOf)
			if err != nil {
				return nil, err
			}
			return marshal(q.Customer(ctx, r.ID, asOf))
		}, auth.Reader),
		add("events", func(ctx context.Context, r wireQuery) ([]byte, error) {
			after, limit, err := parsePage(rawParam(r.After), rawParam(r.Limit))
			if err != nil {
				return nil, err
			}
			asOf, err := parseAsOf(r.AsOf)
			if err != nil {
				return nil, err
			}
			budget := int(min(int64(MaxPageBytes), nc.MaxPayload()-replyReserve))
			var buf bytes.Buffer
			if _, err := q.writeEventsPage(ctx, r.ID, after, limit, budget, asOf, func() io.Writer { return &buf }); err != nil {
				return nil, err
			}
			return buf.Bytes(), nil
		}, auth.Reader),
		add("segments", func(ctx context.Context, r wireQuery) ([]byte, error) {
			asOf, err := parseAsOf(r.AsOf)
			if err != nil {
				return nil, err
			}
			return marshal(q.Segments(ctx, r.By, asOf))
		}, auth.Analyst),
	}
	for _, err := range errs {
		if err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("handlers: query endpoint: %w", err)
		}
	}
	flushSubscriptions(nc, log, prefix+".>")
	return svc, nil
}

// queryJSONError is a query body that does not decode, said without Go
// type names: a member of the wrong type names the member.
func queryJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &journey.Error{Code: journey.CodeInvalidField, Field: te.Field,
			Rule: "must be a " + jsonKind(te.Type.Kind().String()) + ", got a " + te.Value}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &journey.Error{Code: journey.CodeInvalidJSON,
			Rule: fmt.Sprintf("the query is not JSON at byte %d (want an object such as {\"id\":\"cust-1\"})", se.Offset)}
	}
	return &journey.Error{Code: journey.CodeInvalidJSON,
		Rule: "the query is not a JSON object such as {\"id\":\"cust-1\"}"}
}

// jsonKind names a Go kind as JSON does.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	}
	return "number"
}

// authorizationOf is the Authorization values of NATS headers (their
// names are case-sensitive map keys: any spelling is taken).
func authorizationOf[H ~map[string][]string](h H) []string {
	if v, ok := h["Authorization"]; ok {
		return v
	}
	for name, v := range h {
		if strings.EqualFold(name, "Authorization") {
			return v
		}
	}
	return nil
}

func respondError(req micro.Request, err error) {
	status, body := readStatus(err)
	b, _ := json.Marshal(ErrorReply{Error: body})
	_ = req.Error(strconv.Itoa(status), headerText(body.Message), b)
}

// headerText is msg as a header value (the Nats-Service-Error
// description): one line of at most 256 bytes; the body has it all.
func headerText(msg string) string {
	msg = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > 256 {
		n := 256
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		msg = msg[:n] + "…"
	}
	if msg == "" {
		msg = "error"
	}
	return msg
}
