package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/rofs"
	"github.com/journey-cdp/journey/keystore"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// DataEnv is the environment variable that names the default data directory.
const DataEnv = "JOURNEY_DATA"

// DataDir resolves the data directory: flag when set, else $JOURNEY_DATA
// (getenv is os.Getenv or a test's stand-in), else ./data.
func DataDir(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if getenv != nil {
		if d := getenv(DataEnv); d != "" {
			return d
		}
	}
	return "./data"
}

// LogDir and ViewsDir are the fixed places of the two databases.
func LogDir(dataDir string) string { return filepath.Join(dataDir, "log") }

// ViewsDir is where the projections' database lives.
func ViewsDir(dataDir string) string { return filepath.Join(dataDir, "views") }

// InUseError says that another process holds the data directory's log
// open: a running journey serve (Server says where it answers, from
// <data>/SERVER) or another command (an import, a rebuild).
type InUseError struct {
	Dir    string
	Server *ServerInfo // nil: not a serve, or one that did not say where
	// Hint is what the command can do instead ("pass --server URL");
	// empty: stop the other process first.
	Hint string
	Err  error
}

func (e *InUseError) Error() string {
	hint := e.Hint
	var who string
	switch {
	case e.Server != nil && e.Server.HTTP != "":
		who = "journey serve at " + e.Server.HTTP
	case e.Server != nil:
		who = "journey serve (HTTP off"
		if e.Server.NATS != "" {
			who += ", NATS " + e.Server.NATS
		}
		who += ")"
	default:
		who = "another journey process (a serve, an import or a rebuild)"
	}
	if hint == "" {
		hint = "stop it first"
	}
	return fmt.Sprintf("data dir %s is in use by %s; %s", e.Dir, who, hint)
}

func (e *InUseError) Unwrap() error { return e.Err }

// NewInUseError is the *InUseError of dataDir, with what its SERVER file says.
func NewInUseError(dataDir string, err error) *InUseError {
	info, _ := ReadServerFile(dataDir)
	return &InUseError{Dir: dataDir, Server: info, Err: err}
}

// noLog is the error of a data dir whose log has no MANIFEST: a
// *NoDataError when there is no log at all, a *eventstore.DamageError
// when the log's other files are there (its MANIFEST was lost), an error
// naming it when the data dir is not a directory.
func noLog(dataDir, dir string) error {
	if fi, err := os.Stat(dataDir); err == nil && !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dataDir)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("the log %s is not a directory", dir)
	}
	var found []string
	for _, pattern := range []string{eventstore.HeadFileName, "*.sst", "*.log"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range m {
			found = append(found, filepath.Base(f))
		}
	}
	if len(found) == 0 {
		return &NoDataError{Dir: dataDir}
	}
	if len(found) > 3 {
		found = append(found[:3], "…")
	}
	return &eventstore.DamageError{Dir: dir, Reason: fmt.Sprintf("it has no MANIFEST (Pebble's list of the log's files) but holds the log's files (%s)", strings.Join(found, ", "))}
}

// NoDataError says that the data directory holds no log yet.
type NoDataError struct{ Dir string }

func (e *NoDataError) Error() string {
	return fmt.Sprintf("no journey data in %s (import or serve first, or pass --data DIR)", e.Dir)
}

// ReadOnlyError says that a command that writes was given a data dir on a
// read-only file system (the read commands open it read-only and work
// there).
type ReadOnlyError struct {
	Dir string
	// Command names the command ("import"); empty: "this command".
	Command string
	Err     error
}

func (e *ReadOnlyError) Error() string {
	who := "this command"
	if e.Command != "" {
		who = "journey " + e.Command
	}
	return fmt.Sprintf("data dir %s is on a read-only file system: %s needs to write there", e.Dir, who)
}

func (e *ReadOnlyError) Unwrap() error { return e.Err }

