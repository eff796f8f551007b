package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/spec"
)

// received is an authenticated packet and when it arrived.
type received struct {
	pkt *wire.Packet
	at  time.Time
}

// inboxSize is how many authenticated packets a link holds for the
// engine: at the shortest intervals and with 16 members, several
// intervals' worth from every peer.
const inboxSize = 256

// inbox is one link's way into the engine. The link's reader, in its own
// goroutine, authenticates and replay-checks every datagram before
// queueing it (deliver), so that forged packets cost the reader of the
// link they arrive on and nothing else: a flood on one link fills
// neither another link's queue nor the engine's goroutine, and the
// engine sees only packets that its cluster's members sent.
type inbox struct {
	link   string
	rcv    *wire.Receiver
	counts *wire.Counters // the receiver's
	q      chan received
	// full counts authentic packets dropped because the engine was
	// behind and the queue full.
	full   atomic.Uint64
	budget budget
	// unverified counts the datagrams dropped unread because the budget
	// was spent.
	unverified atomic.Uint64
}

// budget bounds how many datagrams per second a link's reader
// authenticates: a token bucket. A flood of forged packets then costs at
// most that many HMACs a second; past it the reader pauses and the kernel
// drops what does not fit the socket's buffer, for nothing. The link's own
// heartbeats are lost in the flood, as they would be anyway; the other
// links, the engine and the node's CPU are not.
type budget struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// verifyRate is the budget of a link to peers peers at interval: many
// times what they send, so that no burst of real heartbeats meets it, and
// at least minVerifyRate (some milliseconds of a core).
func verifyRate(peers int, interval time.Duration) float64 {
	const margin, minVerifyRate = 20, 2000
	return max(minVerifyRate, margin*float64(max(peers, 1))*float64(time.Second)/float64(max(interval, time.Millisecond)))
}

func newBudget(rate float64) budget {
	return budget{rate: rate, burst: rate / 10, tokens: rate / 10}
}

// take spends a token at now, or says how long to pause until there are
// a few again.
func (b *budget) take(now time.Time) (pause time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	// Waking for every token would cost more than the HMAC it buys.
	return max(minPause, time.Duration((1-b.tokens)/b.rate*float64(time.Second)))
}

// minPause is the shortest pause of a reader over its budget.
const minPause = 5 * time.Millisecond

// deliver checks one datagram that arrived on link and queues it for the
// engine. It runs in the link's reader; a datagram that does not pass is
// counted by reason and dropped there. It returns how long the reader
// must pause because the link's budget is spent.
func (e *Engine) deliver(link string, b []byte, at time.Time) (pause time.Duration) {
	ib := e.inboxes[link]
	if ib == nil {
		return 0
	}
	if pause := ib.budget.take(at); pause > 0 {
		ib.unverified.Add(1)
		return pause
	}
	pkt, err := ib.rcv.Accept(b, at)
	if err != nil {
		return 0
	}
	if p := e.peers[pkt.From]; p != nil {
		p.heard.Store(at.UnixNano())
	}
	select {
	case ib.q <- received{pkt: pkt, at: at}:
	default: // the engine is behind: dropping is what a full NIC queue would do
		ib.full.Add(1)
		return 0
	}
	select {
	case e.ready <- struct{}{}:
	default: // the engine was told already and has not looked yet
	}
	return 0
}

// transport sends and receives heartbeats on the links. The engine talks
// to it through this interface so that its logic can be tested with an
// in-memory network.
type transport interface {
	// send hands a packet to a link and never waits: a link that cannot
	// take it now returns an error at once and the packet is lost, as on
	// a lossy wire. The engine runs every link from one goroutine, so one
	// dead link must not hold up the others.
	send(link string, to netip.AddrPort, b []byte) error
	// poll hands what the links hold now to the engine (deliver), from
	// the calling goroutine and without waiting: the datagrams their
	// readers have not read yet. Safe to call from any goroutine.
	poll()
	close() error
}

