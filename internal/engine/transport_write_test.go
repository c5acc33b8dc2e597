package engine

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// serveWith runs h behind t's HTTP server on a loopback port.
func serveWith(tb testing.TB, t Transport, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv, serve, err := t.httpServer(h, ln, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = serve() }()
	tb.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestWriteTimeoutPerWrite: with a 1 s write timeout, a 24 MB answer that
// a client reads steadily for about 1.5 s arrives whole (the deadline is
// renewed per write), and the same answer to a client that stops reading
// is cut within about the timeout. (A shorter timeout made a loaded
// machine's scheduling pauses look like a stalled reader.)
func TestWriteTimeoutPerWrite(t *testing.T) {
	const chunk, chunks = 64 << 10, 384 // 24 MB: more than the sockets' buffers hold
	cut := make(chan time.Time, 4)
	addr := serveWith(t, Transport{WriteTimeout: time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := bytes.Repeat([]byte("x"), chunk)
		for range chunks {
			if _, err := w.Write(b); err != nil {
				cut <- time.Now()
				return
			}
		}
	}))

	// A steady reader: 1 MB per 60 ms, about 1.4 s in all.
	start := time.Now()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	buf := make([]byte, 1<<20)
	for {
		m, err := io.ReadFull(resp.Body, buf)
		n += int64(m)
		if err != nil {
			break
		}
		time.Sleep(60 * time.Millisecond)
	}
	resp.Body.Close()
	if n != chunk*chunks {
		t.Fatalf("a steady reader got %d bytes of %d in %v", n, chunk*chunks, time.Since(start))
	}
	if el := time.Since(start); el < 1200*time.Millisecond {
		t.Fatalf("the answer took %v: too short to show the deadline renewed", el)
	}

	// A stalled reader: sends the request, never reads.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-cut:
		if el := at.Sub(sent); el > 4*time.Second {
			t.Fatalf("the stalled write was cut after %v", el)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("a client that does not read holds the handler past 8 s")
	}
}

// TestLimitListener: at most n connections are accepted at once; one
// closing lets the next in.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection accepted with a cap of 2")
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	first.Close() // a second Close releases nothing more
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("the third connection not accepted after one closed")
	}
	second.Close()
}
