package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

func TestRequestsGoToTheFirstServiceTheyMatch(t *testing.T) {
	a, b, c, d, e := newWeb(t, "a"), newWeb(t, "b"), newWeb(t, "c"), newWeb(t, "d"), newWeb(t, "e")
	p := httpProxy(t,
		spec.ProxyService{Name: "host", Host: `^www\.example\.com$`, HealthCheck: fastCheck, Backends: []spec.Backend{a.backend(5)}},
		spec.ProxyService{Name: "images", Path: `^/images/`, HealthCheck: fastCheck, Backends: []spec.Backend{b.backend(5)}},
		spec.ProxyService{Name: "puts", Methods: []string{"PUT"}, HealthCheck: fastCheck, Backends: []spec.Backend{c.backend(5)}},
		spec.ProxyService{Name: "tenant", Headers: map[string]string{"X-Tenant": "^blue$"}, DenyHeaders: map[string]string{"X-Debug": "."}, HealthCheck: fastCheck, Backends: []spec.Backend{d.backend(5)}},
		spec.ProxyService{Name: "rest", HealthCheck: fastCheck, Backends: []spec.Backend{e.backend(5)}},
	)
	runRole(t, p)
	for _, tc := range []struct {
		name, method, host, path string
		headers                  map[string]string
		want                     string
	}{
		{"host matches without its port", "GET", "www.example.com:8080", "/images/x", nil, "a"},
		{"path", "GET", "other", "/images/x", nil, "b"},
		{"path is anchored", "GET", "other", "/x/images/", nil, "e"},
		{"method", "PUT", "other", "/x", nil, "c"},
		{"required header", "GET", "other", "/x", map[string]string{"X-Tenant": "blue"}, "d"},
		{"required header that does not match", "GET", "other", "/x", map[string]string{"X-Tenant": "red"}, "e"},
		{"denied header", "GET", "other", "/x", map[string]string{"X-Tenant": "blue", "X-Debug": "1"}, "e"},
		{"no condition takes the rest", "GET", "other", "/", nil, "e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := mustReq(t, tc.method, proxyURL(p)+tc.path)
			req.Host = tc.host
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			code, body := get(t, req)
			if code != 200 || body != tc.want {
				t.Errorf("got %d %q, want 200 from %s", code, body, tc.want)
			}
		})
	}
}

func TestWeightsShareTheRequests(t *testing.T) {
	light, heavy := newWeb(t, "light"), newWeb(t, "heavy")
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{light.backend(1), heavy.backend(4)}})
	runRole(t, p)
	const n = 1000
	for range n {
		if code, _ := get(t, mustReq(t, "GET", proxyURL(p)+"/")); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	share := float64(heavy.hits.Load()) / n
	if share < 0.74 || share > 0.86 {
		t.Errorf("the weight-4 backend got %.2f of the requests, want 0.8±0.06 (light %d, heavy %d)", share, light.hits.Load(), heavy.hits.Load())
	}
}

