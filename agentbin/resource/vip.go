package resource

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// garpGap is the pause between the announcements sent when a VIP is
// taken.
const garpGap = 100 * time.Millisecond

// kernel is what a VIP needs from the kernel. The methods run in the
// agent's network namespace and are idempotent.
type kernel interface {
	// AddAddr puts p on the interface (an address already there is fine).
	AddAddr(ifname string, p netip.Prefix) error
	// DelAddr takes p off the interface; an address or an interface that
	// is not there is fine.
	DelAddr(ifname string, p netip.Prefix) error
	// HasAddr reports whether p is on the interface (a missing interface
	// has no addresses).
	HasAddr(ifname string, p netip.Prefix) (bool, error)
	// Announce tells the link that a is here: a gratuitous ARP request and
	// reply (IPv4) or an unsolicited neighbour advertisement (IPv6).
	Announce(ifname string, a netip.Addr) error
}

// vip is a virtual IP address.
type vip struct {
	name    string
	ifname  string
	prefix  netip.Prefix
	count   int           // announcements when taken
	gap     time.Duration // between them
	refresh time.Duration // period of re-announcements; 0: none
	k       kernel
	log     *log.Logger

	mu sync.Mutex // serialises Start and Stop
	// endAnnouncer stops the goroutine that announces the address and
	// waits for it; nil when none runs.
	endAnnouncer func()
}

func newVIP(r spec.Resource, env Env, k kernel) (Resource, error) {
	p, err := netip.ParsePrefix(r.Address)
	if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return nil, fmt.Errorf("resource %q: vip address %q is not an address with a prefix length, e.g. 192.168.0.33/24 or 2001:db8::33/64", r.Name, r.Address)
	}
	if r.Interface == "" {
		return nil, fmt.Errorf("resource %q: vip %s names no interface; name the device that carries it on this node, e.g. eth0", r.Name, p)
	}
	if r.GARPCount < 0 || r.GARPRefreshMS < 0 {
		return nil, fmt.Errorf("resource %q: garp_count (%d) and garp_refresh_ms (%d) must be 0 or more", r.Name, r.GARPCount, r.GARPRefreshMS)
	}
	logger := env.Logger
	if logger == nil {
		logger = log.Default()
	}
	return &vip{
		name:    r.Name,
		ifname:  r.Interface,
		prefix:  p,
		count:   r.GARPCount,
		gap:     garpGap,
		refresh: time.Duration(r.GARPRefreshMS) * time.Millisecond,
		k:       k,
		log:     logger,
	}, nil
}

func (v *vip) Name() string { return v.name }

// Start adds the address, announces it at once, and leaves a goroutine
// repeating the announcement (count-1 more times, then every refresh)
// until Stop. Starting a started VIP adds the address if it went missing
// and announces it anew.
func (v *vip) Start(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.quiet()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("resource %q: not adding %s: %w", v.name, v.prefix, err)
	}
	if err := v.k.AddAddr(v.ifname, v.prefix); err != nil {
		return fmt.Errorf("resource %q: adding %s to %s: %w; check that %s exists on this node and is the interface the configuration names", v.name, v.prefix, v.ifname, err, v.ifname)
	}
	if v.count > 0 {
		v.announce()
	}
	if v.count > 1 || v.refresh > 0 {
		actx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go v.announcer(actx, done)
		v.endAnnouncer = func() { cancel(); <-done }
	}
	return nil
}

// Stop ends the announcements and removes the address.
func (v *vip) Stop(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.quiet()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("resource %q: not removing %s: %w", v.name, v.prefix, err)
	}
	if err := v.k.DelAddr(v.ifname, v.prefix); err != nil {
		return fmt.Errorf("resource %q: removing %s from %s: %w; remove it by hand (ip addr del %s dev %s) before it runs elsewhere", v.name, v.prefix, v.ifname, err, v.prefix, v.ifname)
	}
	return nil
}

// Detach ends the announcements and leaves the address in place.
func (v *vip) Detach() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.quiet()
}

// Monitor reports whether the address is on the interface.
func (v *vip) Monitor(context.Context) (bool, error) {
	ok, err := v.k.HasAddr(v.ifname, v.prefix)
	if err != nil {
		return false, fmt.Errorf("resource %q: listing the addresses of %s: %w", v.name, v.ifname, err)
	}
	return ok, nil
}

// quiet ends the announcer, if one runs. v.mu is held.
func (v *vip) quiet() {
	if v.endAnnouncer != nil {
		v.endAnnouncer()
		v.endAnnouncer = nil
	}
}

// announcer sends the remaining count-1 announcements gap apart, then one
// every refresh, until ctx ends; it closes done when it returns.
func (v *vip) announcer(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for range v.count - 1 {
		if !sleep(ctx, v.gap) {
			return
		}
		v.announce()
	}
	if v.refresh <= 0 {
		return
	}
	t := time.NewTicker(v.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			v.announce()
		}
	}
}

// announce sends one announcement. A failure is logged, not returned: the
// address works without it, only neighbours with stale caches are slower
// to follow.
func (v *vip) announce() {
	if err := v.k.Announce(v.ifname, v.prefix.Addr()); err != nil {
		v.log.Printf("resource %q: announcing %s on %s: %v (neighbours learn it when they next ask)", v.name, v.prefix.Addr(), v.ifname, err)
	}
}

// sleep waits d, or less if ctx ends first; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var _ Detacher = (*vip)(nil)
