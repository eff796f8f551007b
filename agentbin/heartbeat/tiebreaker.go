package heartbeat

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// quorumDevice tells one half of a two-node cluster that it may keep
// quorum; tests replace the tie-breaker with a fake.
type quorumDevice interface {
	run(ctx context.Context)
	setActive(bool)
	reachable() bool
}

// tieBreaker pings an address both halves of a two-node cluster can reach
// (usually the gateway): the half that reaches it keeps quorum. It pings
// continuously while a member is late or missing, so that the answer is
// fresh when the member is declared dead, and once a second otherwise.
type tieBreaker struct {
	addr     netip.Addr
	interval time.Duration
	timeout  time.Duration
	active   atomic.Bool
	// ok is the result of the latest completed ping: a node cut off from
	// the network loses quorum as soon as one ping started after the cut
	// has gone unanswered.
	ok atomic.Bool
}

func newTieBreaker(addr netip.Addr, interval, deadtime time.Duration) *tieBreaker {
	return &tieBreaker{addr: addr, interval: interval, timeout: min(max(deadtime/2, 100*time.Millisecond), time.Second)}
}

func (t *tieBreaker) setActive(on bool) { t.active.Store(on) }

func (t *tieBreaker) reachable() bool { return t.ok.Load() }

func (t *tieBreaker) run(ctx context.Context) {
	last := time.Time{}
	for {
		if t.active.Load() || time.Since(last) >= time.Second {
			last = time.Now()
			t.ok.Store(ping(ctx, t.addr, t.timeout))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(t.interval):
		}
	}
}

// ping sends one ICMP echo to addr and reports whether its reply came
// within timeout. It is done here rather than by running the system's
// ping because starting a command holds one of the agent's Ps until the
// child has exec'd (see agentbin's procsFor), and the tie-breaker pings
// every interval while a member is late: exactly when the heartbeat must
// not be held up. It uses a raw socket, and an unprivileged ICMP socket
// (net.ipv4.ping_group_range) where the agent may not open raw ones, as
// the system's ping does.
func ping(ctx context.Context, addr netip.Addr, timeout time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	ok, err := pingOver(ctx, false, addr, timeout)
	if errors.Is(err, os.ErrPermission) {
		ok, _ = pingOver(ctx, true, addr, timeout)
	}
	return ok
}

// pingOver pings from a raw socket, or from an unprivileged ICMP socket
// (datagram). It returns an error only when it could not open the socket.
func pingOver(ctx context.Context, datagram bool, addr netip.Addr, timeout time.Duration) (bool, error) {
	network, proto, reply := "ip4:icmp", 1, icmp.Type(ipv4.ICMPTypeEchoReply)
	var request icmp.Type = ipv4.ICMPTypeEcho
	if datagram {
		network = "udp4"
	}
	if addr.Is6() && !addr.Is4In6() {
		network, proto, reply, request = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeEchoRequest
		if datagram {
			network = "udp6"
		}
	}
	addr = addr.Unmap()
	var dst net.Addr = &net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}
	if datagram {
		dst = &net.UDPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}
	}
	c, err := icmp.ListenPacket(network, "")
	if err != nil {
		return false, err
	}
	defer c.Close()
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if c.SetDeadline(deadline) != nil {
		return false, nil
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// A raw socket gets every echo reply the host receives: the identifier
	// and the random payload tell ours. On a datagram socket the kernel
	// sets the identifier and hands over only the socket's own replies.
	id, seq := int(pingID.Add(1)&0xffff), 1
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return false, nil
	}
	msg, err := (&icmp.Message{Type: request, Body: &icmp.Echo{ID: id, Seq: seq, Data: token}}).Marshal(nil)
	if err != nil {
		return false, nil
	}
	if _, err := c.WriteTo(msg, dst); err != nil {
		return false, nil
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return false, nil
		}
		if !sameIP(from, addr) {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && (datagram || e.ID == id) && e.Seq == seq && bytes.Equal(e.Data, token) {
			return true, nil
		}
	}
}

// sameIP reports whether a packet's source is addr.
func sameIP(from net.Addr, addr netip.Addr) bool {
	var ip net.IP
	switch a := from.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	got, ok := netip.AddrFromSlice(ip)
	return ok && got.Unmap() == addr.WithZone("")
}

// pingID numbers the pings of this agent, so that two in flight (or the
// system's ping) do not take each other's replies.
var pingID atomic.Uint32
