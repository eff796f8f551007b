package heartbeat

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/status"
)

// Serve tracking: a member alive on its heartbeat links may still be unable
// to serve a group, because the interface that carries the group's VIP has
// lost its carrier (a pulled cable, a dead switch). Its clients cannot reach
// it, yet nobody would take the group over, as the member is not dead.
// keepalived puts such an instance in FAULT; Heartbeat had ipfail. Here each
// member checks, on every tick, the carrier of its VIPs' interfaces, and
// gossips in its heartbeat the groups it cannot serve (wire.State.
// CannotServe); placement then prefers the members that can (see
// ableToServe).
//
// The rule, with hysteresis so that a flapping link does not bounce a group:
//
//   - A member cannot serve a group from the first tick on which the
//     interface of one of the group's VIPs is down or has no carrier.
//   - It can serve it again only once that interface has been up with
//     carrier for serveHold without interruption; each loss starts the
//     wait again.
//   - An interface up when the agent starts counts at once: the wait
//     follows a loss seen by this agent only.
//
// Failback to a member that can serve again waits for both serveHold and
// the group's failback_delay (which counts from the member's return to
// the membership, so mostly serveHold).

// serveHold is how long an interface must keep its carrier, after losing
// it, before its member counts as able to serve its groups again.
const serveHold = 5 * time.Second

// carrierFunc reports whether a network interface is up and has carrier.
type carrierFunc func(iface string) (bool, error)

// netlinkCarrier asks the kernel: one RTNETLINK request, answered at once
// from the kernel's link table, cheap enough for every tick.
func netlinkCarrier(iface string) (bool, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return false, fmt.Errorf("interface %s: %w", iface, err)
	}
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0, nil
}

// carrierState is what serve tracking knows of one interface.
type carrierState struct {
	up bool
	// since is when it last came up after a loss; zero when it has not
	// been lost since the agent started.
	since time.Time
	err   error // why the last check failed
}

// fit says whether the interface counts as able to serve at now.
func (c *carrierState) fit(now time.Time, hold time.Duration) bool {
	return c.up && (c.since.IsZero() || now.Sub(c.since) >= hold)
}

// updateServe checks the carrier of every VIP interface and recomputes the
// groups this node cannot serve.
func (e *Engine) updateServe(now time.Time) {
	for _, iface := range e.vipInterfaces() {
		up, err := e.carrier(iface)
		c := e.carriers[iface]
		if c == nil {
			c = &carrierState{up: up}
			e.carriers[iface] = c
		}
		switch {
		case c.up && !up:
			e.cfg.Logger.Printf("heartbeat: %s lost carrier: its groups move to a member that can serve them", iface)
		case !c.up && up:
			c.since = now
		}
		c.up, c.err = up, err
	}
	var cannot []string
	for _, name := range sortedGroupNames(e.groups) {
		if why := e.whyCannotServe(e.groups[name], now); why != "" {
			cannot = append(cannot, name)
			if !slices.Contains(e.cannotServe, name) {
				e.emit(status.CannotServe, e.self, name, why)
			}
		} else if slices.Contains(e.cannotServe, name) {
			e.emit(status.CanServe, e.self, name, fmt.Sprintf("its interfaces kept carrier for %s", e.serveHold))
		}
	}
	e.cannotServe = cannot
}

// whyCannotServe says why this node cannot serve the group now, or "".
func (e *Engine) whyCannotServe(g *groupRun, now time.Time) string {
	var why []string
	for _, r := range g.spec.Resources {
		c := e.carriers[r.Interface]
		if r.Kind != "vip" || c == nil || c.fit(now, e.serveHold) {
			continue
		}
		switch {
		case c.err != nil:
			why = append(why, fmt.Sprintf("vip %s: %v", r.Name, c.err))
		case !c.up:
			why = append(why, fmt.Sprintf("vip %s: %s is down or has no carrier", r.Name, r.Interface))
		default:
			why = append(why, fmt.Sprintf("vip %s: %s has carrier again since %s, less than %s", r.Name, r.Interface, c.since.Format(time.RFC3339), e.serveHold))
		}
	}
	return strings.Join(why, "; ")
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