// readOnly is err as a *ReadOnlyError of dataDir when it is a write
// refused by a read-only file system, else err.
func readOnly(dataDir string, err error) error {
	if err != nil && rofs.IsReadOnly(err) {
		return &ReadOnlyError{Dir: dataDir, Err: err}
	}
	return err
}

// IsLockError reports whether err is Pebble failing to take a database's
// LOCK because another process (or this one) holds it.
func IsLockError(err error) bool {
	if err == nil {
		return false
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "open" {
		// Opening LOCK failed (permission denied, read-only, missing):
		// the lock was never tried, so nothing is known to hold it. A
		// held lock is fcntl's bare EAGAIN or EACCES.
		return false
	}
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "lock held by current process") ||
		strings.Contains(msg, "resource temporarily unavailable") && strings.Contains(msg, "LOCK")
}

// CheckFree fails with an *InUseError when another process holds the
// Pebble database in dir. A missing dir is free.
func CheckFree(dataDir, dir string) error {
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		if IsLockError(err) {
			return NewInUseError(dataDir, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return nil // let Open report anything else
	}
	return lock.Close()
}

// OpenLog opens the log of dataDir. With create false a missing log is a
// *NoDataError (read commands should not create an empty data dir); a log
// held by a running server is an *InUseError.
func OpenLog(dataDir string, create bool, opts *eventstore.Options) (*eventstore.Store, error) {
	return OpenLogKeys(dataDir, create, opts, "")
}

// NoKeys as OpenLogKeys' masterKeyFile opens the log without its keys:
// the chain verifies, the events of an encrypted log do not read.
const NoKeys = "\x00no keys"

// OpenLogKeys is OpenLog with the data dir's master key in masterKeyFile
// ("": $JOURNEY_MASTER_KEY, then <data>/keys/master.key). A new data dir
// is encrypted (keystore.OpenDataDir); a plaintext one stays so.
func OpenLogKeys(dataDir string, create bool, opts *eventstore.Options, masterKeyFile string) (*eventstore.Store, error) {
	dir := LogDir(dataDir)
	if !create {
		if m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(m) == 0 {
			return nil, noLog(dataDir, dir)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "marker.manifest.*")); len(m) == 0 {
			if _, err := os.Stat(filepath.Join(dir, "CURRENT")); errors.Is(err, fs.ErrNotExist) {
				// Pebble would call it no database at all.
				return nil, &eventstore.DamageError{Dir: dir, Reason: "it has no marker.manifest.* file (Pebble's pointer to the current MANIFEST)"}
			}
		}
	} else if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, readOnly(dataDir, err)
	}
	if err := CheckFree(dataDir, dir); err != nil {
		return nil, err
	}
	var o eventstore.Options
	if opts != nil {
		o = *opts
	}
	if o.Sealer == nil && masterKeyFile != NoKeys {
		ks, err := keystore.OpenDataDir(dataDir, keystore.DataDirOptions{MasterKeyFile: masterKeyFile,
			Create: create, ReadOnly: o.ReadOnly, Logger: o.Logger})
		if err != nil {
			if IsLockError(err) {
				return nil, NewInUseError(dataDir, err)
			}
			return nil, readOnly(dataDir, err)
		}
		if ks != nil {
			o.Sealer, o.CloseSealer = ks, true
		}
	}
	s, err := eventstore.Open(dir, &o)
	if err != nil {
		if c, ok := o.Sealer.(interface{ Close() error }); ok && o.CloseSealer {
			_ = c.Close()
		}
		if IsLockError(err) {
			return nil, NewInUseError(dataDir, err)
		}
		return nil, readOnly(dataDir, err)
	}
	if s.Sealed() && o.Sealer == nil && masterKeyFile != NoKeys {
		// No key store at all beside an encrypted log: every read would
		// fail record by record asking for a master key.
		_ = s.Close()
		return nil, fmt.Errorf("the log in %s is encrypted, but its key store %s is missing: restore it from a backup (without it no event can be read; journey verify checks the chain without it)",
			dir, keystore.KeysDir(dataDir))
	}
	return s, nil
}

