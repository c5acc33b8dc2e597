package jsonerr

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

type inner struct {
	Prior float64  `json:"prior"`
	Names []string `json:"names"`
}

type doc struct {
	Satisfaction inner  `json:"satisfaction"`
	Name         string `json:"name"`
}

func TestDescribe(t *testing.T) {
	for in, want := range map[string]string{
		`{`:                              "invalid JSON at byte 1: unexpected end of JSON input",
		`notjson`:                        "invalid JSON at byte 1: invalid character 'o' in literal null (expecting 'u')",
		`{"foo":1}`:                      `unknown member "foo"`,
		`{"satisfaction":{"bar":1}}`:     `unknown member "bar" in /satisfaction`,
		`{"satisfaction":{"prior":"x"}}`: "/satisfaction/prior must be a JSON number, not a JSON string",
		`{"name":3}`:                     "/name must be a JSON string, not a JSON number",
		`{"satisfaction":{"names":{}}}`:  "/satisfaction/names must be a JSON array, not a JSON object",
	} {
		var d doc
		err := json.Unmarshal([]byte(in), &d, json.RejectUnknownMembers(true))
		if err == nil {
			t.Fatalf("%s decoded", in)
		}
		got := Describe(err)
		if got != want {
			t.Errorf("Describe(%s) = %q, want %q (from %v)", in, got, want, err)
		}
		if strings.Contains(got, "json:") || strings.Contains(got, "jsontext") || strings.Contains(got, "Go ") {
			t.Errorf("Describe(%s) = %q names Go", in, got)
		}
	}
}
