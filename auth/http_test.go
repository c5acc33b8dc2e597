package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/journey-cdp/journey/auth"
)

// TestCheckAuthorizationForms: the scheme is matched without regard to
// case and surrounding space is ignored; an Authorization that is not one
// "Bearer <token>" is 401 invalid without echoing what was sent.
func TestCheckAuthorizationForms(t *testing.T) {
	tk, _ := openTokens(t)
	text, _, err := tk.Create("r", auth.Reader, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewAuthorizer(tk, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"Bearer " + text, "bearer " + text, "  BEARER   " + text + " "} {
		if p, ref := a.Check("GET /x", []string{v}, auth.Reader); ref != nil || p.Name != "r" {
			t.Errorf("%q: %+v %v", v, p, ref)
		}
	}
	for _, c := range []struct {
		values []string
		status int
		reason string
	}{
		{nil, 401, "missing"},
		{[]string{""}, 401, "missing"},
		{[]string{"Basic " + text}, 401, "invalid"},
		{[]string{text}, 401, "invalid"},
		{[]string{"Bearer"}, 401, "invalid"},
		{[]string{"Bearer " + text, "Bearer " + text}, 401, "invalid"},
		{[]string{"Bearer " + text + "x"}, 401, "invalid"},
	} {
		_, ref := a.Check("GET /x", c.values, auth.Reader)
		if ref == nil || ref.Status != c.status || ref.Reason != c.reason || ref.Code != auth.CodeUnauthorized {
			t.Errorf("%q: %+v, want %d %s", c.values, ref, c.status, c.reason)
			continue
		}
		if strings.Contains(ref.Message, text) || strings.Contains(string(ref.Body()), text) {
			t.Errorf("%q: the refusal echoes the token: %s", c.values, ref.Body())
		}
	}
	_, ref := a.Check("GET /v1/segments", []string{"Bearer " + text}, auth.Analyst)
	if ref == nil || ref.Status != 403 || ref.Reason != "forbidden" ||
		ref.Message != `token "r" has role reader; GET /v1/segments needs analyst (or admin)` {
		t.Errorf("reader on an analyst route: %+v", ref)
	}
}

// TestForbiddenNamesEveryRoleThatMay: a 403 names every role that would
// have been allowed, including the auditor on a reader's route (an auditor
// has the reader's reads), not only the roles the route lists.
func TestForbiddenNamesEveryRoleThatMay(t *testing.T) {
	tk, _ := openTokens(t)
	text, _, err := tk.Create("a", auth.Analyst, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewAuthorizer(tk, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ref := a.Check("GET /v1/customers/{id}", []string{"Bearer " + text}, auth.Reader)
	want := `token "a" has role analyst; GET /v1/customers/{id} needs reader or auditor (or admin)`
	if ref == nil || ref.Status != 403 || ref.Message != want {
		t.Errorf("analyst on a reader route: %+v, want %q", ref, want)
	}
}
