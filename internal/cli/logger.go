package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/journey-cdp/journey/internal/errtext"
)

// Logger returns the logger of a CLI command's stores: warnings and errors
// only, one short line each on w ("journey: warning: …"), attribute values
// cut to their first line (Pebble attaches whole stack traces to
// corruption reports; the command's own error says what matters), without
// the Go package prefixes of the stores' messages ("eventstore: …").
func Logger(w io.Writer) *slog.Logger {
	return slog.New(&lineHandler{w: w, mu: &sync.Mutex{}})
}

type lineHandler struct {
	w     io.Writer
	mu    *sync.Mutex
	attrs []slog.Attr
}

// maxAttrLen bounds an attribute value in a log line.
const maxAttrLen = 200

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	level := "warning"
	if r.Level >= slog.LevelError {
		level = "error"
	}
	fmt.Fprintf(&b, "journey: %s: %s", level, firstLine(errtext.WithoutPackages(r.Message)))
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%s", a.Key, firstLine(errtext.WithoutPackages(a.Value.String())))
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &lineHandler{w: h.w, mu: h.mu, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > maxAttrLen {
		s = s[:maxAttrLen] + "…"
	}
	return s
}
