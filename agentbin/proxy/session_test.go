package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

func TestSessionsKeepAClientOnOneBackendAndMoveWhenItDies(t *testing.T) {
	for _, tc := range []struct {
		kind, name string
		// first is the first request of a session, next the later ones.
		first, next func(*http.Request)
	}{
		{kind: "ip"},
		{kind: "cookie", name: "JSESSIONID",
			first: func(r *http.Request) { r.URL.RawQuery = "setcookie=s1" },
			next:  func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: "s1"}) }},
		{kind: "header", name: "X-Session", next: func(r *http.Request) { r.Header.Set("X-Session", "s1") }},
		{kind: "url", name: "sid", next: func(r *http.Request) { r.URL.RawQuery = "sid=s1" }},
		{kind: "basic", next: func(r *http.Request) { r.SetBasicAuth("alice", "pw") }},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			webs := map[string]*web{"a": newWeb(t, "a"), "b": newWeb(t, "b"), "c": newWeb(t, "c")}
			slow := &spec.HealthCheck{Type: "tcp", IntervalMS: 60000, TimeoutMS: 100, Rise: 1, Fall: 1}
			p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: slow, SessionType: tc.kind, SessionName: tc.name, SessionTTLMS: 60000,
				Backends: []spec.Backend{webs["a"].backend(5), webs["b"].backend(5), webs["c"].backend(5)}})
			r := runRole(t, p)
			send := func(prep func(*http.Request)) string {
				req := mustReq(t, "GET", proxyURL(p)+"/")
				if prep != nil {
					prep(req)
				}
				code, body := get(t, req)
				if code != 200 {
					t.Fatalf("status %d", code)
				}
				return body
			}
			if tc.first != nil {
				send(tc.first) // the backend sets the session
			}
			first := send(tc.next)
			for range 20 {
				if got := send(tc.next); got != first {
					t.Fatalf("the session went to %s, then %s", first, got)
				}
			}
			webs[first].srv.Close()
			moved := send(tc.next)
			if moved == first {
				t.Fatalf("the session stayed on dead %s", first)
			}
			for range 20 {
				if got := send(tc.next); got != moved {
					t.Fatalf("the moved session went to %s, then %s", moved, got)
				}
			}
			if st := backendStatus(t, r, "s", first); st.SessionsMoved == 0 || st.State != "down" {
				t.Errorf("dead backend: state %s, sessions moved %d", st.State, st.SessionsMoved)
			}
		})
	}
}

func TestSessionsExpireAfterTheirTTL(t *testing.T) {
	s := newSessions("header", "X-S", 0)
	s.ttl = 1000
	now := time0()
	s.set("id", "a", now)
	if b, ok := s.get("id", now.Add(999)); !ok || b != "a" {
		t.Fatalf("a live session is lost: %q %v", b, ok)
	}
	// get refreshed it: it lives ttl from its last use.
	if _, ok := s.get("id", now.Add(1998)); !ok {
		t.Fatal("a session used within its TTL expired")
	}
	s.expire(now.Add(3000))
	if s.len() != 0 {
		t.Fatal("an idle session outlived its TTL")
	}
}

// The proxy's own cookie: set on the first answer, random and naming no
// backend, keeping the client on one backend; an id the proxy does not
// know is replaced by a new one.
func TestTheProxysOwnCookieKeepsAClientOnOneBackend(t *testing.T) {
	webs := map[string]*web{"a": newWeb(t, "a"), "b": newWeb(t, "b"), "c": newWeb(t, "c")}
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, SessionType: "proxy_cookie", SessionTTLMS: 60000,
		Backends: []spec.Backend{webs["a"].backend(5), webs["b"].backend(5), webs["c"].backend(5)}})
	runRole(t, p)
	send := func(cookie string) (backend string, set *http.Cookie) {
		t.Helper()
		req := mustReq(t, "GET", proxyURL(p)+"/")
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: defaultProxyCookie, Value: cookie})
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, c := range resp.Cookies() {
			if c.Name == defaultProxyCookie {
				set = c
			}
		}
		return string(body), set
	}
	first, c := send("")
	if c == nil || !c.HttpOnly || c.Path != "/" || len(c.Value) < 16 {
		t.Fatalf("first answer: cookie %+v, want an HttpOnly random id for /", c)
	}
	for _, w := range webs {
		if strings.Contains(c.Value, w.name) || strings.Contains(c.Value, w.srv.Listener.Addr().String()) {
			t.Fatalf("the cookie %q names a backend", c.Value)
		}
	}
	for range 20 {
		got, again := send(c.Value)
		if got != first || again != nil {
			t.Fatalf("the session went to %s then %s, with a new cookie %+v", first, got, again)
		}
	}
	if _, forged := send("forged-" + first); forged == nil || forged.Value == "forged-"+first || forged.Value == c.Value {
		t.Errorf("an unknown id got cookie %+v, want a new one", forged)
	}
	webs[first].srv.Close()
	moved, again := send(c.Value)
	if moved == first || again != nil {
		t.Fatalf("the session stayed on dead %s (new cookie %+v)", first, again)
	}
	for range 20 {
		if got, _ := send(c.Value); got != moved {
			t.Fatalf("the moved session went to %s, then %s", moved, got)
		}
	}
}
