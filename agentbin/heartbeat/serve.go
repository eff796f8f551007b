package heartbeat

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/status"
)

// Serve tracking: a member alive on its heartbeat links may still be unable
// to serve a group, because the interface that carries the group's VIP has
// lost its carrier (a pulled cable, a dead switch), or because it no longer
// reaches the group's ping targets (a dead switch port, a cable cut beyond
// the switch). Its clients cannot reach it, yet nobody would take the group
// over, as the member is not dead. keepalived puts such an instance in
// FAULT; Heartbeat had ipfail and pingd. Here each member checks, on every
// tick, the carrier of its VIPs' interfaces and the latest results of its
// ping targets, and gossips in its heartbeat the groups it cannot serve
// (wire.State.CannotServe); placement then prefers the members that can
// (see ableToServe), so a group whose targets nobody reaches stays put.
//
// The rule, with hysteresis so that a flapping link does not bounce a group:
//
//   - A member cannot serve a group from the first tick on which the
//     interface of one of the group's VIPs is down or has no carrier, or
//     on which none of the group's ping targets counts as reachable; a
//     target stops counting after pingMisses unanswered pings in a row.
//     A holder that cannot serve only for its ping targets keeps the group
//     for pingDampen more, so that members that all lost them (a target
//     that is down) learn it of each other and the group stays put.
//   - It can serve it again only once that interface has been up with
//     carrier (that target has been reachable) for serveHold without
//     interruption; each loss starts the wait again.
//   - An interface up when the agent starts counts at once, and so does a
//     target until it misses: the wait follows a loss seen by this agent
//     only.
//
// Failback to a member that can serve again waits for both serveHold and
// the group's failback_delay (which counts from the member's return to
// the membership, so mostly serveHold).

// serveHold is how long an interface must keep its carrier, after losing
// it, before its member counts as able to serve its groups again.
const serveHold = 5 * time.Second

// pingMisses is how many pings in a row a target may leave unanswered and
// still count as reachable: one lost echo moves nothing.
const pingMisses = 3

// pingPeriod is the time between two pings of a target.
const pingPeriod = time.Second

// pingFunc sends one echo to addr and reports whether it was answered
// within timeout.
type pingFunc func(ctx context.Context, addr netip.Addr, timeout time.Duration) bool

// pingTarget is one ping target of this node's groups; its loop stores
// whether it counts as reachable.
type pingTarget struct {
	addr      netip.Addr
	reachable atomic.Bool
}

