package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// TestTokenCommands: token create prints the token once (plain: the token
// alone on stdout; --json: with what is kept), the file keeps only its
// hash with mode 0600, list never shows the token, revoke marks it.
func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "auth", "tokens.json")
	plain := runCLI(t, nil, "token", "create", "--data", dir, "--role", "reader", "--name", "tablet-store-042", "--expires", "90d")
	if plain.code != 0 {
		t.Fatalf("create: exit %d %v", plain.code, plain.err)
	}
	tok := strings.TrimSpace(plain.stdout)
	if !strings.HasPrefix(tok, "jy_") || strings.Contains(tok, "\n") || !strings.Contains(plain.stderr, "shown only this once") {
		t.Fatalf("create printed %q, stderr %q", plain.stdout, plain.stderr)
	}
	var created tokenLine
	if err := json.Unmarshal([]byte(mustRun(t, nil, "token", "create", "--json", "--auth", file, "--role", "writer",
		"--name", "till-17", "--source-prefix", "pos/store-017")), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Token, "jy_") || created.Role != "writer" || created.SourcePrefix != "pos/store-017" || created.Hash != "" {
		t.Errorf("create --json: %+v", created)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), tok) || strings.Contains(string(b), created.Token) {
		t.Errorf("the token file holds a token's text:\n%s", b)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", st.Mode().Perm())
	}
	if out := mustRun(t, nil, "token", "revoke", "--data", dir, "till-17"); out != "token \"till-17\" revoked\n" {
		t.Errorf("revoke: %q", out)
	}
	if out := mustRun(t, nil, "token", "revoke", "--data", dir, "till-17"); !strings.HasPrefix(out, "token \"till-17\" was already revoked at ") {
		t.Errorf("revoke again: %q, want it said already revoked", out)
	}
	list := mustRun(t, nil, "token", "list", "--data", dir)
	if !strings.Contains(list, "tablet-store-042") || !strings.Contains(list, "2026-04-02T03:04:05Z") ||
		strings.Contains(list, tok) || strings.Contains(list, created.Token) || strings.Contains(list, "sha256") {
		t.Errorf("list:\n%s", list)
	}
	var lines []tokenLine
	for l := range strings.Lines(mustRun(t, nil, "token", "list", "--json", "--auth", file)) {
		var tl tokenLine
		if err := json.Unmarshal([]byte(l), &tl); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, tl)
	}
	if len(lines) != 2 || lines[1].Revoked == nil || lines[0].Revoked != nil || lines[0].Token != "" || lines[0].Hash != "" {
		t.Errorf("list --json: %+v", lines)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--role", "boss", "--name", "x"}, `--role: role "boss" is not a role`},
		{[]string{"create", "--role", "reader"}, "needs --role and --name"},
		{[]string{"create", "--role", "reader", "--name", "x", "--expires", "soon"}, "--expires"},
		{[]string{"create", "--role", "reader", "--name", "tablet-store-042"}, "exists already"},
		{[]string{"revoke", "nobody"}, `no token named "nobody"`},
	} {
		r := runCLI(t, nil, append(append([]string{"token"}, c.args...), "--data", dir)...)
		if r.code == 0 || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("token %v: exit %d %v, want %q", c.args, r.code, r.err, c.want)
		}
	}
}

// TestTokenCreateSourcePrefixNeedsWriter: --source-prefix on a token of
// another role is a usage error (exit 2) naming the flag, and no token is
// made.
func TestTokenCreateSourcePrefixNeedsWriter(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, nil, "token", "create", "--data", dir, "--role", "reader", "--name", "r", "--source-prefix", "pos/")
	if r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), "--source-prefix is for writer tokens only (role reader") || r.stdout != "" {
		t.Fatalf("exit %d %v, stdout %q; want exit 2 naming --source-prefix", r.code, r.err, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "auth", "tokens.json")); err == nil {
		t.Error("a token file was made for a refused create")
	}
}

