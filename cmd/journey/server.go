package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
)

// serverJSON asks a running journey serve and decodes its JSON answer into v.
func (a *app) serverJSON(ctx context.Context, base, path string, q url.Values, v any) error {
	body, err := a.serverBody(ctx, base, path, q)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("answer of %s%s: %w", base, path, err)
	}
	return nil
}

// serverGet asks a running journey serve (--server URL) and copies its
// JSON answer to stdout.
func (a *app) serverGet(ctx context.Context, base, path string, q url.Values) error {
	body, err := a.serverBody(ctx, base, path, q)
	if err != nil {
		return err
	}
	if _, err := a.stdout.Write(body); err != nil {
		return err
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		_, err = a.stdout.Write([]byte{'\n'})
	}
	return err
}

// serverBody GETs base+path?q and returns the body of a 200 answer.
func (a *app) serverBody(ctx context.Context, base, path string, q url.Values) ([]byte, error) {
	return a.serverDo(ctx, http.MethodGet, base, path, q, 30*time.Second)
}

// serverDo sends method base+path?q (no body) to a running journey serve and
// returns the body of a 200 answer, waiting at most timeout.
func (a *app) serverDo(ctx context.Context, method, base, path string, q url.Values, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := a.serverOpen(ctx, method, base, path, q)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s%s: %w", strings.TrimSuffix(base, "/"), path, err)
	}
	return b, nil
}

// withAsOf sets the query's as_of to at (RFC 3339), unless at is zero (now),
// and returns q (a new one when q is nil).
func withAsOf(q url.Values, at time.Time) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if !at.IsZero() {
		q.Set("as_of", at.Format(time.RFC3339Nano))
	}
	return q
}

// serverLines GETs base+path?q, a JSONL answer of any length, and calls fn
// with each line (valid during the call). An answer broken off by the
// server is an error, never a short answer taken as whole.
func (a *app) serverLines(ctx context.Context, base, path string, q url.Values, fn func(line []byte) error) error {
	body, err := a.serverOpen(ctx, http.MethodGet, base, path, q)
	if err != nil {
		return err
	}
	defer body.Close()
	r := bufio.NewReaderSize(body, 256<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 && err == nil {
			if ferr := fn(line); ferr != nil {
				return ferr
			}
			continue
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // a last line without its newline
		}
		return fmt.Errorf("the answer of %s%s broke off: %w", strings.TrimSuffix(base, "/"), path, err)
	}
}

// serverOpen sends method base+path?q (no body) to a running journey serve
// and returns the body of a 200 answer; any other is an error with the
// server's message.
func (a *app) serverOpen(ctx context.Context, method, base, path string, q url.Values) (io.ReadCloser, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/") + path)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, usageErrorf("--server %q is not a URL such as http://127.0.0.1:8080", base)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if tok := a.bearerToken(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := a.httpDo(req) // --ca, --client-cert, --client-key: httpclient.go
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("no journey serve answers at %s (%v): start one or check --server", base, op.Err)
		}
		return nil, fmt.Errorf("ask %s: %w", base, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			how := "pass --token or set $" + TokenEnv
			if a.bearerToken() != "" {
				how = "check --token / $" + TokenEnv + " (journey token list shows the tokens)"
			}
			return nil, fmt.Errorf("%s refused the request (401): %s; %s", base, e.Error.Message, how)
		case http.StatusForbidden:
			return nil, fmt.Errorf("%s refused the request (403): %s", base, e.Error.Message)
		}
		// The message as the data dir's command says it; then who said it.
		return nil, fmt.Errorf("%s (%s answered %d)", e.Error.Message, strings.TrimSuffix(base, "/"), resp.StatusCode)
	}
	return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
}
