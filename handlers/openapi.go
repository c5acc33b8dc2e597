package handlers

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3.1 description of the HTTP API, served at
// GET /v1/openapi.json; openapi_test.go checks that it names every
// registered route and no other.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 description of the HTTP API.
func OpenAPI() []byte { return openAPIDoc }

func (h *httpHandler) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}

// open registers fn at pattern for everyone, with or without access control.
func (h *httpHandler) open(mux *http.ServeMux, pattern string, fn http.HandlerFunc) {
	h.routes = append(h.routes, pattern)
	mux.HandleFunc(pattern, fn)
}