func TestWhenNoBackendCanServe(t *testing.T) {
	live, emergency := newWeb(t, "live"), newWeb(t, "sorry")
	dead := newWeb(t, "dead")
	deadBackend := dead.backend(5)
	dead.srv.Close()
	emergencyBackend := emergency.backend(5)
	emergencyBackend.Kind = "emergency"
	p := httpProxy(t,
		spec.ProxyService{Name: "with-emergency", Path: "^/e/", HealthCheck: fastCheck, Backends: []spec.Backend{deadBackend, emergencyBackend}},
		spec.ProxyService{Name: "all-dead", Path: "^/d/", HealthCheck: fastCheck, Backends: []spec.Backend{deadBackend}},
		spec.ProxyService{Name: "live", Path: "^/l/", HealthCheck: fastCheck, Backends: []spec.Backend{live.backend(5), emergencyBackend}},
	)
	p.Body503 = "come back later\n"
	runRole(t, p)
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/e/", 200, "sorry"},
		{"/d/", 503, "come back later\n"},
		{"/nothing-matches", 503, "come back later\n"},
		{"/l/", 200, "live"},
	} {
		code, body := get(t, mustReq(t, "GET", proxyURL(p)+tc.path))
		if code != tc.code || body != tc.body {
			t.Errorf("GET %s: got %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
}

func TestARefusedConnectionIsRetriedElsewhereAndMarksTheBackendDown(t *testing.T) {
	a, b := newWeb(t, "a"), newWeb(t, "b")
	// Probes far apart: only the passive check can find b dead in time.
	slow := &spec.HealthCheck{Type: "tcp", IntervalMS: 60000, TimeoutMS: 100, Rise: 1, Fall: 1}
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: slow, Backends: []spec.Backend{a.backend(5), b.backend(5)}})
	r := runRole(t, p)
	b.srv.Close()
	for i := range 50 {
		code, body := get(t, mustReq(t, "GET", proxyURL(p)+"/"))
		if code != 200 || body != "a" {
			t.Fatalf("request %d: got %d %q, want 200 from a", i, code, body)
		}
	}
	if got := backendStatus(t, r, "s", "b"); got.State != "down" || !strings.Contains(got.Reason, "passive") {
		t.Errorf("b is %s (%s), want down by the passive check", got.State, got.Reason)
	}
}

func TestRedirectBackends(t *testing.T) {
	p := httpProxy(t,
		spec.ProxyService{Name: "keep", Path: "^/keep", RedirectAppend: true, RedirectCode: 308,
			Backends: []spec.Backend{{Name: "to", Kind: "redirect", RedirectURL: "https://www.example.com/"}}},
		spec.ProxyService{Name: "plain", Backends: []spec.Backend{{Name: "to", Kind: "redirect", RedirectURL: "https://www.example.com/"}}},
	)
	runRole(t, p)
	for _, tc := range []struct {
		path, code, loc string
	}{
		{"/keep/a?b=c", "308", "https://www.example.com/keep/a?b=c"},
		{"/other", "302", "https://www.example.com/"},
	} {
		resp, err := client.Do(mustReq(t, "GET", proxyURL(p)+tc.path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); resp.Status[:3] != tc.code || got != tc.loc {
			t.Errorf("GET %s: %s to %q, want %s to %q", tc.path, resp.Status, got, tc.code, tc.loc)
		}
	}
}

func TestForwardedHeadersAreTrustedOnlyFromTrustedProxies(t *testing.T) {
	w := newWeb(t, "w")
	for _, tc := range []struct {
		name    string
		trusted []string
		wantXFF string
	}{
		{"untrusted client", nil, "127.0.0.1"},
		{"trusted client", []string{"127.0.0.0/8"}, "10.9.9.9, 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(5)}})
			p.TrustedProxies = tc.trusted
			runRole(t, p)
			req := mustReq(t, "GET", proxyURL(p)+"/")
			req.Header.Set("X-Forwarded-For", "10.9.9.9")
			req.Header.Set("Forwarded", "for=10.9.9.9")
			req.Header.Set("Connection", "X-Secret")
			req.Header.Set("X-Secret", "hop")
			req.Host = "site"
			get(t, req)
			got := w.last.Load()
			if xff := got.Header.Get("X-Forwarded-For"); xff != tc.wantXFF {
				t.Errorf("X-Forwarded-For %q, want %q", xff, tc.wantXFF)
			}
			if fw := got.Header.Get("Forwarded"); !strings.HasSuffix(fw, `for=127.0.0.1;host="site";proto=http`) || (tc.trusted == nil) != !strings.Contains(fw, "10.9.9.9") {
				t.Errorf("Forwarded %q", fw)
			}
			if got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Forwarded-Host") != "site" {
				t.Errorf("X-Forwarded-Proto %q, -Host %q", got.Header.Get("X-Forwarded-Proto"), got.Header.Get("X-Forwarded-Host"))
			}
			if got.Header.Get("X-Secret") != "" {
				t.Error("a header named in Connection reached the backend")
			}
		})
	}
}

