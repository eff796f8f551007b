package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/syslog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hactl/hactl/agentbin/health"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Kind is the proxy role as the agent registers it.
type Kind struct{}

var (
	_ role.Kind          = Kind{}
	_ role.Role          = (*Role)(nil)
	_ role.GroupFollower = (*Role)(nil)
	_ role.Reloader      = (*Role)(nil)
	_ role.DriftReporter = (*Role)(nil)
)

// Name implements role.Kind.
func (Kind) Name() string { return "proxy" }

// New implements role.Kind.
func (Kind) New(s *spec.Spec, env role.Env) (role.Role, error) {
	r, err := New(s.Proxies, env)
	if err != nil {
		return nil, err
	}
	r.node = s.Node
	return r, nil
}

// drainTime is how long a closed listener's requests in flight may take.
const drainTime = 10 * time.Second

// Role runs the spec's proxies.
type Role struct {
	env    role.Env
	node   string // this node, in events
	access func(string)
	// logLines carries access lines to the writer Run starts, so that no
	// request waits for syslog or a log file; a line that finds it full
	// is dropped and counted.
	logLines chan string
	logSink  func(string)
	dropped  atomic.Uint64

	mu         sync.Mutex
	specs      []spec.Proxy
	runs       map[string]*proxyRun
	groupsHere map[string]bool
	ctx        context.Context // Run's; nil before Run
	wake       chan struct{}
}

// proxyRun is one proxy's running state, kept across reloads.
type proxyRun struct {
	in        *instance
	p         spec.Proxy
	listeners map[string]*listenerRun // by listenerKey
	openErr   map[string]error        // listeners that could not open, by name
	health    map[string]*svcHealth   // by service name
	stats     map[string]*backendStats
	sessions  map[string]*sessions
	timeout   time.Duration // the transport's
	// eventGroup is the proxy's group while it serves here ("" for a
	// proxy on nodes), nil while it does not: its events are reported
	// only then.
	eventGroup atomic.Pointer[string]
}

// New prepares the role for proxies: it compiles their routing (so that
// a bad regular expression fails here) and starts nothing.
func New(proxies []spec.Proxy, env role.Env) (*Role, error) {
	if env.Logger == nil {
		env.Logger = log.New(io.Discard, "", 0)
	}
	for _, p := range proxies {
		if _, err := compile(p, func(string, string, string) *backendStats { return &backendStats{} },
			func(string, spec.ProxyService) (*svcHealth, error) { return &svcHealth{}, nil },
			func(_ string, s spec.ProxyService) *sessions { return nil }); err != nil {
			return nil, err
		}
		for _, l := range p.Listeners {
			if l.Protocol == "https" {
				if _, err := loadTLS(l); err != nil {
					return nil, fmt.Errorf("proxy %s: %w", p.Name, err)
				}
			}
		}
		for _, s := range p.Services {
			if _, err := health.New(s.HealthCheck, health.Options{}); err != nil {
				return nil, fmt.Errorf("proxy %s: service %s: health check: %w", p.Name, s.Name, err)
			}
		}
	}
	r := &Role{env: env, specs: proxies, runs: map[string]*proxyRun{}, groupsHere: map[string]bool{},
		wake: make(chan struct{}, 1), logLines: make(chan string, logBuffer)}
	r.access = func(line string) {
		select {
		case r.logLines <- line:
		default:
			r.dropped.Add(1)
		}
	}
	return r, nil
}

// logBuffer is how many access lines may wait for the writer.
const logBuffer = 8192

// logBatch is how many waiting access lines the writer takes at once.
const logBatch = 256

// writeLog writes access lines until ctx ends: to syslog (/dev/log), one
// message each, or to the agent's log (its stderr: the journal under
// systemd) when the host has no syslog, the lines waiting at once in one
// write, so that a busy proxy does not pay a system call per request.
func (r *Role) writeLog(ctx context.Context) {
	write := func(lines []string) {
		for _, l := range lines {
			r.logSink(l)
		}
	}
	if r.logSink == nil {
		if w, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "hactl-proxy"); err == nil {
			defer w.Close()
			write = func(lines []string) {
				for _, l := range lines {
					_ = w.Info(l)
				}
			}
		} else {
			write = func(lines []string) { r.env.Logger.Print(strings.Join(lines, "\n")) }
		}
	}
	batch := make([]string, 0, logBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case line := <-r.logLines:
			batch = append(batch[:0], line)
		more:
			for len(batch) < logBatch {
				select {
				case l := <-r.logLines:
					batch = append(batch, l)
				default:
					break more
				}
			}
			write(batch)
		}
	}
}

