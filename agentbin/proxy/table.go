package proxy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hactl/hactl/agentbin/health"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Defaults for limits the spec leaves zero.
const (
	defaultMaxURI         = 8 << 10
	defaultMaxHeader      = 32 << 10
	defaultClientTimeout  = 10 * time.Second
	defaultBackendTimeout = 15 * time.Second
	defaultBody503        = "503 Service Unavailable: no backend can serve this request.\n"
	defaultRedirectCode   = http.StatusFound
)

// table is one proxy's routing, compiled from its spec. It is never
// changed once built: a reload builds a new one and swaps it in.
type table struct {
	p spec.Proxy
	// methods are the methods each listener accepts, by listenerKey (a
	// listener renamed on its address keeps its socket and handler).
	methods        map[string]methodSet
	trusted        []netip.Prefix
	services       []*service
	maxURI         int
	body503        []byte
	backendTimeout time.Duration
}

// methodSet is the methods a listener accepts, and its 405's Allow header.
type methodSet struct {
	ok    map[string]bool
	allow string
}

func newMethodSet(ms []string) methodSet {
	s := methodSet{ok: map[string]bool{}, allow: strings.Join(ms, ", ")}
	for _, m := range ms {
		s.ok[m] = true
	}
	return s
}

// service is a routing rule and its backends.
type service struct {
	name           string
	host, path     *regexp.Regexp
	headers, deny  map[string]*regexp.Regexp
	methods        map[string]bool
	regular        []*backend
	emergency      []*backend
	redirect       *backend
	redirectCode   int
	redirectAppend bool
	sessions       *sessions // nil without a session
	health         *svcHealth
}

// backend is a server of a service. Its counters and health live in
// stats, kept across reloads while its address is unchanged.
type backend struct {
	name, kind string
	hostPort   string
	weight     int
	url        string // redirect
	stats      *backendStats
}

// backendStats are a backend's counters and health state.
type backendStats struct {
	state         atomic.Int32 // health.State
	requests      atomic.Uint64
	errors        atomic.Uint64
	active        atomic.Int64
	latencyUS     atomic.Uint64 // sum, for the mean
	latency       [len(latencyBoundsMS)]atomic.Uint64
	sessionsMoved atomic.Uint64
}

// latencyBoundsMS are the upper bounds of the latency histogram's buckets.
var latencyBoundsMS = [...]float64{1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// observe counts one request to the backend that took d (to the response's
// headers, or to the failure).
func (s *backendStats) observe(d time.Duration) {
	s.requests.Add(1)
	s.latencyUS.Add(uint64(d.Microseconds()))
	ms := float64(d.Microseconds()) / 1000
	for i, le := range latencyBoundsMS {
		if ms <= le {
			s.latency[i].Add(1)
			return
		}
	}
}

// buckets is the latency histogram, cumulative.
func (s *backendStats) buckets() []status.LatencyBucket {
	out := make([]status.LatencyBucket, len(latencyBoundsMS))
	var sum uint64
	for i, le := range latencyBoundsMS {
		sum += s.latency[i].Load()
		out[i] = status.LatencyBucket{LEMS: le, Count: sum}
	}
	return out
}

func (b *backend) usable(allowUnknown bool) bool {
	s := health.State(b.stats.state.Load())
	return s == health.Up || (allowUnknown && s == health.Unknown)
}

// compile builds the routing table of p. stats returns the persistent
// counters of a backend (by service, name and address); hc returns the
// health of a service's backends.
func compile(p spec.Proxy, stats func(svc, name, hostPort string) *backendStats, hc func(svc string, s spec.ProxyService) (*svcHealth, error), sess func(svc string, s spec.ProxyService) *sessions) (*table, error) {
	t := &table{p: p, methods: map[string]methodSet{}, maxURI: p.MaxURI, body503: []byte(p.Body503),
		backendTimeout: msOr(p.BackendTimeoutMS, defaultBackendTimeout)}
	if t.maxURI == 0 {
		t.maxURI = defaultMaxURI
	}
	if len(t.body503) == 0 {
		t.body503 = []byte(defaultBody503)
	}
	proxyMethods := p.AllowedMethods
	if len(proxyMethods) == 0 {
		proxyMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
	for _, l := range p.Listeners {
		ms := proxyMethods
		if len(l.Methods) > 0 {
			ms = l.Methods
		}
		t.methods[listenerKey(l)] = newMethodSet(ms)
	}
	for _, tp := range p.TrustedProxies {
		pfx, err := parsePrefix(tp)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: trusted proxy %q: %w", p.Name, tp, err)
		}
		t.trusted = append(t.trusted, pfx)
	}
	for _, ss := range p.Services {
		s, err := compileService(ss, stats, hc, sess)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: service %s: %w", p.Name, ss.Name, err)
		}
		t.services = append(t.services, s)
	}
	return t, nil
}

