package health

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// probeOnce builds a Checker for hc and runs one probe of t, as the loop
// does, returning the failure's reason ("" when it passed).
func probeOnce(t *testing.T, hc *spec.HealthCheck, opts Options, tg Target) string {
	t.Helper()
	c, err := New(hc, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	err = c.prober.probe(ctx, tg)
	if err == nil {
		return ""
	}
	return reason(err, ctx.Err() != nil, c.timeout)
}

// target is a Target for a server's host:port.
func target(t *testing.T, hostPort string) Target {
	t.Helper()
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Name: "be", Address: host, Port: p}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := target(t, ln.Addr().String())
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	hc := &spec.HealthCheck{Type: "tcp", TimeoutMS: 2000}
	if got := probeOnce(t, hc, Options{}, target(t, ln.Addr().String())); got != "" {
		t.Errorf("listening port: %q, want a pass", got)
	}
	if got := probeOnce(t, hc, Options{}, closedPort(t)); got != "connect: connection refused" {
		t.Errorf("closed port: %q, want %q", got, "connect: connection refused")
	}
}

// backend is an HTTP backend that answers with a set status and body,
// after an optional delay.
type backend struct {
	mu     sync.Mutex
	status int
	body   string
	delay  time.Duration
}

func (r *backend) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	status, body, delay := r.status, r.body, r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, body)
}

func (r *backend) set(status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.body = status, body
}

