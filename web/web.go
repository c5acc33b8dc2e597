// Package web is journey's web page, served by `journey serve` under
// /ui/: find a customer, read their story, see the population, check the
// log. Pages are rendered on the server with html/template (every value
// that came from a touchpoint is escaped), charts are SVG drawn on the
// server, the one stylesheet is embedded; no JavaScript is needed to read.
//
// With access control (Options.Auth) a user logs in with a token, kept in
// an HttpOnly, SameSite=Strict cookie (Secure over TLS), and every page
// needs a role: reader for the customer pages, analyst for the dashboard
// and the population lists, auditor for the chain status and the
// quarantine, admin for the quarantine retry (a POST with a CSRF token).
// Without Options.Auth (the loopback demo) the pages are open, as the
// API is.
package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/journey-cdp/journey/auth"
	"github.com/journey-cdp/journey/checkpoint"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CookieName is the cookie that holds the logged-in token.
const CookieName = "journey_token"

// Options are what the pages read.
type Options struct {
	Store       *eventstore.Store
	Views       *projections.Views
	Auth        *auth.Authorizer   // nil: pages open to everyone
	Checkpoints *checkpoint.Keeper // nil: no checkpoint shown
	Logger      *slog.Logger       // nil: discard
	Clock       func() time.Time   // nil: time.Now (quarantine retry)
	// Overview tunes how the dashboard's overview of now is kept up to
	// date in the background (nil: defaults; see projections.OverviewOptions).
	Overview *projections.OverviewOptions
	// Ingest, when set, reports the ingest's position and lag for the audit
	// page (journey serve wires the ingester and its metrics).
	Ingest func() IngestStatus
}

// IngestStatus is the ingest as the audit page shows it (Options.Ingest).
type IngestStatus struct {
	// StreamPosition is the stream sequence the log holds (the ingester's
	// position: every message up to it is in the log or the quarantine).
	StreamPosition uint64
	// Pending is the stream's messages after that position (the consumer's
	// lag); AckPending those taken from the stream and not yet in the log.
	// Both are polled by the ingester (every few seconds).
	Pending, AckPending float64
	// Problem is why the ingest is not ready ("" when it is).
	Problem string
}

// UI is the web page's handler.
type UI struct {
	o      Options
	mux    *http.ServeMux
	pages  map[string]*template.Template
	secret [32]byte                    // CSRF tokens are HMAC(secret, session token)
	ov     *projections.OverviewKeeper // the dashboard of now (nil without views)
	rates  *rateSampler                // the audit page's rates (nil without a log)
}

// New returns the web page's handler; it serves paths under /ui/.
func New(o Options) *UI {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	u := &UI{o: o, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	_, _ = rand.Read(u.secret[:])
	if o.Views != nil {
		u.ov = o.Views.KeepOverview(o.Overview)
	}
	if o.Store != nil {
		u.rates = startRates(o.Store, o.Views)
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	for _, p := range []string{"login", "search", "customer", "dashboard", "audit", "error"} {
		u.pages[p] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+p+".html"))
	}
	static, _ := fs.Sub(staticFS, "static")
	u.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", cacheFor(http.FileServerFS(static))))
	u.mux.HandleFunc("GET /ui/login", u.loginForm)
	u.mux.HandleFunc("POST /ui/login", u.login)
	u.mux.HandleFunc("POST /ui/logout", u.logout)
	u.mux.HandleFunc("GET /ui/{$}", u.page(u.search, auth.Reader, auth.Analyst))
	u.mux.HandleFunc("GET /ui/customers", u.page(u.search, auth.Reader, auth.Analyst))
	u.mux.HandleFunc("GET /ui/customers/{id}", u.page(u.customer, auth.Reader))
	u.mux.HandleFunc("GET /ui/dashboard", u.page(u.dashboard, auth.Analyst))
	u.mux.HandleFunc("GET /ui/audit", u.page(u.audit, auth.Auditor))
	u.mux.HandleFunc("POST /ui/audit/retry", u.page(u.retry, auth.Admin))
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", Message: "There is no page at " + r.URL.Path + "."})
	})
	return u
}

// Close stops the UI's background work: the dashboard's overview keeper
// and the audit page's rate sampler. (Both also stop when the views are
// closed.) The handler still answers; the dashboard of now then fails.
func (u *UI) Close() {
	if u.ov != nil {
		u.ov.Close()
	}
	if u.rates != nil {
		u.rates.close()
	}
}

// OverviewPasses counts the passes over the customers the dashboard's
// overview keeper made (requests for the dashboard of now make none).
func (u *UI) OverviewPasses() uint64 {
	if u.ov == nil {
		return 0
	}
	return u.ov.Passes()
}