func TestBackendRedirectsAreRewrittenToTheListener(t *testing.T) {
	w := newWeb(t, "w")
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(5)}})
	runRole(t, p)
	req := mustReq(t, "GET", proxyURL(p)+"/?redirect=/next")
	req.Host = "www.example.com"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The backend saw Host www.example.com, so its redirect is already
	// right; one to its own address must be rewritten.
	if loc := resp.Header.Get("Location"); loc != "http://www.example.com/next" {
		t.Errorf("Location %q", loc)
	}
	w2 := newWeb(t, "w2")
	w2.srv.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "http://"+w2.srv.Listener.Addr().String()+"/login", http.StatusFound)
	})
	p2 := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{w2.backend(5)}})
	runRole(t, p2)
	req = mustReq(t, "GET", proxyURL(p2)+"/")
	req.Host = "www.example.com"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "http://www.example.com/login" {
		t.Errorf("Location %q, want the backend's address replaced by the listener's host", loc)
	}
}

func TestEachRequestIsOneAccessLine(t *testing.T) {
	w := newWeb(t, "w")
	p := httpProxy(t, spec.ProxyService{Name: "pics", Path: "^/p/", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(5)}})
	_, lines := runLoggingRole(t, p)
	req := mustReq(t, "GET", proxyURL(p)+"/p/x?y=1")
	req.Host = "site"
	get(t, req)
	get(t, mustReq(t, "DELETE", proxyURL(p)+"/p/x"))
	for _, want := range []string{
		`proxy=front listener=http client=127.0.0.1 method=GET host="site" uri="/p/x?y=1" status=200 bytes=1 ms=`,
		`proxy=front listener=http client=127.0.0.1 method=DELETE host="` + listenAddr(p.Listeners[0]) + `" uri="/p/x" status=405 bytes=`,
	} {
		select {
		case got := <-lines:
			if !strings.HasPrefix(got, want) {
				t.Errorf("access line\n%s\nwant it to start\n%s", got, want)
			}
			if strings.Contains(want, "GET") && !strings.HasSuffix(got, " service=pics backend=w") ||
				strings.Contains(want, "DELETE") && !strings.HasSuffix(got, " service=- backend=-") {
				t.Errorf("access line %q names the wrong service or backend", got)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no access line")
		}
	}
}

// TestAccessLogOffWritesNoLine: access_log = false, taken by a reload,
// logs no request; turned on again, the next request is logged.
func TestAccessLogOffWritesNoLine(t *testing.T) {
	w := newWeb(t, "w")
	p := httpProxy(t, spec.ProxyService{Name: "all", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(1)}})
	r, lines := runLoggingRole(t, p)
	off := p
	off.NoAccessLog = true
	if err := r.Reload(&spec.Spec{Proxies: []spec.Proxy{off}}); err != nil {
		t.Fatal(err)
	}
	get(t, mustReq(t, "GET", proxyURL(p)+"/unlogged"))
	if err := r.Reload(&spec.Spec{Proxies: []spec.Proxy{p}}); err != nil {
		t.Fatal(err)
	}
	get(t, mustReq(t, "GET", proxyURL(p)+"/logged"))
	select {
	case got := <-lines:
		if !strings.Contains(got, ` uri="/logged" `) {
			t.Errorf("the first access line is %q, want the request made after the log was turned on again", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no access line once the log is on again")
	}
}

// runLoggingRole runs the role for p until the test ends and gives the
// access lines it writes.
func runLoggingRole(t *testing.T, p spec.Proxy) (*Role, <-chan string) {
	t.Helper()
	lines := make(chan string, 16)
	r, err := New([]spec.Proxy{p}, roleEnv())
	if err != nil {
		t.Fatal(err)
	}
	r.logSink = func(l string) { lines <- l }
	startRole(t, r, 1)
	return r, lines
}