// Run implements role.Role.
func (r *Role) Run(ctx context.Context) error {
	go r.writeLog(ctx)
	r.mu.Lock()
	r.ctx = ctx
	err := r.applyLocked(r.specs)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			for name, pr := range r.runs {
				r.stopProxy(pr)
				delete(r.runs, name)
			}
			r.mu.Unlock()
			return nil
		case <-r.wake:
		case <-tick.C:
		}
		r.mu.Lock()
		r.reconcileListenersLocked()
		now := time.Now()
		for _, pr := range r.runs {
			for _, s := range pr.sessions {
				s.expire(now)
			}
		}
		r.mu.Unlock()
	}
}

// Reload implements role.Reloader.
func (r *Role) Reload(s *spec.Spec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil {
		r.specs = s.Proxies
		return nil
	}
	return r.applyLocked(s.Proxies)
}

// GroupChanged implements role.GroupFollower.
func (r *Role) GroupChanged(c role.GroupChange) {
	r.mu.Lock()
	if c.Here {
		r.groupsHere[c.Group] = true
	} else {
		delete(r.groupsHere, c.Group)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// applyLocked makes the proxies run as given: new tables swapped in,
// health checkers and sessions kept where unchanged.
func (r *Role) applyLocked(proxies []spec.Proxy) error {
	tables := map[string]*table{}
	for _, p := range proxies {
		pr := r.runs[p.Name]
		if pr == nil {
			pr = &proxyRun{listeners: map[string]*listenerRun{}, openErr: map[string]error{},
				health: map[string]*svcHealth{}, stats: map[string]*backendStats{}, sessions: map[string]*sessions{}}
			pr.in = newInstance(p.Name, r.access, r.markDown)
			r.runs[p.Name] = pr
		}
		t, err := r.compileFor(pr, p)
		if err != nil {
			return err
		}
		tables[p.Name] = t
	}
	for name, pr := range r.runs {
		t, ok := tables[name]
		if !ok {
			r.stopProxy(pr)
			delete(r.runs, name)
			continue
		}
		pr.p = t.p
		if pr.in.transport.Load() == nil || t.backendTimeout != pr.timeout {
			pr.in.transport.Store(newTransport(t.backendTimeout))
			if old := pr.in.direct.Swap(newDirect(t.backendTimeout)); old != nil {
				old.closeIdle()
			}
			pr.timeout = t.backendTimeout
		}
		pr.in.tbl.Store(t)
		r.pruneLocked(pr, t)
	}
	r.specs = proxies
	r.reconcileListenersLocked()
	return nil
}

// compileFor builds p's table on pr's lasting state.
func (r *Role) compileFor(pr *proxyRun, p spec.Proxy) (*table, error) {
	stats := func(svc, name, hostPort string) *backendStats {
		key := svc + "/" + name + "@" + hostPort
		st := pr.stats[key]
		if st == nil {
			st = &backendStats{}
			pr.stats[key] = st
		}
		return st
	}
	hc := func(svc string, s spec.ProxyService) (*svcHealth, error) {
		return r.healthFor(pr, p.Name, s, stats)
	}
	sess := func(svc string, s spec.ProxyService) *sessions {
		key := fmt.Sprintf("%s/%s/%s/%d", svc, s.SessionType, s.SessionName, s.SessionTTLMS)
		if ss := pr.sessions[key]; ss != nil {
			return ss
		}
		ss := newSessions(s.SessionType, s.SessionName, time.Duration(s.SessionTTLMS)*time.Millisecond)
		pr.sessions[key] = ss
		return ss
	}
	return compile(p, stats, hc, sess)
}

// healthFor returns the checker of a service's backends: the running one
// given the new backends when its health check is unchanged, a new one
// otherwise.
func (r *Role) healthFor(pr *proxyRun, proxy string, s spec.ProxyService, stats func(svc, name, hostPort string) *backendStats) (*svcHealth, error) {
	keyJSON, _ := json.Marshal(s.HealthCheck)
	key := string(keyJSON)
	h := pr.health[s.Name]
	if h == nil || h.key != key {
		if h != nil {
			h.cancel()
		}
		h = &svcHealth{key: key, stats: map[string]*backendStats{}}
		c, err := health.New(s.HealthCheck, health.Options{OnChange: func(tr health.Transition) {
			r.transition(pr, h, proxy, s.Name, tr)
		}})
		if err != nil {
			return nil, fmt.Errorf("health check: %w", err)
		}
		h.checker = c
		ctx, cancel := context.WithCancel(r.ctx)
		h.cancel = cancel
		go func() { _ = c.Run(ctx) }()
		pr.health[s.Name] = h
	}
	var targets []health.Target
	byName := map[string]*backendStats{}
	kinds := map[string]string{}
	for _, b := range s.Backends {
		if b.Kind == "redirect" {
			continue
		}
		targets = append(targets, health.Target{Name: b.Name, Address: b.Address, Port: b.Port, Weight: b.Weight})
		byName[b.Name] = stats(s.Name, b.Name, netJoin(b.Address, b.Port))
		kinds[b.Name] = b.Kind
	}
	if err := h.checker.Update(targets); err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	h.mu.Lock()
	h.stats, h.kinds = byName, kinds
	h.mu.Unlock()
	for name, st := range byName {
		if cur, ok := h.checker.Get(name); ok {
			st.state.Store(int32(cur.State))
		}
	}
	return h, nil
}

func netJoin(addr string, port int) string {
	return listenAddr(spec.Listener{Address: addr, Port: port})
}

// pruneLocked forgets the state of services and backends t no longer has.
func (r *Role) pruneLocked(pr *proxyRun, t *table) {
	keepSvc := map[string]bool{}
	keepStats := map[*backendStats]bool{}
	keepSess := map[*sessions]bool{}
	for _, s := range t.services {
		keepSvc[s.name] = true
		for _, b := range slices.Concat(s.regular, s.emergency) {
			keepStats[b.stats] = true
		}
		if s.redirect != nil {
			keepStats[s.redirect.stats] = true
		}
		if s.sessions != nil {
			keepSess[s.sessions] = true
		}
	}
	for name, h := range pr.health {
		if !keepSvc[name] {
			h.cancel()
			delete(pr.health, name)
		}
	}
	for k, st := range pr.stats {
		if !keepStats[st] {
			delete(pr.stats, k)
		}
	}
	for k, ss := range pr.sessions {
		if !keepSess[ss] {
			delete(pr.sessions, k)
		}
	}
}

// serves says whether p should listen on this node now.
func (r *Role) serves(p spec.Proxy) bool { return p.Group == "" || r.groupsHere[p.Group] }

// reconcileListenersLocked opens the listeners of the proxies that serve
// here, closes the others, and takes new certificates on open ones.
func (r *Role) reconcileListenersLocked() {
	if r.ctx == nil || r.ctx.Err() != nil {
		return
	}
	for _, pr := range r.runs {
		want := map[string]spec.Listener{}
		var group *string
		if r.serves(pr.p) {
			g := pr.p.Group
			group = &g
			for _, l := range pr.p.Listeners {
				want[listenerKey(l)] = l
			}
		}
		pr.eventGroup.Store(group)
		clear(pr.openErr)
		for key, lr := range pr.listeners {
			l, ok := want[key]
			if ok && lr.failure() == nil {
				r.refreshTLS(pr, lr, l)
				continue
			}
			delete(pr.listeners, key)
			go lr.stop(drainTime)
		}
		for key, l := range want {
			if pr.listeners[key] != nil {
				continue
			}
			lr, err := openListener(l, pr.p, handler{in: pr.in, listener: l.Name, key: key, scheme: l.Protocol}, r.env.Logger)
			if err != nil {
				pr.openErr[l.Name] = err
				r.env.Logger.Printf("proxy %s: %v", pr.p.Name, err)
				continue
			}
			pr.listeners[key] = lr
			r.env.Logger.Printf("proxy %s: listening on %s (%s)", pr.p.Name, listenAddr(l), l.Protocol)
		}
	}
}

// refreshTLS reloads the certificates of an open https listener; the next
// handshake uses them. On error the listener keeps its old ones.
func (r *Role) refreshTLS(pr *proxyRun, lr *listenerRun, l spec.Listener) {
	if l.Protocol != "https" || (sameTLS(lr.spec, l) && lr.tls.Load() != nil) {
		lr.spec = l
		return
	}
	cfg, err := loadTLS(l)
	if err != nil {
		pr.openErr[l.Name] = err
		r.env.Logger.Printf("proxy %s: keeping the old certificates: %v", pr.p.Name, err)
		return
	}
	lr.tls.Store(cfg)
	lr.spec = l
}

func sameTLS(a, b spec.Listener) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func (r *Role) stopProxy(pr *proxyRun) {
	for key, lr := range pr.listeners {
		delete(pr.listeners, key)
		go lr.stop(drainTime)
	}
	for _, h := range pr.health {
		h.cancel()
	}
	if d := pr.in.direct.Load(); d != nil {
		d.closeIdle()
	}
	if tr := pr.in.transport.Load(); tr != nil {
		tr.CloseIdleConnections()
	}
}

// markDown is the passive check: a connection to b failed.
func (r *Role) markDown(s *service, b *backend, reason string) {
	b.stats.state.Store(int32(health.Down))
	if s.health != nil && s.health.checker != nil {
		s.health.checker.MarkDown(b.name, "passive: "+reason)
	}
}

// Report implements role.Role.
func (r *Role) Report(st *status.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.runs))
	for n := range r.runs {
		names = append(names, n)
	}
	sort.Strings(names)
	st.Proxies = nil
	for _, n := range names {
		st.Proxies = append(st.Proxies, r.reportLocked(r.runs[n]))
	}
}