// Mount serves ui under /ui/, redirects / to /ui/, and serves everything
// else with api. A path outside /ui is handed to api as written: a
// ServeMux here would redirect one with "//", "." or ".." segments to the
// cleaned path before api could answer it (api answers 404, naming the
// clean path).
func Mount(api http.Handler, ui *UI) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ui/", ui)
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusFound))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.Handle("/", api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/" || p == "/ui" || strings.HasPrefix(p, "/ui/") {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	u.mux.ServeHTTP(w, r)
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// session is who a page is served to.
type session struct {
	p     auth.Principal
	token string // the cookie's token ("" without auth)
	open  bool   // no access control
}

// may reports whether the session's role allows one of needs.
func (s *session) may(needs ...auth.Role) bool { return s.open || s.p.Role.AllowsAny(needs...) }

type pageFunc func(w http.ResponseWriter, r *http.Request, s *session)

// page wraps fn so that it runs only for a session whose role allows one
// of needs: without a good token cookie the login page (303), with a role
// that does not allow it a 403 page naming the role needed.
func (u *UI) page(fn pageFunc, needs ...auth.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if u.o.Auth == nil {
			fn(w, r, &session{open: true})
			return
		}
		c, err := r.Cookie(CookieName)
		if err != nil || c.Value == "" {
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		route := r.Pattern // "GET /ui/dashboard"
		p, ref := u.o.Auth.Check(route, []string{"Bearer " + c.Value}, needs...)
		if ref != nil {
			u.o.Auth.CountHTTP(route, ref)
			if ref.Status == http.StatusUnauthorized {
				clearCookie(w, r)
				u.render(w, r, http.StatusUnauthorized, "login", &view{Title: "Log in", Message: ref.Message, Next: r.URL.RequestURI()})
				return
			}
			s := &session{p: p, token: c.Value}
			u.render(w, r, http.StatusForbidden, "error", &view{Title: "Not allowed", S: s, CSRF: u.csrf(s),
				Message: "Your token " + p.Name + " has role " + string(p.Role) + "; this page needs " + auth.NeedsText(needs) + "."})
			return
		}
		fn(w, r, &session{p: p, token: c.Value})
	}
}

// csrf is the session's CSRF token: an HMAC of its token under the
// process's secret (no server state; a new process, a new secret).
func (u *UI) csrf(s *session) string {
	m := hmac.New(sha256.New, u.secret[:])
	m.Write([]byte("csrf\x00" + s.token))
	return hex.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether the form's csrf field is the session's.
func (u *UI) checkCSRF(r *http.Request, s *session) bool {
	got := r.PostFormValue("csrf")
	want := u.csrf(s)
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if u.o.Auth == nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	u.render(w, r, http.StatusOK, "login", &view{Title: "Log in", Next: safeNext(r.URL.Query().Get("next"))})
}

// safeNext is next when it is a path of this web page, else /ui/.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/ui/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/ui/"
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if u.o.Auth == nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	if tok == "" {
		u.render(w, r, http.StatusUnauthorized, "login", &view{Title: "Log in", Message: "Paste a token (journey token create makes one).", Next: next})
		return
	}
	_, ref := u.o.Auth.Check("POST /ui/login", []string{"Bearer " + tok}, auth.Roles...)
	if ref != nil {
		u.o.Auth.CountHTTP("POST /ui/login", ref)
		u.render(w, r, http.StatusUnauthorized, "login", &view{Title: "Log in", Message: ref.Message, Next: next})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/ui/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	clearCookie(w, r)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/ui/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// view is what a template is given: the page's own data in Data.
type view struct {
	Title   string
	Message string // an error or notice, shown on top
	Next    string // login: where to go after
	S       *session
	CSRF    string
	AsOf    string // the as-of of the page (YYYY-MM-DD or RFC 3339; "" now)
	Data    any
	size    int // what the page's data will take, roughly (0: small)
}

// Nav says which links the session may follow.
func (v *view) Nav() map[string]bool {
	if v.S == nil {
		return nil
	}
	return map[string]bool{
		"search":    v.S.may(auth.Reader, auth.Analyst),
		"dashboard": v.S.may(auth.Analyst),
		"audit":     v.S.may(auth.Auditor),
		"logout":    !v.S.open,
	}
}

// Who names the session's token ("" without auth).
func (v *view) Who() string {
	if v.S == nil || v.S.open {
		return ""
	}
	return v.S.p.Name + " (" + string(v.S.p.Role) + ")"
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	if v.S != nil && v.CSRF == "" {
		v.CSRF = u.csrf(v.S)
	}
	t := u.pages[page]
	b := renderBufs.Get().(*bytes.Buffer)
	b.Grow(v.size + 32<<10) // once, not doubling through a large page
	defer func() {
		if b.Cap() <= 4<<20 { // keep no giant buffer
			b.Reset()
			renderBufs.Put(b)
		}
	}()
	if err := t.ExecuteTemplate(b, "layout.html", v); err != nil {
		u.o.Logger.Error("web: render", "page", page, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// renderBufs are the pages' render buffers, reused.
var renderBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}
