package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is a backend that counts the connections it accepted.
type countingServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func directGet(t *testing.T, d *direct, ctx context.Context, method, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d.RoundTrip(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return string(b)
}

// Requests read to their end share one connection, whatever their answer.
func TestDirectKeepsTheConnectionAlive(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/chunked":
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "chunk")
		case "/hint":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			fmt.Fprint(w, "after the hint")
		default:
			fmt.Fprint(w, "ok")
		}
	})
	d := newDirect(time.Second)
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/", "ok"}, {"HEAD", "/", ""}, {"GET", "/204", ""}, {"GET", "/chunked", "chunk"},
		{"GET", "/hint", "after the hint"}, {"DELETE", "/", "ok"}, {"GET", "/", "ok"},
	} {
		resp, err := directGet(t, d, context.Background(), tc.method, s.URL+tc.path)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if got := readAll(t, resp); got != tc.want {
			t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections for requests in turn, want 1", n)
	}
}

// A connection is not reused after a body closed before its end, a
// backend's Connection: close, or the backend closing it while idle; no
// request fails for it.
func TestDirectDropsConnectionsThatCannotBeReused(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprint(w, strings.Repeat("x", 100<<10))
	})
	d := newDirect(time.Second)
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := directGet(t, d, context.Background(), "GET", s.URL+path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp
	}
	readAll(t, get("/"))
	resp := get("/") // its body left half read
	if _, err := resp.Body.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	readAll(t, get("/"))
	if n := s.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the half-read one must not be reused", n)
	}
	readAll(t, get("/close"))
	readAll(t, get("/"))
	if n := s.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3: the closed one must not be reused", n)
	}
	// The backend closes its idle connections; the next request opens
	// a new one instead of failing.
	s.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	readAll(t, get("/"))
	if n := s.conns.Load(); n != 4 {
		t.Errorf("%d connections, want 4", n)
	}
}

// A backend that closes a kept connection without a word after answering
// (as at the end of its keep-alive timeout) costs no request.
func TestDirectResendsOnAConnectionClosedWhileIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				// One answer per connection, closed without Connection: close.
			}()
		}
	}()
	d := newDirect(time.Second)
	for i := range 5 {
		resp, err := directGet(t, d, context.Background(), "GET", "http://"+ln.Addr().String()+"/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readAll(t, resp); got != "ok" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	if n := accepted.Load(); n != 5 {
		t.Errorf("%d connections for 5 requests, want 5", n)
	}
}

// A backend that does not answer in time, or a client that leaves, ends
// the exchange with the right error.
func TestDirectTimesOutAndFollowsTheClient(t *testing.T) {
	release := make(chan struct{})
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	d := newDirect(100 * time.Millisecond)
	_, err := directGet(t, d, context.Background(), "GET", s.URL)
	if !isTimeout(err) {
		t.Errorf("a silent backend: %v, want a timeout", err)
	}
	d = newDirect(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = directGet(t, d, ctx, "GET", s.URL)
	if err != context.DeadlineExceeded || time.Since(start) > 2*time.Second {
		t.Errorf("the client left: %v after %v, want its context's error at once", err, time.Since(start))
	}
	port := freePort(t)
	if _, err := directGet(t, d, context.Background(), "GET", fmt.Sprintf("http://127.0.0.1:%d/", port)); !isDialError(err) {
		t.Errorf("nothing listening: %v, want a dial error (the passive check)", err)
	}
}