// udpLink is one link's socket: bound to the heartbeat port on the link's
// device only (SO_BINDTODEVICE), so that a link is exactly one path.
type udpLink struct {
	spec spec.Link
	conn *net.UDPConn
	raw  syscall.RawConn
	// fd is the socket, for poll: conn's own reads hold its read lock
	// while they wait, so poll reads the descriptor directly.
	fd int
}

type udpTransport struct {
	links   map[string]*udpLink
	deliver deliverFunc
	// mu guards buf, poll's buffer, and closed, which poll checks so
	// that it never reads a descriptor that was closed and reused.
	mu     sync.Mutex
	buf    []byte
	closed bool
}

// listenUDP opens one socket per link of the heartbeat section and hands
// what arrives to deliver, from one goroutine per link, until the
// transport is closed.
func listenUDP(hb *spec.Heartbeat, deliver deliverFunc) (*udpTransport, error) {
	t := &udpTransport{links: map[string]*udpLink{}, deliver: deliver, buf: make([]byte, wire.MaxPacket+1)}
	for _, l := range hb.Links {
		local, err := netip.ParseAddr(l.Local)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("link %s: local address %q: %w", l.Name, l.Local, err)
		}
		network := "udp4"
		if local.Is6() {
			network = "udp6"
		}
		sndbuf := sendBuffer(l.Interface, local.Is6(), len(destinations(l, hb.Peers, hb.Port)))
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = errors.Join(
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
					unix.BindToDevice(int(fd), l.Interface),
				)
				if l.Mode == "broadcast" {
					serr = errors.Join(serr, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1))
				}
				// SO_SNDBUFFORCE passes net.core.wmem_max and needs
				// CAP_NET_ADMIN, which the agent has; without it the
				// kernel caps SO_SNDBUF at wmem_max, still no error.
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf) != nil {
					serr = errors.Join(serr, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf))
				}
			})
			return errors.Join(err, serr)
		}}
		pc, err := lc.ListenPacket(context.Background(), network, ":"+strconv.Itoa(hb.Port))
		if err != nil {
			t.close()
			return nil, fmt.Errorf("link %s: listening on %s port %d: %w", l.Name, l.Interface, hb.Port, err)
		}
		conn := pc.(*net.UDPConn)
		raw, err := conn.SyscallConn()
		if err != nil {
			conn.Close()
			t.close()
			return nil, fmt.Errorf("link %s: %w", l.Name, err)
		}
		if l.Mode == "multicast" {
			if err := joinMulticast(conn, l); err != nil {
				conn.Close()
				t.close()
				return nil, fmt.Errorf("link %s: %w", l.Name, err)
			}
		}
		ul := &udpLink{spec: l, conn: conn, raw: raw}
		if err := raw.Control(func(fd uintptr) { ul.fd = int(fd) }); err != nil {
			conn.Close()
			t.close()
			return nil, fmt.Errorf("link %s: %w", l.Name, err)
		}
		t.links[l.Name] = ul
		go ul.read(deliver, ms(hb.IntervalMS))
	}
	return t, nil
}

// defaultUnresQueue is the kernel's default of unres_qlen_bytes
// (SK_WMEM_MAX), used when /proc does not say.
const defaultUnresQueue = 212992

// sendBuffer is the send buffer a link's socket needs to reach dests
// unicast destinations. While a neighbour's address is unresolved (its
// cable is dead, so ARP or ND goes unanswered) the kernel queues up to
// unres_qlen_bytes of packets for it, charged to the sending socket, and
// frees them only when resolution fails, about 3 s later. With the default
// buffer (net.core.wmem_default, as large as one such queue) two dead
// peers fill it: the link then refuses packets for its live peers too.
// Room for every destination's queue, and one more for the packets on
// their way out, keeps one peer's dead cable from costing the others
// their heartbeats.
func sendBuffer(iface string, v6 bool, dests int) int {
	family := "ipv4"
	if v6 {
		family = "ipv6"
	}
	per := defaultUnresQueue
	if b, err := os.ReadFile(filepath.Join("/proc/sys/net", family, "neigh", iface, "unres_qlen_bytes")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			per = n
		}
	}
	return (max(dests, 1) + 1) * per
}

