package proxy

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// Malformed and smuggling-shaped requests, sent raw: each is refused with
// its status and none reaches the backend.
func TestMalformedRequestsAreRefusedBeforeAnyBackend(t *testing.T) {
	w := newWeb(t, "w")
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(5)}})
	p.MaxURI = 100
	p.MaxHeader = 4096
	p.MaxRequestBody = 10
	runRole(t, p)
	addr := listenAddr(p.Listeners[0])
	for _, tc := range []struct {
		name string
		raw  string
		want int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400},
		{"two different CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"two equal CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nab", 400},
		{"signed CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab", 400},
		{"hex CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x2\r\n\r\nab", 400},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"obfuscated chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501},
		{"TE with space before colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"bad escape in the path", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad escape in the query", "GET /a?b=%z1 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"truncated escape", "GET /a?b=%4 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"method not allowed", "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 405},
		{"URI too long", "GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 10000) + "\r\n\r\n", 431},
		{"body too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890", 413},
		{"chunked body too large", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n01234567890\r\n0\r\n\r\n", 413},
		{"malformed chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", 400},
		{"bad version", "GET / HTTP/1.7x\r\nHost: x\r\n\r\n", 400},
		{"bare LF line ends", "GET / HTTP/1.1\nHost: x\n\n", 400},
		{"one bare LF", "GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.hits.Load()
			if got := rawStatus(t, addr, tc.raw); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
			if w.hits.Load() != before {
				t.Error("the request reached the backend")
			}
		})
	}
	// And a well-formed request on the same path does reach it.
	before := w.hits.Load()
	if got := rawStatus(t, addr, "POST /a?b=%41 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"); got != 200 || w.hits.Load() != before+1 {
		t.Errorf("a valid request got %d and reached the backend %d times", got, w.hits.Load()-before)
	}
}

// rawStatus writes raw on a new connection and reads the status of the
// answer.
func rawStatus(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Each listener refuses the methods it does not accept with 405 and its
// Allow list, before any backend sees the request; one without methods
// of its own takes the proxy's.
func TestListenersAcceptTheirOwnMethods(t *testing.T) {
	w := newWeb(t, "w")
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(5)}})
	p.AllowedMethods = []string{"GET", "HEAD"}
	p.Listeners = append(p.Listeners, spec.Listener{Name: "dav", Protocol: "http", Address: "127.0.0.1", Port: freePort(t),
		Methods: []string{"GET", "PROPFIND", "MKCOL"}})
	runRole(t, p)
	www, dav := "http://"+listenAddr(p.Listeners[0]), "http://"+listenAddr(p.Listeners[1])
	for _, tc := range []struct {
		url, method string
		want        int
		allow       string
	}{
		{www, "GET", 200, ""},
		{www, "HEAD", 200, ""},
		{www, "PROPFIND", 405, "GET, HEAD"},
		{www, "POST", 405, "GET, HEAD"},
		{dav, "PROPFIND", 200, ""},
		{dav, "MKCOL", 200, ""},
		{dav, "HEAD", 405, "GET, PROPFIND, MKCOL"},
	} {
		before := w.hits.Load()
		resp, err := client.Do(mustReq(t, tc.method, tc.url+"/x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: got %d Allow %q, want %d Allow %q", tc.method, tc.url, resp.StatusCode, resp.Header.Get("Allow"), tc.want, tc.allow)
		}
		if reached := w.hits.Load() != before; reached != (tc.want == 200) {
			t.Errorf("%s %s: reached the backend: %v", tc.method, tc.url, reached)
		}
	}
}
