package heartbeat

import (
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
	"time"
	"unsafe"

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

// inbox is one link's way into the engine. Every datagram read from the
// link (transport.poll) is authenticated and replay-checked against the
// link's own budget before it is queued (deliver), so that forged packets
// cost at most that budget of the link they arrive on: a flood on one
// link fills neither another link's socket nor its queue, and the engine
// sees only packets that its cluster's members sent.
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

// budget bounds how many datagrams per second a link authenticates: a
// token bucket. A flood of forged packets then costs at most that many
// HMACs a second; past it the link is left until the next tick and the
// kernel drops what does not fit the socket's buffer, for nothing. The link's own
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

// minPause is the shortest pause of a link over its budget.
const minPause = 5 * time.Millisecond

// deliver checks one datagram that arrived on link at and queues it for
// the engine. A datagram that does not pass is counted by reason and
// dropped. It returns how long the link must pause because its budget is
// spent.
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
	if errors.Is(err, wire.ErrVersion) {
		// A member of a release too old or too new to hear: it is deaf
		// to this node too, and would be counted dead. Said once, and
		// again every thousand.
		if n := ib.counts.Version.Load(); n == 1 || n%1000 == 0 {
			e.cfg.Logger.Printf("heartbeat: link %s: dropped %d heartbeats so far: %v", link, n, err)
		}
	}
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
	// the calling goroutine and without waiting. Safe to call from any
	// goroutine.
	poll()
	close() error
}

// udpLink is one link's socket: bound to the heartbeat port on the link's
// device only (SO_BINDTODEVICE), so that a link is exactly one path.
//
// The sockets are plain non-blocking descriptors, outside the Go runtime's
// network poller, and nothing waits on them: the engine reads them at
// every tick (poll), taking the kernel's time of arrival of each datagram
// (SO_TIMESTAMPNS). A heartbeat that arrives between ticks then costs no
// wake-up of the process — with a reader per link, every packet woke it,
// and the wake-ups were half of the role's CPU time — and none is judged
// late for the wait: liveness is decided at the ticks anyway. The calls on
// them never wait (MSG_DONTWAIT), so they are made with RawSyscall, which
// does not tell the Go scheduler: told, it hands the engine's P to another
// thread whenever a call takes more than 20µs, as a send through the
// kernel's network stack does, and the role paid a thread wake-up for
// nearly every packet.
type udpLink struct {
	spec spec.Link
	fd   int
}

type udpTransport struct {
	links   map[string]*udpLink
	order   []*udpLink // as the spec lists them
	deliver deliverFunc
	// mu guards buf and oob, poll's buffers, and closed, which poll and
	// send check so that they never use a descriptor that was closed and
	// reused.
	mu     sync.Mutex
	buf    []byte
	oob    []byte
	closed bool
}

// listenUDP opens one socket per link of the heartbeat section; poll
// hands what arrived to deliver.
func listenUDP(hb *spec.Heartbeat, deliver deliverFunc) (*udpTransport, error) {
	t := &udpTransport{links: map[string]*udpLink{}, deliver: deliver,
		// One byte more than a packet may have, so that an oversized
		// datagram is seen as such rather than cut to size.
		buf: make([]byte, wire.MaxPacket+1), oob: make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))}
	for _, l := range hb.Links {
		ul, err := openLink(l, hb)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("link %s: %w", l.Name, err)
		}
		t.links[l.Name] = ul
		t.order = append(t.order, ul)
	}
	return t, nil
}