// TestServeRefusesBeyondLoopbackWithoutAuth: without a token file, serve
// refuses to listen beyond loopback, naming the flag and the ways out.
func TestServeRefusesBeyondLoopbackWithoutAuth(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--http", "0.0.0.0:0"}, "--http 0.0.0.0:0"},
		{[]string{"--http", ":0"}, "--http :0"},
		{[]string{"--http", "127.0.0.1:0", "--nats-listen", "0.0.0.0:-1"}, "--nats-listen 0.0.0.0:-1"},
	} {
		r := runCLI(t, nil, append([]string{"serve", "--data", dir}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.err.Error(), c.flag+" listens beyond loopback without access control") ||
			!strings.Contains(r.err.Error(), "--auth FILE") || !strings.Contains(r.err.Error(), "--insecure-no-auth") {
			t.Errorf("serve %v: exit %d %v", c.args, r.code, r.err)
		}
	}
	if r := runCLI(t, nil, "serve", "--data", dir, "--auth", filepath.Join(dir, "none.json")); r.code != 2 || !strings.Contains(r.err.Error(), "no such file") {
		t.Errorf("serve --auth missing: exit %d %v", r.code, r.err)
	}
	if r := runCLI(t, nil, "serve", "--data", dir, "--auth", "x", "--insecure-no-auth"); r.code != 2 || !strings.Contains(r.err.Error(), "exclude each other") {
		t.Errorf("serve --auth --insecure-no-auth: exit %d %v", r.code, r.err)
	}
	// --auth names a file: a directory is refused by name.
	for _, args := range [][]string{{"serve", "--data", dir, "--auth", dir}, {"token", "list", "--auth", dir}, {"token", "create", "--role", "admin", "--name", "x", "--auth", dir}} {
		if r := runCLI(t, nil, args...); r.code != 2 || r.err.Error() != "--auth "+dir+" is a directory: --auth names the token file (journey token create --auth FILE makes it)" {
			t.Errorf("journey %s: exit %d %v", strings.Join(args, " "), r.code, r.err)
		}
	}
	// A data dir with tokens is never served without them.
	mustRun(t, nil, "token", "create", "--data", dir, "--role", "admin", "--name", "ops")
	if r := runCLI(t, nil, "serve", "--data", dir, "--insecure-no-auth", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1"); r.code != 2 ||
		!strings.Contains(r.err.Error(), "--insecure-no-auth, but "+filepath.Join(dir, "auth", "tokens.json")+" holds this data dir's tokens") {
		t.Errorf("serve --insecure-no-auth with a token file: exit %d %v", r.code, r.err)
	}
}

// TestServeAuthWithoutTLSWarns: with tokens, serve listens beyond loopback
// without TLS when asked, but says that the tokens cross the network in
// clear; on loopback it says nothing.
func TestServeAuthWithoutTLSWarns(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, nil, "token", "create", "--data", dir, "--role", "admin", "--name", "ops")
	for _, tc := range []struct {
		http string
		warn bool
	}{{"0.0.0.0:0", true}, {"127.0.0.1:0", false}} {
		ctx, cancel := context.WithCancel(context.Background())
		_, _, done, serveErr := startServe(t, ctx, dir, "--http", tc.http)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(serveErr.String(), "--http "+tc.http+" listens beyond loopback without TLS: bearer tokens and customer data cross the network in clear")
		if warned != tc.warn {
			t.Errorf("serve --http %s with tokens, no TLS: warned %v, want %v:\n%s", tc.http, warned, tc.warn, serveErr.String())
		}
	}
}

// TestServeInsecureNoAuth: --insecure-no-auth lets serve listen beyond
// loopback without tokens, HTTP and the embedded NATS alike.
func TestServeInsecureNoAuth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveErr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		a := newApp(nil, &bytes.Buffer{}, serveErr)
		a.getenv = func(string) string { return "" }
		done <- a.execute(ctx, []string{"serve", "--data", t.TempDir(), "--insecure-no-auth",
			"--http", "0.0.0.0:0", "--nats-listen", "0.0.0.0:-1", "--log-level", "error"})
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(serveErr.String(), "journey serving"); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("serve --insecure-no-auth stopped: %v\n%s", err, serveErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 20s:\n%s", serveErr.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServeWithAuth: with DATA/auth/tokens.json serve turns access control
// on: a request without a token is 401, /healthz stays open, the --server
// commands send --token and print a refusal as one clear line; no token
// appears in the serve's log or its metrics.
func TestServeWithAuth(t *testing.T) {
	dir := t.TempDir() + "/data"
	tok := map[string]string{}
	for _, role := range []string{"admin", "reader", "analyst"} {
		tok[role] = strings.TrimSpace(mustRun(t, nil, "token", "create", "--data", dir, "--role", role, "--name", "t-"+role))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, httpURL, done, serveErr := startServe(t, ctx, dir)

	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", httpURL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/v1/segments", ""); code != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	r := runCLI(t, nil, "segments", "--server", httpURL)
	if r.code != 1 || !strings.Contains(r.err.Error(), "refused the request (401)") || !strings.Contains(r.err.Error(), "pass --token or set $JOURNEY_TOKEN") ||
		strings.Contains(r.err.Error(), "\n") {
		t.Errorf("segments --server without a token: exit %d %v", r.code, r.err)
	}
	r = runCLI(t, nil, "segments", "--server", httpURL, "--token", tok["reader"])
	if r.code != 1 || !strings.Contains(r.err.Error(), `refused the request (403): token "t-reader" has role reader; GET /v1/segments needs analyst (or admin)`) {
		t.Errorf("segments --server as a reader: exit %d %v", r.code, r.err)
	}
	mustRun(t, nil, "segments", "--server", httpURL, "--token", tok["analyst"])
	// $JOURNEY_TOKEN when --token is not given.
	env := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{})
	env.getenv = func(k string) string {
		if k == TokenEnv {
			return tok["analyst"]
		}
		return ""
	}
	if err := env.execute(context.Background(), []string{"segments", "--server", httpURL}); err != nil {
		t.Errorf("segments --server with $JOURNEY_TOKEN: %v", err)
	}
	mustRun(t, nil, "verify", "--server", httpURL, "--token", tok["admin"])

	code, metrics := get("/metrics", tok["admin"])
	if code != 200 || !strings.Contains(metrics, `journey_http_refusals_total{reason="forbidden",route="GET /v1/segments"} 1`) {
		t.Errorf("/metrics: %d, refusals:\n%s", code, grepLines(metrics, "refusals"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for role, tk := range tok {
		if strings.Contains(metrics, tk) || strings.Contains(serveErr.String(), tk) {
			t.Errorf("the %s token is in the metrics or serve's log", role)
		}
	}
}

func grepLines(s, sub string) string {
	var b bytes.Buffer
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			b.WriteString(l)
		}
	}
	return b.String()
}
