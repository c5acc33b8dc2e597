package main

import (
	"context"
	"fmt"
	"io"
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
	u, err := url.Parse(strings.TrimSuffix(base, "/") + path)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, usageErrorf("--server %q is not a URL such as http://127.0.0.1:8080", base)
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return nil, fmt.Errorf("%s: %s: %s", base, resp.Status, e.Error.Message)
		}
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