func TestHTTPProbe(t *testing.T) {
	rec := &backend{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	tg := target(t, srv.Listener.Addr().String())
	big := strings.Repeat("x", maxBody) + "OK"
	tests := []struct {
		name   string
		hc     spec.HealthCheck
		status int
		body   string
		want   string
	}{
		{"200 by default", spec.HealthCheck{}, 200, "", ""},
		{"302 by default", spec.HealthCheck{}, 302, "", ""},
		{"500 by default", spec.HealthCheck{}, 500, "", "status 500, want 200-399"},
		{"404 by default", spec.HealthCheck{}, 404, "", "status 404, want 200-399"},
		{"expected 200 got 500", spec.HealthCheck{ExpectStatus: []int{200}}, 500, "", "status 500, want 200"},
		{"expected 200 got 302", spec.HealthCheck{ExpectStatus: []int{200}}, 302, "", "status 302, want 200"},
		{"one of a list", spec.HealthCheck{ExpectStatus: []int{200, 204}}, 204, "", ""},
		{"none of a list", spec.HealthCheck{ExpectStatus: []int{200, 204}}, 503, "", "status 503, want one of 200, 204"},
		{"expected 503 for a maintenance page", spec.HealthCheck{ExpectStatus: []int{503}}, 503, "", ""},
		{"body matches", spec.HealthCheck{BodyRegex: `^ok: \d+$`}, 200, "ok: 42", ""},
		{"body does not match", spec.HealthCheck{BodyRegex: `^ok`}, 200, "error", `body (first 65536 bytes) does not match "^ok"`},
		{"match beyond the bounded read fails", spec.HealthCheck{BodyRegex: `OK`}, 200, big, `body (first 65536 bytes) does not match "OK"`},
		{"status checked before body", spec.HealthCheck{BodyRegex: `.`}, 500, "x", "status 500, want 200-399"},
		{"path is sent", spec.HealthCheck{Path: "/healthz?full=1"}, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.set(tt.status, tt.body)
			hc := tt.hc
			hc.Type, hc.TimeoutMS = "http", 5000
			if got := probeOnce(t, &hc, Options{}, tg); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHTTPProbeHostAndPath(t *testing.T) {
	var mu sync.Mutex
	var gotHost, gotURI, gotUA string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotURI, gotUA = r.Host, r.RequestURI, r.UserAgent()
		mu.Unlock()
	}))
	defer srv.Close()
	tg := target(t, srv.Listener.Addr().String())
	for _, tt := range []struct{ host, want string }{
		{"www.example.com", "www.example.com"},
		{"www.example.com:8080", "www.example.com:8080"},
		{"", srv.Listener.Addr().String()},
	} {
		hc := &spec.HealthCheck{Type: "http", Host: tt.host, Path: "/status?x=1", TimeoutMS: 5000}
		if got := probeOnce(t, hc, Options{}, tg); got != "" {
			t.Fatalf("host %q: %s", tt.host, got)
		}
		mu.Lock()
		if gotHost != tt.want || gotURI != "/status?x=1" || gotUA != "hactl-health-check" {
			t.Errorf("host %q: server saw Host %q URI %q agent %q, want Host %q URI /status?x=1", tt.host, gotHost, gotURI, gotUA, tt.want)
		}
		mu.Unlock()
	}
}

func TestHTTPProbeConnectionAndTimeout(t *testing.T) {
	hc := &spec.HealthCheck{Type: "http", TimeoutMS: 5000}
	if got := probeOnce(t, hc, Options{}, closedPort(t)); got != "connect: connection refused" {
		t.Errorf("closed port: %q", got)
	}
	rec := &backend{status: 200, delay: time.Minute}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	hc = &spec.HealthCheck{Type: "http", TimeoutMS: 50}
	if got := probeOnce(t, hc, Options{}, target(t, srv.Listener.Addr().String())); got != "timeout after 50ms" {
		t.Errorf("hanging backend: %q, want %q", got, "timeout after 50ms")
	}
}

func TestHTTPProbeIgnoresEnvironmentProxy(t *testing.T) {
	rec := &backend{status: 200}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	// A proxy that would answer 502: the probe must go to the backend.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	hc := &spec.HealthCheck{Type: "http", TimeoutMS: 5000}
	if got := probeOnce(t, hc, Options{}, target(t, srv.Listener.Addr().String())); got != "" {
		t.Errorf("with HTTP_PROXY set: %q, want a pass", got)
	}
}

func TestHTTPSProbe(t *testing.T) {
	rec := &backend{status: 200, body: "secure ok"}
	srv := httptest.NewUnstartedServer(rec)
	// The handshakes refused on purpose below are not worth a log line.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	tg := target(t, srv.Listener.Addr().String())
	ca := x509.NewCertPool()
	ca.AddCert(srv.Certificate())
	// httptest's certificate is valid for 127.0.0.1 and example.com.
	tests := []struct {
		name string
		host string
		opts Options
		want string // substring of the reason; "" passes
	}{
		{"self-signed, not verified", "", Options{}, ""},
		{"self-signed, not verified, any Host", "www.other.test", Options{}, ""},
		{"verified against the system's roots", "", Options{VerifyTLS: true}, "certificate signed by unknown authority"},
		{"verified against its CA by address", "", Options{VerifyTLS: true, RootCAs: ca}, ""},
		{"verified against its CA by Host", "example.com", Options{VerifyTLS: true, RootCAs: ca}, ""},
		{"verified for a Host it is not valid for", "www.other.test", Options{VerifyTLS: true, RootCAs: ca}, "certificate is valid for example.com, *.example.com, not www.other.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := &spec.HealthCheck{Type: "https", Host: tt.host, BodyRegex: "secure", TimeoutMS: 5000}
			got := probeOnce(t, hc, tt.opts, tg)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// https to a plain HTTP server fails: the scheme is really used.
	plain := httptest.NewServer(rec)
	defer plain.Close()
	hc := &spec.HealthCheck{Type: "https", TimeoutMS: 5000}
	if got := probeOnce(t, hc, Options{}, target(t, plain.Listener.Addr().String())); got == "" {
		t.Error("https probe of a plain HTTP server passed")
	}
}

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandProbe(t *testing.T) {
	dir := t.TempDir()
	tg := Target{Name: "f400", Address: "192.0.2.3", Port: 21}
	args := filepath.Join(dir, "args")
	record := script(t, dir, "record", `printf '%s|' "$@" > "$1"
printf '%s %s %s' "$HACTL_CHECK_NAME" "$HACTL_CHECK_ADDRESS" "$HACTL_CHECK_PORT" >> "$1"
`)
	pwned := filepath.Join(dir, "pwned")
	tests := []struct {
		name    string
		command string
		want    string
		part    bool // want is only a part of the reason
	}{
		{"exit 0 passes", script(t, dir, "ok", "exit 0\n"), "", false},
		{"exit 1 fails", script(t, dir, "fail", "exit 1\n"), "exit status 1", false},
		{"exit 3 fails with its output", script(t, dir, "loud", "echo 'ftp: 530 login refused' >&2\nexit 3\n"), "exit status 3: ftp: 530 login refused", false},
		{"output is bounded", script(t, dir, "long", "head -c 100000 /dev/zero | tr '\\0' y\nexit 2\n"), "exit status 2: " + strings.Repeat("y", maxOutput), false},
		{"a missing program fails", filepath.Join(dir, "nothing"), "no such file or directory", true},
		{"arguments and environment", record + " " + args, "", false},
		{"no shell runs it", "/bin/echo hi;touch " + pwned + " $(touch " + pwned + ")", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := &spec.HealthCheck{Type: "command", Command: tt.command, TimeoutMS: 10000}
			got := probeOnce(t, hc, Options{}, tg)
			if ok := got == tt.want || tt.part && strings.Contains(got, tt.want); !ok {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	b, err := os.ReadFile(args)
	if err != nil {
		t.Fatal(err)
	}
	if want := args + "|192.0.2.3|21|f400 192.0.2.3 21"; string(b) != want {
		t.Errorf("the command got %q, want %q (its own arguments, address, port, then the environment)", b, want)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a shell ran the command: it created " + pwned)
	}
}

func TestCommandProbeTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// The script starts a grandchild and waits: the whole group must die.
	slow := script(t, dir, "slow", "sleep 300 &\necho $! > "+pidFile+"\nwait\n")
	hc := &spec.HealthCheck{Type: "command", Command: slow, TimeoutMS: 300}
	if got := probeOnce(t, hc, Options{}, Target{Name: "x", Address: "127.0.0.1", Port: 1}); got != "timeout after 300ms" {
		t.Fatalf("got %q, want %q", got, "timeout after 300ms")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	waitFor(t, "the check's grandchild (sleep) to be killed", func() bool {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		// Gone, or a zombie not reaped yet by whoever adopted it.
		return err != nil || strings.Contains(string(stat), ") Z ")
	})
}
