package proxy

import (
	"crypto/rand"
	"net"
	"net/http"
	"sync"
	"time"
)

// sessions remembers which backend each session of a service goes to.
type sessions struct {
	kind, name string // type and the cookie, header or parameter name
	ttl        time.Duration

	mu sync.Mutex
	m  map[string]sessionEntry
}

type sessionEntry struct {
	backend string
	expires time.Time
}

const defaultSessionTTL = 5 * time.Minute

// defaultProxyCookie is the name of the proxy's own session cookie when
// the spec gives none.
const defaultProxyCookie = "HACTL_SESSION"

func newSessions(kind, name string, ttl time.Duration) *sessions {
	if ttl <= 0 {
		ttl = defaultSessionTTL
	}
	if kind == "proxy_cookie" && name == "" {
		name = defaultProxyCookie
	}
	return &sessions{kind: kind, name: name, ttl: ttl, m: map[string]sessionEntry{}}
}

// mints says whether the proxy makes the session ids itself (its own
// cookie): an id a client brings that the proxy does not know is not
// taken, a new one is made.
func (s *sessions) mints() bool { return s.kind == "proxy_cookie" }

// newID is an id for the proxy's own cookie: random, so that it names no
// backend and cannot be guessed; what it stands for stays in the table.
func newID() string { return rand.Text() }

// cookie is the Set-Cookie of the proxy's own session id. It has no
// Max-Age: the proxy forgets the id after ttl without use, and then gives
// the client a new one.
func (s *sessions) cookie(id string, secure bool) string {
	c := &http.Cookie{Name: s.name, Value: id, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	return c.String()
}

// key is r's session id, "" when r carries none.
func (s *sessions) key(r *http.Request) string {
	switch s.kind {
	case "ip":
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	case "cookie", "proxy_cookie":
		if c, err := r.Cookie(s.name); err == nil {
			return c.Value
		}
	case "header":
		return r.Header.Get(s.name)
	case "url":
		return r.URL.Query().Get(s.name)
	case "basic":
		if u, _, ok := r.BasicAuth(); ok {
			return u
		}
	}
	return ""
}

// learn is the session id a backend's response gives a client that had
// none: its Set-Cookie of the session cookie, or its session header.
func (s *sessions) learn(resp *http.Response) string {
	switch s.kind {
	case "cookie":
		for _, c := range resp.Cookies() {
			if c.Name == s.name && c.Value != "" {
				return c.Value
			}
		}
	case "header":
		return resp.Header.Get(s.name)
	}
	return ""
}

// get returns the backend of session id, if it is remembered and alive.
func (s *sessions) get(id string, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	if !ok || now.After(e.expires) {
		delete(s.m, id)
		return "", false
	}
	e.expires = now.Add(s.ttl)
	s.m[id] = e
	return e.backend, true
}

// set ties session id to a backend for ttl from now.
func (s *sessions) set(id, backend string, now time.Time) {
	s.mu.Lock()
	s.m[id] = sessionEntry{backend: backend, expires: now.Add(s.ttl)}
	s.mu.Unlock()
}

// expire forgets the sessions idle for longer than the TTL.
func (s *sessions) expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.m {
		if now.After(e.expires) {
			delete(s.m, id)
		}
	}
}

func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
