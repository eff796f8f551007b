package proxy

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// web is a backend: it answers with its name and counts what it gets.
type web struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
	last atomic.Pointer[http.Request]
}

func newWeb(t *testing.T, name string) *web {
	t.Helper()
	w := &web{name: name}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		w.last.Store(r)
		_, _ = io.Copy(io.Discard, r.Body)
		if v := r.URL.Query().Get("setcookie"); v != "" {
			http.SetCookie(rw, &http.Cookie{Name: "JSESSIONID", Value: v})
		}
		if loc := r.URL.Query().Get("redirect"); loc != "" {
			http.Redirect(rw, r, "http://"+r.Host+loc, http.StatusFound)
			return
		}
		fmt.Fprint(rw, name)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *web) backend(weight int) spec.Backend {
	host, port, _ := net.SplitHostPort(w.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return spec.Backend{Name: w.name, Kind: "regular", Address: host, Port: p, Weight: weight}
}

// fastCheck finds a backend's state within a tenth of a second.
var fastCheck = &spec.HealthCheck{Type: "tcp", IntervalMS: 50, TimeoutMS: 100, Rise: 1, Fall: 1}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// httpProxy is a proxy with one http listener on a free loopback port.
func httpProxy(t testing.TB, services ...spec.ProxyService) spec.Proxy {
	return spec.Proxy{Name: "front", Listeners: []spec.Listener{{Name: "http", Protocol: "http", Address: "127.0.0.1", Port: freePort(t)}},
		Services: services, AllowedMethods: []string{"GET", "HEAD", "POST", "PUT"}, MaxRequestBody: 1 << 20, RewriteLocation: true}
}

// runRole runs the role for proxies until the test ends, and waits until
// its first listener answers and every backend's state is known.
func runRole(t *testing.T, proxies ...spec.Proxy) *Role {
	t.Helper()
	r, err := New(proxies, roleEnv())
	if err != nil {
		t.Fatal(err)
	}
	r.logSink = func(string) {}
	startRole(t, r, len(proxies))
	return r
}

func roleEnv() role.Env { return role.Env{Logger: log.New(io.Discard, "", 0)} }

// startRole runs r until the test ends, and waits until its listeners
// answer and every backend's state is known.
func startRole(t testing.TB, r *Role, proxies int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "the proxy to listen and know its backends", func() bool {
		var st status.Status
		r.Report(&st)
		for _, p := range st.Proxies {
			for _, l := range p.Listeners {
				if !l.Serving {
					return false
				}
			}
			for _, s := range p.Services {
				for _, b := range s.Backends {
					if b.State == "unknown" {
						return false
					}
				}
			}
		}
		return len(st.Proxies) == proxies
	})
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func proxyURL(p spec.Proxy) string {
	return "http://" + listenAddr(p.Listeners[0])
}

// get sends a request through the proxy and returns status and body.
func get(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var client = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
}

func mustReq(t *testing.T, method, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func backendStatus(t *testing.T, r *Role, svc, name string) status.ProxyBackend {
	t.Helper()
	var st status.Status
	r.Report(&st)
	for _, p := range st.Proxies {
		for _, s := range p.Services {
			for _, b := range s.Backends {
				if s.Name == svc && b.Name == name {
					return b
				}
			}
		}
	}
	t.Fatalf("no backend %s in service %s", name, svc)
	return status.ProxyBackend{}
}

func time0() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