func (r *Role) reportLocked(pr *proxyRun) status.Proxy {
	t := pr.in.tbl.Load()
	out := status.Proxy{Name: pr.p.Name, Group: pr.p.Group, Serving: r.serves(pr.p), Requests: pr.in.served.Load(), LogLinesDropped: r.dropped.Load()}
	for _, l := range pr.p.Listeners {
		ls := status.ProxyListener{Name: l.Name, Protocol: l.Protocol, Address: listenAddr(l)}
		if lr := pr.listeners[listenerKey(l)]; lr != nil {
			if err := lr.failure(); err != nil {
				ls.Error = err.Error()
			} else {
				ls.Serving = true
			}
		}
		if err := pr.openErr[l.Name]; err != nil {
			ls.Error = err.Error()
		}
		out.Listeners = append(out.Listeners, ls)
	}
	for code := range pr.in.rejected {
		if n := pr.in.rejected[code].Load(); n > 0 {
			if out.Rejected == nil {
				out.Rejected = map[string]uint64{}
			}
			out.Rejected[strconv.Itoa(code)] = n
		}
	}
	for _, s := range t.services {
		ss := status.ProxyService{Name: s.name}
		if s.sessions != nil {
			ss.Sessions = s.sessions.len()
		}
		all := slices.Concat(s.regular, s.emergency)
		if s.redirect != nil {
			all = append(all, s.redirect)
		}
		for _, b := range all {
			// The histogram is read before the count, which observe
			// raises first: no bucket then holds more than requests.
			buckets := b.stats.buckets()
			bs := status.ProxyBackend{Name: b.name, Kind: b.kind, Address: b.hostPort, Weight: b.weight,
				State: health.State(b.stats.state.Load()).String(), Requests: b.stats.requests.Load(),
				Errors: b.stats.errors.Load(), Active: b.stats.active.Load(), SessionsMoved: b.stats.sessionsMoved.Load()}
			if b.kind == "redirect" {
				bs.Address = b.url
			}
			if bs.Requests > 0 && b.kind != "redirect" {
				bs.LatencyMSSum = float64(b.stats.latencyUS.Load()) / 1000
				bs.MeanLatencyMS = bs.LatencyMSSum / float64(bs.Requests)
				bs.LatencyBuckets = buckets
			}
			if s.health != nil && s.health.checker != nil {
				if hs, ok := s.health.checker.Get(b.name); ok {
					bs.Reason = hs.Reason
					if hs.Probes > 0 {
						bs.CheckLatencyMS = hs.LastLatencyMS
					}
				}
			}
			ss.Backends = append(ss.Backends, bs)
		}
		out.Services = append(out.Services, ss)
	}
	return out
}

// Drift implements role.DriftReporter: a listener that should serve and
// does not, a service none of whose backends is alive.
func (r *Role) Drift(time.Time) []string {
	var st status.Status
	r.Report(&st)
	var out []string
	for _, p := range st.Proxies {
		if !p.Serving {
			continue
		}
		for _, l := range p.Listeners {
			if !l.Serving {
				out = append(out, fmt.Sprintf("proxy %s: listener %s on %s is not serving: %s", p.Name, l.Name, l.Address, l.Error))
			}
		}
		for _, s := range p.Services {
			alive := false
			for _, b := range s.Backends {
				alive = alive || b.State != health.Down.String()
			}
			if len(s.Backends) > 0 && !alive {
				out = append(out, fmt.Sprintf("proxy %s: service %s has no live backend", p.Name, s.Name))
			}
		}
	}
	return out
}