// ParseAsOf parses an --as-of instant: RFC 3339 (with or without
// fractional seconds), or a plain date YYYY-MM-DD meaning the end of that
// day in UTC (23:59:59.999999999), so that the whole day is included.
func ParseAsOf(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d, derr := time.Parse(time.DateOnly, s)
		if derr != nil {
			return time.Time{}, fmt.Errorf("as-of %q is neither RFC 3339 (2006-01-02T15:04:05Z) nor a date (2006-01-02)", s)
		}
		t = d.Add(24*time.Hour - time.Nanosecond)
	}
	// The instants an event may have, as HTTP's as_of takes them.
	if rule := journey.TimeRangeRule(t); rule != "" {
		return time.Time{}, fmt.Errorf("as-of %q %s", s, rule)
	}
	return t, nil
}

// IsTerminal reports whether w is a terminal (progress bars only go there).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Progress is a progress bar on a terminal and nothing elsewhere. Its
// methods are safe on a nil *Progress.
type Progress struct {
	bar  *progressbar.ProgressBar
	desc string
	// events mode (NewByteProgress): the event count shown beside the bytes.
	lastDescribe time.Time
}

// NewProgress returns a bar of max events (-1: unknown, a spinner) on w
// when w is a terminal, else nil; its rate is in events per second.
func NewProgress(w io.Writer, max int64, desc string) *Progress {
	if !IsTerminal(w) {
		return nil
	}
	return newProgress(w, max, desc, false)
}

// NewByteProgress returns a bar of max bytes of input (-1: unknown) on w
// when w is a terminal, else nil: it shows bytes and bytes per second, and
// Events puts the count of events read so far in its description.
func NewByteProgress(w io.Writer, max int64, desc string) *Progress {
	if !IsTerminal(w) {
		return nil
	}
	return newProgress(w, max, desc, true)
}

func newProgress(w io.Writer, max int64, desc string, bytes bool) *Progress {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionSetItsString("events"))
	}
	return &Progress{bar: progressbar.NewOptions64(max, opts...), desc: desc}
}

// Events shows n events done in the description of a byte bar (at most
// ten times a second).
func (p *Progress) Events(n int64) {
	if p == nil {
		return
	}
	if now := time.Now(); now.Sub(p.lastDescribe) >= 100*time.Millisecond {
		p.lastDescribe = now
		p.bar.Describe(fmt.Sprintf("%s %d events", p.desc, n))
	}
}

// Add advances the bar by n.
func (p *Progress) Add(n int) {
	if p != nil {
		_ = p.bar.Add(n)
	}
}

// SetMax changes the bar's total (work found on the way, e.g. a rebuild's
// later rounds).
func (p *Progress) SetMax(n int64) {
	if p != nil {
		p.bar.ChangeMax64(n)
	}
}

// Set moves the bar to n.
func (p *Progress) Set(n int64) {
	if p != nil {
		_ = p.bar.Set64(n)
	}
}

// Finish completes and clears the bar.
func (p *Progress) Finish() {
	if p != nil {
		_ = p.bar.Finish()
	}
}

// WriteJSON writes v as one line of JSON (json v2, deterministic map order).
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// RawJSON embeds already-encoded JSON (a stored event) in an output object
// as it is.
type RawJSON = jsontext.Value

// TerminalSafe is s fit for a terminal: control characters other than
// newline and tab (an escape sequence, a carriage return, a bell) become
// visible escapes such as \x1b, and bytes that are not UTF-8 become
// U+FFFD, so that text which came from a touchpoint can neither move the
// cursor, retitle the window nor clear the screen.
func TerminalSafe(s string) string {
	clean := utf8.ValidString(s)
	for i := 0; clean && i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || c == 0xc2 {
			clean = false // 0xc2 leads the C1 controls U+0080..U+009F
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