// openLink opens and binds the socket of link l.
func openLink(l spec.Link, hb *spec.Heartbeat) (*udpLink, error) {
	local, err := netip.ParseAddr(l.Local)
	if err != nil {
		return nil, fmt.Errorf("local address %q: %w", l.Local, err)
	}
	port, sndbuf := hb.Port, sendBuffer(l.Interface, local.Is6(), len(destinations(l, hb.Peers, hb.Port)))
	family := unix.AF_INET
	var bind unix.Sockaddr = &unix.SockaddrInet4{Port: port}
	if local.Is6() {
		family, bind = unix.AF_INET6, &unix.SockaddrInet6{Port: port}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening a socket: %w", err)
	}
	serr := errors.Join(
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
		unix.BindToDevice(fd, l.Interface),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1),
	)
	if l.Mode == "broadcast" {
		serr = errors.Join(serr, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1))
	}
	if local.Is6() {
		// An IPv6 link hears IPv6 only, as an IPv4 link hears IPv4.
		serr = errors.Join(serr, unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1))
	}
	// SO_SNDBUFFORCE passes net.core.wmem_max and needs CAP_NET_ADMIN,
	// which the agent has; without it the kernel caps SO_SNDBUF at
	// wmem_max, still no error.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf) != nil {
		serr = errors.Join(serr, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf))
	}
	if serr != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting up the socket on %s: %w", l.Interface, serr)
	}
	if err := unix.Bind(fd, bind); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listening on %s port %d: %w", l.Interface, port, err)
	}
	if l.Mode == "multicast" {
		if err := joinMulticast(fd, l); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return &udpLink{spec: l, fd: fd}, nil
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

func joinMulticast(fd int, l spec.Link) error {
	ifi, err := net.InterfaceByName(l.Interface)
	if err != nil {
		return fmt.Errorf("interface %s: %w", l.Interface, err)
	}
	group, err := netip.ParseAddr(l.Group)
	if err != nil || !group.Is4() {
		return fmt.Errorf("multicast group %q: only IPv4 groups are joined", l.Group)
	}
	mreq := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(ifi.Index)}
	if err := errors.Join(
		unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq),
		unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}),
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, max(l.TTL, 1)),
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0),
	); err != nil {
		return fmt.Errorf("joining %s on %s: %w", l.Group, l.Interface, err)
	}
	return nil
}

// deliverFunc takes a datagram received on link at the time it arrived,
// without keeping b, and says how long the link must pause: poll then
// leaves the rest of the link's datagrams for the next tick.
type deliverFunc func(link string, b []byte, at time.Time) (pause time.Duration)

func (t *udpTransport) send(link string, to netip.AddrPort, b []byte) error {
	l := t.links[link]
	if l == nil {
		return fmt.Errorf("no link %s", link)
	}
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	var sa unsafe.Pointer
	var salen uintptr
	port := [2]byte{byte(to.Port() >> 8), byte(to.Port())}
	if to.Addr().Is4() {
		sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Addr().As4()}
		sa, salen = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
		*(*[2]byte)(unsafe.Pointer(&sa4.Port)) = port
	} else {
		sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: to.Addr().As16()}
		sa, salen = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
		*(*[2]byte)(unsafe.Pointer(&sa6.Port)) = port
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("link %s: closed", link)
	}
	// Never wait for room (MSG_DONTWAIT): a buffer full of packets
	// waiting for ARP on a dead link drains only when resolution fails,
	// seconds later, and the live links would fall silent meanwhile. As
	// the call never waits, it is made raw (see rawCall).
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(l.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		unix.MSG_DONTWAIT, uintptr(sa), salen)
	if errno != 0 {
		return fmt.Errorf("link %s: sending to %s: %w", link, to, errno)
	}
	return nil
}

// pollMax bounds the datagrams one poll takes from a link: a flood must
// not hold the engine (the link's budget in deliver bounds the HMACs);
// the socket's buffer keeps the rest, or the kernel drops it.
const pollMax = 256

func (t *udpTransport) poll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	iov := unix.Iovec{Base: unsafe.SliceData(t.buf)}
	iov.SetLen(len(t.buf))
	for _, l := range t.order {
		for range pollMax {
			// No source address: the packet names its sender, under the
			// HMAC.
			msg := unix.Msghdr{Iov: &iov, Iovlen: 1, Control: unsafe.SliceData(t.oob)}
			msg.SetControllen(len(t.oob))
			n, _, errno := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(l.fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
			if errno != 0 {
				break // EAGAIN: nothing more
			}
			if pause := t.deliver(l.spec.Name, t.buf[:n], arrival(t.oob[:msg.Controllen])); pause > 0 {
				break
			}
		}
	}
}

// arrival is the kernel's time of arrival of a datagram from its control
// messages (SO_TIMESTAMPNS), or now when they hold none.
func arrival(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				return time.Unix(ts.Unix())
			}
		}
	}
	return time.Now()
}

func (t *udpTransport) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	for _, l := range t.order {
		errs = append(errs, unix.Close(l.fd))
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
