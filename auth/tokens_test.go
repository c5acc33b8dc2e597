package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/auth"
)

func openTokens(t *testing.T) (*auth.Tokens, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth", "tokens.json")
	tk, err := auth.OpenTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return tk, path
}

func TestTokensCreateAuthenticateStoresOnlyHashes(t *testing.T) {
	tk, path := openTokens(t)
	text, info, err := tk.Create("tablet-store-042", auth.Reader, 90*24*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, auth.TokenPrefix) || len(text) != len(auth.TokenPrefix)+43 {
		t.Errorf("token %q: want jy_ + 43 base64url characters", text)
	}
	if info.Hash != "" || info.Expires == nil || info.Role != auth.Reader {
		t.Errorf("info = %+v", info)
	}
	p, err := tk.Authenticate(text)
	if err != nil || p != (auth.Principal{Name: "tablet-store-042", Role: auth.Reader}) {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), text) || strings.Contains(string(b), text[len(auth.TokenPrefix):]) {
		t.Errorf("the file holds the token's text:\n%s", b)
	}
	if !strings.Contains(string(b), `"sha256"`) {
		t.Errorf("the file holds no hash:\n%s", b)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	// Another process (a new Tokens) reads it.
	tk2, err := auth.OpenTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk2.Authenticate(text); err != nil {
		t.Errorf("reopened: %v", err)
	}
	for _, ti := range tk2.List() {
		if ti.Hash != "" {
			t.Errorf("List shows a hash: %+v", ti)
		}
	}
}

func TestTokensRefusals(t *testing.T) {
	tk, _ := openTokens(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tk.SetClock(func() time.Time { return now })
	short, _, err := tk.Create("short", auth.Analyst, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	gone, _, err := tk.Create("gone", auth.Admin, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Revoke("gone"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	for _, c := range []struct {
		token  string
		want   error
		reason string
	}{
		{"", auth.ErrNoToken, "missing"},
		{"jy_nope", auth.ErrBadToken, "invalid"},
		{short, auth.ErrExpired, "expired"},
		{gone, auth.ErrRevoked, "revoked"},
	} {
		_, err := tk.Authenticate(c.token)
		if !errors.Is(err, c.want) || auth.Reason(err) != c.reason {
			t.Errorf("Authenticate(%q) = %v (reason %q), want %v (%s)", c.token, err, auth.Reason(err), c.want, c.reason)
		}
		if c.token != "" && err != nil && strings.Contains(err.Error(), c.token) {
			t.Errorf("the error %q holds the token", err)
		}
	}
}

func TestTokensCreateRules(t *testing.T) {
	tk, _ := openTokens(t)
	if _, _, err := tk.Create("a", auth.Reader, 0, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, prefix string
		role         auth.Role
		want         string
	}{
		{"a", "", auth.Reader, "exists already"},
		{"", "", auth.Reader, "1 to 64"},
		{"has space", "", auth.Reader, "may hold only"},
		{"b", "", "boss", "not a role"},
		{"c", "pos/", auth.Reader, "writer tokens only"},
	} {
		if _, _, err := tk.Create(c.name, c.role, 0, c.prefix); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%q, %q, %q) = %v, want %q", c.name, c.role, c.prefix, err, c.want)
		}
	}
	if _, err := tk.Revoke("nobody"); err == nil || !strings.Contains(err.Error(), `no token named "nobody"`) {
		t.Errorf("Revoke(nobody) = %v", err)
	}
}

// A token revoked by another process (journey token revoke while serve
// runs) is refused by the running one within a second.
func TestTokensNoticeARevokeWithinASecond(t *testing.T) {
	tk, path := openTokens(t)
	text, _, err := tk.Create("till-1", auth.Writer, 0, "pos/")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := tk.Authenticate(text); err != nil || p.SourcePrefix != "pos/" {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	other, err := auth.OpenTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Revoke("till-1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		_, err := tk.Authenticate(text)
		if errors.Is(err, auth.ErrRevoked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v a second after the revoke", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTokensRefuseAFileOthersMayWrite(t *testing.T) {
	tk, path := openTokens(t)
	if _, _, err := tk.Create("a", auth.Reader, 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.OpenTokens(path); err == nil || !strings.Contains(err.Error(), "want 0600") {
		t.Errorf("OpenTokens of a 0666 file = %v", err)
	}
}

func TestParseExpiry(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour} {
		if got, err := auth.ParseExpiry(in); err != nil || got != want {
			t.Errorf("ParseExpiry(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1d", "xd", "soon", "-3h", "1ns", "999ms", "99999999h", "876001h", "36501d"} {
		if _, err := auth.ParseExpiry(in); err == nil || !strings.Contains(err.Error(), "from 1s to 876000h") && !strings.Contains(err.Error(), "from 1 to 36500") {
			t.Errorf("ParseExpiry(%q) = %v, want it refused naming the range", in, err)
		}
	}
	if got, err := auth.ParseExpiry("876000h"); err != nil || got != 876000*time.Hour {
		t.Errorf("ParseExpiry(876000h) = %v, %v", got, err)
	}
}

func TestRoleAllows(t *testing.T) {
	for _, c := range []struct {
		r, need auth.Role
		want    bool
	}{
		{auth.Admin, auth.Writer, true}, {auth.Admin, auth.Auditor, true},
		{auth.Auditor, auth.Reader, true}, {auth.Reader, auth.Auditor, false},
		{auth.Writer, auth.Reader, false}, {auth.Analyst, auth.Reader, false},
		{auth.Reader, auth.Analyst, false}, {auth.Writer, auth.Writer, true},
	} {
		if got := c.r.Allows(c.need); got != c.want {
			t.Errorf("%s.Allows(%s) = %v", c.r, c.need, got)
		}
	}
}