// pingLoop pings t every period until ctx ends.
func (e *Engine) pingLoop(ctx context.Context, t *pingTarget) {
	tick := time.NewTicker(e.pingPeriod)
	defer tick.Stop()
	misses := 0
	for {
		if e.ping(ctx, t.addr, e.pingPeriod*4/5) {
			misses = 0
			t.reachable.Store(true)
		} else if misses++; misses >= pingMisses {
			t.reachable.Store(false)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// carrierFunc reports whether a network interface is up and has carrier.
type carrierFunc func(iface string) (bool, error)

// carrierSocket is the socket ifCarrier asks through, opened once for the
// agent's life.
var carrierSocket = sync.OnceValues(func() (int, error) {
	return unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
})

// ifCarrier asks the kernel with one ioctl (SIOCGIFFLAGS) on a socket
// kept open: a microsecond, where a netlink request (a socket opened,
// a message sent, read and parsed) took forty, on every tick and for
// every interface. IFF_RUNNING is the interface's operational state:
// up with carrier, as IFF_LOWER_UP, unless dormant.
func ifCarrier(iface string) (bool, error) {
	fd, err := carrierSocket()
	if err != nil {
		return false, fmt.Errorf("interface %s: a socket to ask about it: %w", iface, err)
	}
	ifr, err := unix.NewIfreq(iface)
	if err != nil {
		return false, fmt.Errorf("interface %s: %w", iface, err)
	}
	// Raw: the call never blocks, and a system call the Go scheduler is
	// told of wakes its monitor thread, every tick (see ticker).
	if _, _, errno := unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCGIFFLAGS, uintptr(unsafe.Pointer(ifr))); errno != 0 {
		return false, fmt.Errorf("interface %s: %w", iface, errno)
	}
	f := ifr.Uint16()
	return f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0, nil
}

// carrierState is what serve tracking knows of one interface (its
// carrier) or ping target (its reachability).
type carrierState struct {
	up bool
	// since is when it last came up after a loss; zero when it has not
	// been lost since the agent started.
	since time.Time
	err   error // why the last check failed
}

// fit says whether the interface or target counts as able to serve at now.
func (c *carrierState) fit(now time.Time, hold time.Duration) bool {
	return c.up && (c.since.IsZero() || now.Sub(c.since) >= hold)
}

// updateServe checks the carrier of every VIP interface and recomputes the
// groups this node cannot serve.
func (e *Engine) updateServe(now time.Time) {
	for _, iface := range e.vipInterfaces() {
		up, err := e.carrier(iface)
		e.check(iface, up, err, now)
	}
	for addr, t := range e.pingTargets {
		e.check("ping "+addr, t.reachable.Load(), nil, now)
	}
	var cannot []string
	for _, name := range e.groupNames {
		if why, onlyPings := e.whyCannotServe(e.groups[name], now); why != "" {
			cannot = append(cannot, name)
			if !slices.Contains(e.cannotServe, name) {
				e.emit(status.CannotServe, e.self, name, why)
				if onlyPings {
					e.releaseAfter[name] = now.Add(e.pingDampen())
				}
			}
			if !onlyPings {
				delete(e.releaseAfter, name)
			}
		} else if slices.Contains(e.cannotServe, name) {
			delete(e.releaseAfter, name)
			e.emit(status.CanServe, e.self, name, fmt.Sprintf("its interfaces and ping targets were fit for %s", e.serveHold))
		}
	}
	e.cannotServe = cannot
}

// check records the latest result of one check (an interface's carrier,
// "ping ADDR" for a ping target).
func (e *Engine) check(name string, up bool, err error, now time.Time) {
	c := e.carriers[name]
	if c == nil {
		c = &carrierState{up: true}
		e.carriers[name] = c
	}
	if !c.up && up {
		c.since = now
	}
	c.up, c.err = up, err
}

// pingDampen is how long a holder that cannot serve a group only for its
// ping targets keeps it: long enough for the other members' pings, a ping
// period apart at most, and their next heartbeats to tell whether they
// lost the targets too, as when a target itself is down. Then the group
// stays where it is instead of moving to a member about to lose them as
// well.
func (e *Engine) pingDampen() time.Duration {
	return 2*e.pingPeriod + 2*e.interval()
}

// keepDampened says why this node keeps running a group placement gives to
// another member, or "": it cannot serve the group only for its ping
// targets, and lost them less than pingDampen ago.
func (e *Engine) keepDampened(group string, now time.Time) string {
	until, ok := e.releaseAfter[group]
	if !ok || !now.Before(until) {
		return ""
	}
	return fmt.Sprintf("keeping it until %s: the other members may have lost its ping targets too", until.Format("15:04:05.000"))
}

// whyCannotServe says why this node cannot serve the group now, or "", and
// whether its ping targets are the only reason.
func (e *Engine) whyCannotServe(g *groupRun, now time.Time) (why string, onlyPings bool) {
	var whys []string
	for _, r := range g.spec.Resources {
		c := e.carriers[r.Interface]
		if r.Kind != "vip" || c == nil || c.fit(now, e.serveHold) {
			continue
		}
		switch {
		case c.err != nil:
			whys = append(whys, fmt.Sprintf("vip %s: %v", r.Name, c.err))
		case !c.up:
			whys = append(whys, fmt.Sprintf("vip %s: %s is down or has no carrier", r.Name, r.Interface))
		default:
			whys = append(whys, fmt.Sprintf("vip %s: %s has carrier again since %s, less than %s", r.Name, r.Interface, c.since.Format(time.RFC3339), e.serveHold))
		}
	}
	carrierOK := len(whys) == 0
	if len(g.spec.PingTargets) > 0 && !slices.ContainsFunc(g.spec.PingTargets, func(a string) bool {
		c := e.carriers["ping "+a]
		return c == nil || c.fit(now, e.serveHold)
	}) {
		whys = append(whys, fmt.Sprintf("none of the ping targets %s reachable (%d pings in a row unanswered), or reachable again for %s", strings.Join(g.spec.PingTargets, ", "), pingMisses, e.serveHold))
	}
	return strings.Join(whys, "; "), carrierOK && len(whys) > 0
}

// vipInterfaces lists the interfaces that carry this node's VIPs.
func (e *Engine) vipInterfaces() []string {
	var out []string
	for _, g := range e.groups {
		for _, r := range g.spec.Resources {
			if r.Kind == "vip" && r.Interface != "" && !slices.Contains(out, r.Interface) {
				out = append(out, r.Interface)
			}
		}
	}
	sort.Strings(out)
	return out
}
