package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// serverGet asks a running journey serve (--server URL) and copies its
// JSON answer to stdout.
func (a *app) serverGet(ctx context.Context, base, path string, q url.Values) error {
	u, err := url.Parse(strings.TrimSuffix(base, "/") + path)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return usageErrorf("--server %q is not a URL such as http://127.0.0.1:8080", base)
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	if _, err := a.stdout.Write(body); err != nil {
		return err
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		_, err = a.stdout.Write([]byte{'\n'})
	}
	return err
}
