package cli

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-json-experiment/json"
)

// ServerFileName is the file in a data directory where a running journey
// serve says where it answers; it is removed when serve stops cleanly.
const ServerFileName = "SERVER"

// ServerInfo is what <data>/SERVER holds: the running serve's addresses.
type ServerInfo struct {
	// HTTP is the base URL of its HTTP API ("" when serve runs with --http off).
	HTTP string `json:"http,omitempty"`
	// NATS is the URL of the NATS server it ingests from.
	NATS string `json:"nats,omitempty"`
	PID  int    `json:"pid"`
}

// WriteServerFile records info in dataDir's SERVER file (atomically).
func WriteServerFile(dataDir string, info ServerInfo) error {
	b, err := json.Marshal(info, json.Deterministic(true))
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, ServerFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// RemoveServerFile removes dataDir's SERVER file if it is this process's.
func RemoveServerFile(dataDir string) error {
	info, err := ReadServerFile(dataDir)
	if err != nil || info == nil || info.PID != os.Getpid() {
		return err
	}
	err = os.Remove(filepath.Join(dataDir, ServerFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// ReadServerFile reads dataDir's SERVER file: nil when there is none or it
// names a process that is gone (a serve that crashed).
func ReadServerFile(dataDir string) (*ServerInfo, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, ServerFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var info ServerInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, nil // not ours to judge: as if absent
	}
	if info.PID > 0 && !processAlive(info.PID) {
		return nil, nil
	}
	return &info, nil
}

// HTTPURL is the URL a client on this machine uses to reach a server
// listening on addr (host:port): an unspecified host (":8080", "0.0.0.0",
// "::") becomes the loopback address.
func HTTPURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// ListenError says that an address cannot be listened on.
type ListenError struct {
	What string // "HTTP", "embedded NATS"
	Addr string
	Flag string // the flag that sets it, e.g. "--http"
	Err  error
}

func (e *ListenError) Error() string {
	cause := e.Err.Error()
	var op *net.OpError
	if errors.As(e.Err, &op) && op.Err != nil {
		cause = op.Err.Error()
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			cause = se.Err.Error()
		}
	}
	hint := "pass another " + e.Flag + " HOST:PORT"
	if isAddrInUse(e.Err) {
		cause += " (another process listens there: a journey serve already running?)"
	}
	return fmt.Sprintf("%s cannot listen on %s: %s; %s", e.What, e.Addr, cause, hint)
}

func (e *ListenError) Unwrap() error { return e.Err }

// CheckListen fails at once with a *ListenError when addr (host:port) cannot
// be listened on, e.g. because another process holds the port. Port 0 or
// -1 (a free port) always passes.
func CheckListen(what, flag, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return &ListenError{What: what, Addr: addr, Flag: flag, Err: errors.New("not HOST:PORT")}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return &ListenError{What: what, Addr: addr, Flag: flag, Err: fmt.Errorf("port %q is not a number", portStr)}
	}
	if port <= 0 {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, portStr))
	if err != nil {
		return &ListenError{What: what, Addr: addr, Flag: flag, Err: err}
	}
	return ln.Close()
}