func joinMulticast(conn *net.UDPConn, l spec.Link) error {
	ifi, err := net.InterfaceByName(l.Interface)
	if err != nil {
		return fmt.Errorf("interface %s: %w", l.Interface, err)
	}
	group, err := netip.ParseAddr(l.Group)
	if err != nil || !group.Is4() {
		return fmt.Errorf("multicast group %q: only IPv4 groups are joined", l.Group)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		mreq := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(ifi.Index)}
		serr = errors.Join(
			unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq),
			unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}),
			unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, max(l.TTL, 1)),
			unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0),
		)
	})
	if err := errors.Join(err, serr); err != nil {
		return fmt.Errorf("joining %s on %s: %w", l.Group, l.Interface, err)
	}
	return nil
}

// deliverFunc takes a datagram received on link, without keeping b, and
// says how long the reader must pause.
type deliverFunc func(link string, b []byte, at time.Time) (pause time.Duration)

// read hands the link's datagrams to deliver and pauses when told. It
// waits a heartbeat interval after an error, so that an error that
// persists (the device gone) does not spin a core the engine needs.
func (l *udpLink) read(deliver deliverFunc, backoff time.Duration) {
	// One byte more than a packet may have, so that an oversized
	// datagram is seen as such rather than cut to size.
	buf := make([]byte, wire.MaxPacket+1)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(backoff)
			continue
		}
		if pause := deliver(l.spec.Name, buf[:n], time.Now()); pause > 0 {
			time.Sleep(pause)
		}
	}
}

func (t *udpTransport) send(link string, to netip.AddrPort, b []byte) error {
	l := t.links[link]
	if l == nil {
		return fmt.Errorf("no link %s", link)
	}
	return l.send(to, b)
}

// send is one sendto with MSG_DONTWAIT. conn.WriteTo would park the
// engine's goroutine until the socket drains when its buffer is full, and
// a buffer full of packets waiting for ARP on a dead link drains only when
// resolution fails, seconds later: the live links would fall silent too,
// and the peers would declare this node dead.
func (l *udpLink) send(to netip.AddrPort, b []byte) error {
	var sa unix.Sockaddr
	if to.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	}
	var serr error
	err := l.raw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, sa)
		return true // done, whatever the outcome: never wait for room
	})
	if err = errors.Join(err, serr); err != nil {
		return fmt.Errorf("link %s: sending to %s: %w", l.spec.Name, to, err)
	}
	return nil
}

// pollMax bounds the datagrams one poll takes from a link: it runs in the
// engine's goroutine, which a flood must not hold (the link's budget in
// deliver bounds the HMACs).
const pollMax = 64

func (t *udpTransport) poll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for name, l := range t.links {
		for range pollMax {
			n, _, err := unix.Recvfrom(l.fd, t.buf, unix.MSG_DONTWAIT)
			if err != nil {
				break // EAGAIN: nothing more; any other error is the reader's to see
			}
			if pause := t.deliver(name, t.buf[:n], time.Now()); pause > 0 {
				break
			}
		}
	}
}

func (t *udpTransport) close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.conn.Close())
	}
	return errors.Join(errs...)
}

// destinations are where a heartbeat on the link goes: every peer's
// address on it (unicast), the group, or the broadcast address.
func destinations(l spec.Link, peers []spec.Peer, port int) []netip.AddrPort {
	var out []netip.AddrPort
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(a, uint16(port)))
		}
	}
	switch l.Mode {
	case "multicast":
		add(l.Group)
	case "broadcast":
		add(l.Broadcast)
	default:
		for _, p := range peers {
			if a, ok := p.Addresses[l.Name]; ok {
				add(a)
			}
		}
	}
	return out
}