func compileService(ss spec.ProxyService, stats func(svc, name, hostPort string) *backendStats, hc func(string, spec.ProxyService) (*svcHealth, error), sess func(string, spec.ProxyService) *sessions) (*service, error) {
	s := &service{name: ss.Name, headers: map[string]*regexp.Regexp{}, deny: map[string]*regexp.Regexp{},
		redirectCode: ss.RedirectCode, redirectAppend: ss.RedirectAppend}
	if s.redirectCode == 0 {
		s.redirectCode = defaultRedirectCode
	}
	var err error
	if s.host, err = optRegexp(ss.Host); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	if s.path, err = optRegexp(ss.Path); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	for h, re := range ss.Headers {
		if s.headers[http.CanonicalHeaderKey(h)], err = regexp.Compile(re); err != nil {
			return nil, fmt.Errorf("header %s: %w", h, err)
		}
	}
	for h, re := range ss.DenyHeaders {
		if s.deny[http.CanonicalHeaderKey(h)], err = regexp.Compile(re); err != nil {
			return nil, fmt.Errorf("deny header %s: %w", h, err)
		}
	}
	if len(ss.Methods) > 0 {
		s.methods = map[string]bool{}
		for _, m := range ss.Methods {
			s.methods[m] = true
		}
	}
	for _, sb := range ss.Backends {
		hp := net.JoinHostPort(sb.Address, strconv.Itoa(sb.Port))
		b := &backend{name: sb.Name, kind: sb.Kind, hostPort: hp, weight: max(sb.Weight, 1), url: sb.RedirectURL, stats: stats(ss.Name, sb.Name, hp)}
		switch sb.Kind {
		case "redirect":
			b.stats.state.Store(int32(health.Up))
			s.redirect = b
		case "emergency":
			s.emergency = append(s.emergency, b)
		default:
			s.regular = append(s.regular, b)
		}
	}
	if s.health, err = hc(ss.Name, ss); err != nil {
		return nil, err
	}
	if ss.SessionType != "" {
		s.sessions = sess(ss.Name, ss)
	}
	return s, nil
}

func optRegexp(re string) (*regexp.Regexp, error) {
	if re == "" {
		return nil, nil
	}
	return regexp.Compile(re)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

func msOr(ms int, def time.Duration) time.Duration {
	if ms <= 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

// match returns the first service whose conditions r meets, or nil.
func (t *table) match(r *http.Request) *service {
	for _, s := range t.services {
		if s.matches(r) {
			return s
		}
	}
	return nil
}

func (s *service) matches(r *http.Request) bool {
	if s.host != nil && !s.host.MatchString(hostOnly(r.Host)) {
		return false
	}
	if s.path != nil && !s.path.MatchString(r.URL.Path) {
		return false
	}
	if s.methods != nil && !s.methods[r.Method] {
		return false
	}
	for h, re := range s.headers {
		if !anyMatch(re, r.Header[h]) {
			return false
		}
	}
	for h, re := range s.deny {
		if anyMatch(re, r.Header[h]) {
			return false
		}
	}
	return true
}

func anyMatch(re *regexp.Regexp, vals []string) bool {
	for _, v := range vals {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// hostOnly strips the port from a Host header.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// pick chooses a live regular backend by weight, skipping those in
// tried; with none, a live emergency backend; nil when none can serve.
func (s *service) pick(tried map[*backend]bool) *backend {
	for _, pool := range [][]*backend{s.regular, s.emergency} {
		if b := pickWeighted(pool, tried, false); b != nil {
			return b
		}
		if b := pickWeighted(pool, tried, true); b != nil {
			return b
		}
	}
	return nil
}

func pickWeighted(pool []*backend, tried map[*backend]bool, allowUnknown bool) *backend {
	total := 0
	for _, b := range pool {
		if !tried[b] && b.usable(allowUnknown) {
			total += b.weight
		}
	}
	if total == 0 {
		return nil
	}
	n := rand.IntN(total)
	for _, b := range pool {
		if tried[b] || !b.usable(allowUnknown) {
			continue
		}
		if n < b.weight {
			return b
		}
		n -= b.weight
	}
	return nil
}

// byName finds a backend of the service by name.
func (s *service) byName(name string) *backend {
	for _, pool := range [][]*backend{s.regular, s.emergency} {
		for _, b := range pool {
			if b.name == name {
				return b
			}
		}
	}
	return nil
}

// svcHealth is the health checker of one service's backends, kept across
// reloads while its health_check block is unchanged.
type svcHealth struct {
	checker *health.Checker
	key     string // the health check, as JSON
	cancel  func()
	mu      sync.Mutex
	stats   map[string]*backendStats // by backend name
	kinds   map[string]string        // regular or emergency, by backend name
	level   level                    // as the last transition left it
}
