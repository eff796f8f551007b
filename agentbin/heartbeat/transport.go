package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/spec"
)

// datagram is a packet received on a link.
type datagram struct {
	link string
	from netip.AddrPort
	data []byte
	at   time.Time
}

// transport sends and receives heartbeats on the links. The engine talks
// to it through this interface so that its logic can be tested with an
// in-memory network.
type transport interface {
	send(link string, to netip.AddrPort, b []byte) error
	close() error
}

// udpLink is one link's socket: bound to the heartbeat port on the link's
// device only (SO_BINDTODEVICE), so that a link is exactly one path.
type udpLink struct {
	spec spec.Link
	conn *net.UDPConn
}

type udpTransport struct {
	links map[string]*udpLink
}

// listenUDP opens one socket per link and delivers what arrives to recv
// until the transport is closed.
func listenUDP(links []spec.Link, port int, recv chan<- datagram) (*udpTransport, error) {
	t := &udpTransport{links: map[string]*udpLink{}}
	for _, l := range links {
		local, err := netip.ParseAddr(l.Local)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("link %s: local address %q: %w", l.Name, l.Local, err)
		}
		network := "udp4"
		if local.Is6() {
			network = "udp6"
		}
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
			})
			return errors.Join(err, serr)
		}}
		pc, err := lc.ListenPacket(context.Background(), network, ":"+strconv.Itoa(port))
		if err != nil {
			t.close()
			return nil, fmt.Errorf("link %s: listening on %s port %d: %w", l.Name, l.Interface, port, err)
		}
		conn := pc.(*net.UDPConn)
		if l.Mode == "multicast" {
			if err := joinMulticast(conn, l); err != nil {
				conn.Close()
				t.close()
				return nil, fmt.Errorf("link %s: %w", l.Name, err)
			}
		}
		ul := &udpLink{spec: l, conn: conn}
		t.links[l.Name] = ul
		go ul.read(recv)
	}
	return t, nil
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

func (l *udpLink) read(recv chan<- datagram) {
	buf := make([]byte, 64*1024)
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		d := datagram{link: l.spec.Name, from: from, data: append([]byte(nil), buf[:n]...), at: time.Now()}
		select {
		case recv <- d:
		default: // the engine is behind: dropping is what a full NIC queue would do
		}
	}
}

func (t *udpTransport) send(link string, to netip.AddrPort, b []byte) error {
	l := t.links[link]
	if l == nil {
		return fmt.Errorf("no link %s", link)
	}
	_, err := l.conn.WriteToUDPAddrPort(b, to)
	return err
}

func (t *udpTransport) close() error {
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
