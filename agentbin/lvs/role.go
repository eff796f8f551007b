// Package lvs is the agent's lvs role: the virtual services of the spec
// (layer-4 load balancing behind a VIP, as LVS with ipvsadm, keepalived or
// ldirectord does), live only where their VIP's group runs. It checks the
// real servers with package health, computes which ones take connections
// (down ones removed or, quiescent, kept with weight 0; the sorry server
// when none is up) and has a datapath (package datapath: IPVS or
// nftables) make the kernel forward accordingly.
package lvs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/health"
	"github.com/hactl/hactl/agentbin/lvs/datapath"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// resyncEvery is how often the role compares the kernel with what it wants
// when nothing happened: a rule removed by hand comes back within it.
const resyncEvery = 2 * time.Second

// Kind is the lvs role as the agent registers it.
type Kind struct{}

var (
	_ role.Kind          = Kind{}
	_ role.Role          = (*Role)(nil)
	_ role.GroupFollower = (*Role)(nil)
	_ role.DriftReporter = (*Role)(nil)
)

// Name implements role.Kind.
func (Kind) Name() string { return "lvs" }

// New implements role.Kind: it resolves each service's datapath and
// refuses what that datapath cannot do.
func (Kind) New(s *spec.Spec, env role.Env) (role.Role, error) {
	r := &Role{env: env, node: s.Node, here: map[string]bool{}, kick: make(chan struct{}, 1), paths: map[string]datapath.Datapath{}}
	if r.env.Logger == nil {
		r.env.Logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	var err error
	if r.services, err = services(s); err != nil {
		return nil, err
	}
	return r, nil
}

// ReleaseLeftovers implements the agent's leftoverReleaser: the role
// leaves its rules in the kernel when it stops (an agent restart must not
// interrupt the services); when the spec has no virtual service for this
// node any more, every datapath's go.
func (Kind) ReleaseLeftovers(_ context.Context, env role.Env) error {
	var errs []error
	for _, name := range datapath.Names() {
		k, _ := datapath.Lookup(name)
		if k.Available() != nil {
			continue
		}
		d, err := k.Open(datapath.OpenEnv{StateDir: env.StateDir})
		if err == nil {
			err = d.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("lvs: removing the %s datapath's services: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// services prepares the spec's virtual services.
func services(s *spec.Spec) ([]*service, error) {
	groupOf := map[string]string{}
	for _, g := range s.Groups {
		for _, res := range g.Resources {
			if res.Kind == "vip" {
				groupOf[res.Name] = g.Name
			}
		}
	}
	var out []*service
	for _, vs := range s.VirtualServices {
		svc, err := newService(vs, groupOf[vs.VIP])
		if err != nil {
			return nil, fmt.Errorf("lvs: %w", err)
		}
		out = append(out, svc)
	}
	return out, nil
}

var _ role.Reloader = (*Role)(nil)

// Reload implements role.Reloader: the services change in place, each
// written by its datapath alone when it differs; a real server whose
// address and port stay keeps its health (and its checker runs on when the
// health_check is the same).
func (r *Role) Reload(s *spec.Spec) error {
	fresh, err := services(s)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := map[string]*service{}
	for _, svc := range r.services {
		old[svc.spec.Name] = svc
	}
	for _, svc := range fresh {
		prev := old[svc.spec.Name]
		if prev != nil && prev.checker != nil && reflect.DeepEqual(prev.spec.HealthCheck, svc.spec.HealthCheck) {
			svc.checker, svc.stop = prev.checker, prev.stop
			delete(old, svc.spec.Name)
			if err := svc.checker.Update(targets(svc.spec)); err != nil {
				return fmt.Errorf("lvs: virtual service %q: %w", svc.spec.Name, err)
			}
			continue
		}
		if r.run != nil {
			if err := r.watch(svc); err != nil {
				return err
			}
		}
	}
	for _, svc := range old {
		if svc.stop != nil {
			svc.stop()
		}
	}
	r.services = fresh
	r.poke()
	return nil
}

// Role runs the virtual services of one spec.
type Role struct {
	env  role.Env
	node string // this node, in events
	kick chan struct{}

	mu       sync.Mutex
	services []*service
	// run and wg are Run's, for the checkers a Reload starts.
	run   context.Context
	wg    *sync.WaitGroup
	here  map[string]bool // group → runs here
	paths map[string]datapath.Datapath
	stats map[string]map[string]datapath.BackendStats
	// synced is what each datapath was last given.
	synced map[string][]datapath.Service
	// restores are the hand edits written back within restoredWindow,
	// oldest first.
	restores []restore
}

// restoredWindow is how long drift keeps saying that a rule changed by
// hand was written back: the role restores within resyncEvery, so drift
// would hardly ever see the edit itself, and an operator must learn that
// someone edits hactl's rules by hand.
const restoredWindow = 10 * time.Minute

// restore is one write-back of rules changed by hand.
type restore struct {
	at       time.Time
	datapath string
	what     []string
}

// service is one virtual service and its real servers' checker.
type service struct {
	spec           spec.VirtualService
	group          string
	base           datapath.Service // Backends: every real server at its configured weight
	sorry          *datapath.Backend
	kind           datapath.Kind
	datapathReason string
	checker        *health.Checker // nil without a health_check: every server counts as up
	stop           context.CancelFunc
}

func newService(vs spec.VirtualService, group string) (*service, error) {
	addr, err := netip.ParseAddr(vs.Address)
	if err != nil {
		return nil, fmt.Errorf("virtual service %q: address %q: %w", vs.Name, vs.Address, err)
	}
	svc := &service{spec: vs, group: group, base: datapath.Service{
		Name: vs.Name, Protocol: vs.Protocol, Address: addr, Port: uint16(vs.Port), FWMark: vs.FWMark,
		Scheduler: vs.Scheduler, Forwarding: vs.Forwarding,
		Persistence: time.Duration(vs.PersistenceMS) * time.Millisecond, PersistMask: maskBits(vs.PersistMask, addr.Is4()),
	}}
	if m := vs.Mark; m != nil {
		svc.base.Mark = &datapath.Mark{}
		for _, a := range m.Addresses {
			ma, err := netip.ParseAddr(a)
			if err != nil {
				return nil, fmt.Errorf("virtual service %q: mark address %q: %w", vs.Name, a, err)
			}
			svc.base.Mark.Addresses = append(svc.base.Mark.Addresses, ma)
		}
		for _, p := range m.Ports {
			svc.base.Mark.Ports = append(svc.base.Mark.Ports, uint16(p))
		}
	}
	for _, rs := range vs.RealServers {
		a, err := netip.ParseAddr(rs.Address)
		if err != nil {
			return nil, fmt.Errorf("virtual service %q, real server %q: address %q: %w", vs.Name, rs.Name, rs.Address, err)
		}
		svc.base.Backends = append(svc.base.Backends, datapath.Backend{Name: rs.Name, Address: a, Port: uint16(rs.Port), Weight: rs.Weight})
	}
	if vs.SorryServer != "" {
		ap, err := netip.ParseAddrPort(vs.SorryServer)
		if err != nil {
			return nil, fmt.Errorf("virtual service %q: sorry_server %q: %w", vs.Name, vs.SorryServer, err)
		}
		svc.sorry = &datapath.Backend{Name: datapath.SorryName, Address: ap.Addr(), Port: ap.Port(), Weight: 1}
	}
	svc.kind, svc.datapathReason, err = Resolve(vs.Datapath)
	if err != nil {
		return nil, fmt.Errorf("virtual service %q: %w", vs.Name, err)
	}
	if err := svc.kind.Capable(svc.base); err != nil {
		return nil, err
	}
	return svc, nil
}

// targets are the real servers to check. A firewall-mark service's real
// server without a port takes each packet on its own port: it is checked
// on the first marked one.
func targets(vs spec.VirtualService) []health.Target {
	var out []health.Target
	for _, rs := range vs.RealServers {
		port := rs.Port
		if port == 0 && vs.Mark != nil && len(vs.Mark.Ports) > 0 {
			port = vs.Mark.Ports[0]
		}
		out = append(out, health.Target{Name: rs.Name, Address: rs.Address, Port: port, Weight: rs.Weight})
	}
	return out
}

// watch starts checking a service's real servers, when it has a
// health_check, until Run ends or the service goes. r.mu is held.
func (r *Role) watch(svc *service) error {
	name := svc.spec.Name
	return svc.watch(r.run, r.wg, func(t health.Transition) { r.transition(name, t) })
}

// watch starts the service's checker under ctx.
func (svc *service) watch(ctx context.Context, wg *sync.WaitGroup, onChange func(health.Transition)) error {
	hc := svc.spec.HealthCheck
	if hc == nil {
		return nil
	}
	var err error
	svc.checker, err = health.New(hc, health.Options{OnChange: onChange, VerifyTLS: hc.VerifyTLS})
	if err != nil {
		return fmt.Errorf("lvs: virtual service %q: health check: %w", svc.spec.Name, err)
	}
	if err := svc.checker.Update(targets(svc.spec)); err != nil {
		return fmt.Errorf("lvs: virtual service %q: %w", svc.spec.Name, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	svc.stop = cancel
	wg.Go(func() { _ = svc.checker.Run(cctx) })
	return nil
}

// maskBits turns a persistence netmask ("255.255.255.0") into a prefix
// length; the full length when unset.
func maskBits(mask string, v4 bool) int {
	full := 128
	if v4 {
		full = 32
	}
	m, err := netip.ParseAddr(mask)
	if err != nil {
		return full
	}
	bits := 0
	for _, b := range m.AsSlice() {
		for i := 7; i >= 0 && b&(1<<i) != 0; i-- {
			bits++
		}
	}
	return min(bits, full)
}

// Resolve picks the datapath for the HCL's datapath attribute: "auto" is
// IPVS where the kernel has it, nftables otherwise. The reason is for the
// status and the log.
func Resolve(name string) (datapath.Kind, string, error) {
	if name == "" || name == "auto" {
		if k, ok := datapath.Lookup("ipvs"); ok {
			err := k.Available()
			if err == nil {
				return k, "auto: the kernel has IPVS", nil
			}
			nft, ok := datapath.Lookup("nftables")
			if !ok {
				return datapath.Kind{}, "", fmt.Errorf("no datapath: IPVS is not available (%v) and this agent has no nftables datapath", err)
			}
			return nft, fmt.Sprintf("auto: IPVS is not available (%v)", err), nil
		}
		name = "nftables"
		k, ok := datapath.Lookup(name)
		if !ok {
			return datapath.Kind{}, "", errors.New("no datapath registered in this agent")
		}
		return k, "auto: this agent has no IPVS datapath", nil
	}
	k, ok := datapath.Lookup(name)
	if !ok {
		return datapath.Kind{}, "", fmt.Errorf("datapath %q is not in this agent (it has %v)", name, datapath.Names())
	}
	if err := k.Available(); err != nil {
		return datapath.Kind{}, "", fmt.Errorf("datapath %q cannot run on this host: %w", name, err)
	}
	return k, "set in the spec", nil
}

// GroupChanged implements role.GroupFollower.
func (r *Role) GroupChanged(c role.GroupChange) {
	r.mu.Lock()
	r.here[c.Group] = c.Here
	r.mu.Unlock()
	r.poke()
}

func (r *Role) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run implements role.Role. It leaves the rules in the kernel when it
// returns (see ReleaseLeftovers).
func (r *Role) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	r.mu.Lock()
	r.run, r.wg = ctx, &wg
	var err error
	for _, svc := range r.services {
		if err = r.watch(svc); err != nil {
			break
		}
	}
	nat := slices.ContainsFunc(r.services, func(s *service) bool { return s.spec.Forwarding == "nat" })
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if nat {
		// LVS-NAT: the directors route the real servers' replies.
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			r.env.Logger.Printf("lvs: enabling IP forwarding: %v", err)
		}
	}
	wg.Go(func() { r.readStats(ctx) })
	tick := time.NewTicker(resyncEvery)
	defer tick.Stop()
	for {
		if err := r.sync(); err != nil {
			r.env.Logger.Printf("lvs: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-tick.C:
		}
	}
}

func (r *Role) service(name string) *service {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, svc := range r.services {
		if svc.spec.Name == name {
			return svc
		}
	}
	return nil
}

// transition logs a real server's change of health, counts it (the
// checker does) and reports it, except a new server's first Up.
func (r *Role) transition(name string, t health.Transition) {
	svc := r.service(name)
	if svc == nil {
		return
	}
	r.env.Logger.Printf("lvs: virtual service %q: real server %q %s → %s: %s", name, t.Target.Name, t.From, t.To, t.Reason)
	if (t.From != health.Unknown || t.To == health.Down) && r.env.Emit != nil {
		kind := status.RealServerDown
		if t.To == health.Up {
			kind = status.RealServerUp
		}
		r.env.Emit(status.Event{Time: t.At, Kind: kind, Node: r.node, Group: svc.group,
			Detail: fmt.Sprintf("virtual service %s, real server %s (%s:%d): %s", name, t.Target.Name, t.Target.Address, t.Target.Port, t.Reason)})
	}
	r.poke()
}

// want is what a service must forward now: the real servers that are up
// (Unknown counts as down until its first probe, which comes at once),
// quiescent ones at weight 0, or the sorry server.
func (svc *service) want() datapath.Service {
	s := svc.base
	s.Backends = nil
	up := 0
	for _, b := range svc.base.Backends {
		ok := true
		if svc.checker != nil {
			st, found := svc.checker.Get(b.Name)
			ok = found && st.State == health.Up
		}
		switch {
		case ok:
			s.Backends = append(s.Backends, b)
			up += min(b.Weight, 1)
		case svc.spec.Quiescent:
			b.Weight = 0
			s.Backends = append(s.Backends, b)
		}
	}
	if up == 0 && svc.sorry != nil {
		s.Backends = []datapath.Backend{*svc.sorry}
	}
	return s
}

// desired groups the live services by datapath.
func (r *Role) desired() map[string][]datapath.Service {
	r.mu.Lock()
	here := maps.Clone(r.here)
	services := slices.Clone(r.services)
	out := map[string][]datapath.Service{}
	// A datapath that no service uses any more is emptied.
	for name := range r.paths {
		out[name] = nil
	}
	r.mu.Unlock()
	for _, svc := range services {
		if _, ok := out[svc.kind.Name]; !ok {
			out[svc.kind.Name] = nil
		}
		if here[svc.group] || svc.kind.LocalOnly {
			out[svc.kind.Name] = append(out[svc.kind.Name], svc.want())
		}
	}
	return out
}

// datapath returns the open datapath of a kind, opening it the first time.
// Its sync interface is the first one a service of the kind names, as the
// spec was then: the kernel's sync daemons carry every service's
// connections on one interface.
func (r *Role) datapath(kind datapath.Kind) (datapath.Datapath, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.paths[kind.Name]; ok {
		return d, nil
	}
	env := datapath.OpenEnv{StateDir: r.env.StateDir}
	for _, svc := range r.services {
		if svc.kind.Name == kind.Name && env.SyncInterface == "" {
			env.SyncInterface = svc.spec.SyncInterface
		}
	}
	d, err := kind.Open(env)
	if err != nil {
		return nil, fmt.Errorf("opening the %s datapath: %w", kind.Name, err)
	}
	r.paths[kind.Name] = d
	return d, nil
}

// sync brings every datapath in line.
func (r *Role) sync() error {
	var errs []error
	for name, services := range r.desired() {
		kind, _ := datapath.Lookup(name)
		d, err := r.datapath(kind)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The sync daemon switches first: the kernel's master sends a
		// connection when it is established, so it must run before the
		// services go live, or their first connections would reach the
		// other directors only after fifty packets more.
		if cs, ok := d.(datapath.ConnSyncer); ok {
			if err := cs.SetMaster(len(services) > 0); err != nil {
				errs = append(errs, fmt.Errorf("%s datapath: connection sync: %w", name, err))
			}
		}
		r.restoreNotice(name, d, services)
		if n, err := d.Sync(services); err != nil {
			errs = append(errs, fmt.Errorf("%s datapath: %w", name, err))
		} else if n > 0 {
			r.env.Logger.Printf("lvs: %s datapath: %d virtual service(s) written", name, n)
		}
	}
	return errors.Join(errs...)
}

// readStats reads every open datapath's counters for Report. It runs on
// its own: listing a busy director's connections takes a while, and
// must not delay an update.
func (r *Role) readStats(ctx context.Context) {
	tick := time.NewTicker(resyncEvery)
	defer tick.Stop()
	var lastErr string
	for {
		r.mu.Lock()
		paths := maps.Clone(r.paths)
		r.mu.Unlock()
		stats := map[string]map[string]datapath.BackendStats{}
		for name, d := range paths {
			ss, err := d.Stats()
			if err != nil {
				if msg := err.Error(); msg != lastErr {
					r.env.Logger.Printf("lvs: %s datapath: reading counters: %v", name, err)
					lastErr = msg
				}
				continue
			}
			for _, s := range ss {
				m := map[string]datapath.BackendStats{}
				for _, b := range s.Backends {
					m[b.Name] = b
				}
				stats[s.Name] = m
			}
		}
		r.mu.Lock()
		r.stats = stats
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// restoreNotice logs and reports the rules changed by hand that the
// coming Sync will write back: those the datapath finds differing while
// the role wants what it wanted at its last Sync.
func (r *Role) restoreNotice(name string, d datapath.Datapath, services []datapath.Service) {
	r.mu.Lock()
	same := r.synced != nil && reflect.DeepEqual(r.synced[name], services)
	if r.synced == nil {
		r.synced = map[string][]datapath.Service{}
	}
	r.synced[name] = services
	r.mu.Unlock()
	if !same {
		return
	}
	drift := d.Drift(services)
	if len(drift) == 0 {
		return
	}
	now := time.Now()
	r.env.Logger.Printf("lvs: %s datapath: restoring rules changed by hand: %s", name, strings.Join(drift, "; "))
	r.mu.Lock()
	r.restores = append(recent(r.restores, now), restore{at: now, datapath: name, what: drift})
	r.mu.Unlock()
	if r.env.Emit != nil {
		r.env.Emit(status.Event{Time: now, Kind: status.LVSRestored, Node: r.node, Detail: name + ": " + strings.Join(drift, "; ")})
	}
}

// recent drops the restores older than restoredWindow.
func recent(rs []restore, now time.Time) []restore {
	i := 0
	for i < len(rs) && now.Sub(rs[i].at) > restoredWindow {
		i++
	}
	return slices.Clone(rs[i:])
}

// restoredSentences tell drift about the recent write-backs, newest
// first: the edit itself is gone, but that someone makes it is news.
func restoredSentences(rs []restore, now time.Time) []string {
	var out []string
	for _, rs := range slices.Backward(rs) {
		ago := now.Sub(rs.at).Round(time.Second)
		out = append(out, fmt.Sprintf("lvs (%s): rules changed by hand were restored %s ago (%s): %s",
			rs.datapath, ago, rs.at.UTC().Format(time.TimeOnly+" MST"), strings.Join(rs.what, "; ")))
	}
	return out
}

// Drift implements role.DriftReporter: what differs now, and the hand
// edits restored within restoredWindow.
func (r *Role) Drift(now time.Time) []string {
	var out []string
	for name, services := range r.desired() {
		r.mu.Lock()
		d, ok := r.paths[name]
		r.mu.Unlock()
		if !ok {
			continue
		}
		for _, s := range d.Drift(services) {
			out = append(out, "lvs ("+name+"): "+s)
		}
	}
	slices.Sort(out)
	r.mu.Lock()
	r.restores = recent(r.restores, now)
	restored := restoredSentences(r.restores, now)
	r.mu.Unlock()
	return append(out, restored...)
}

// fastPather is a datapath that may forward established connections on a
// fast path (nftables: a flowtable), and says which or why not.
type fastPather interface{ FastPath() string }

// Report implements role.Role.
func (r *Role) Report(st *status.Status) {
	r.mu.Lock()
	here := maps.Clone(r.here)
	stats := r.stats
	services := slices.Clone(r.services)
	paths := maps.Clone(r.paths)
	r.mu.Unlock()
	sec := &status.LVS{}
	for _, svc := range services {
		live := here[svc.group]
		want := svc.want()
		reason := svc.datapathReason
		if f, ok := paths[svc.kind.Name].(fastPather); ok {
			reason += "; fast path: " + f.FastPath()
		}
		vs := status.VirtualService{Name: svc.spec.Name, Protocol: svc.spec.Protocol, Address: svc.spec.Address, Port: svc.spec.Port, FWMark: svc.spec.FWMark,
			Scheduler: svc.spec.Scheduler, Datapath: svc.kind.Name, DatapathReason: reason, Live: live,
			Sorry: len(want.Backends) == 1 && want.Backends[0].Name == datapath.SorryName}
		for _, rs := range svc.spec.RealServers {
			out := status.RealServer{Name: rs.Name, Address: rs.Address, Port: rs.Port, Weight: rs.Weight, Health: "up", Effective: -1,
				ActiveConns: -1, Conns: -1, Bytes: -1}
			if svc.checker != nil {
				if h, ok := svc.checker.Get(rs.Name); ok {
					out.Health, out.Reason, out.Transitions = h.State.String(), h.Reason, h.Transitions
					if h.Probes > 0 {
						out.CheckLatencyMS = h.LastLatencyMS
					}
				}
			}
			for _, b := range want.Backends {
				if b.Name == rs.Name {
					out.Effective = b.Weight
				}
			}
			if b, ok := stats[svc.spec.Name][rs.Name]; ok && live {
				out.ActiveConns, out.Conns, out.Bytes = b.ActiveConns, b.Conns, b.Bytes
			}
			vs.RealServers = append(vs.RealServers, out)
		}
		sec.Services = append(sec.Services, vs)
	}
	st.LVS = sec
}
