package resource

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// childEnv names the test that a child test process runs in namespaces of
// its own.
const childEnv = "HACTL_RESOURCE_TEST_IN_NETNS"

// isolated runs the calling top-level test in a child process with
// network and mount namespaces of its own, so that everything it does —
// addresses, ARP, the agents' commands and the goroutines of the code under
// test — stays there. It reports whether the caller is that child; in the
// parent it returns false once the child passed.
func isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		// /sys shows the namespace's interfaces only when mounted in it;
		// OCF agents look there.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Fatalf("making mounts private: %v", err)
		}
		if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
			t.Fatalf("mounting /sys: %v", err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veth pairs and addresses")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("in its own network namespace: %v\n%s", err, out)
	case bytes.Contains(out, []byte("--- SKIP: "+t.Name())):
		t.Skipf("in its own network namespace:\n%s", out)
	case !bytes.Contains(out, []byte("--- PASS: "+t.Name())):
		t.Fatalf("in its own network namespace, the test did not run:\n%s", out)
	}
	t.Logf("in its own network namespace:\n%s", out)
	return false
}

// lab is a veth pair: node0 in the test's namespace (the node that holds
// the VIP) and peer0 in a second namespace (a neighbour on its link).
type lab struct {
	node    netlink.Link
	nodeMAC net.HardwareAddr
	peer    netns.NsHandle
	peerNL  *netlink.Handle
	peerIf  int // peer0's index
}

// The lab's addresses: documentation ranges, in namespaces of the test's
// own, linked to nothing.
var (
	nodeAddrs = []string{"192.0.2.1/24", "2001:db8::1/64"}
	peerAddrs = []string{"192.0.2.2/24", "2001:db8::2/64"}
)

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{}
	err := onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if l.peer, err = netns.New(); err != nil {
			return err
		}
		return netns.Set(orig)
	})
	if err != nil {
		t.Fatalf("creating the peer's network namespace: %v", err)
	}
	t.Cleanup(func() { l.peer.Close() })
	if l.peerNL, err = netlink.NewHandleAt(l.peer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.peerNL.Close)

	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "node0"}, PeerName: "peer0"}); err != nil {
		t.Fatalf("creating a veth pair: %v", err)
	}
	peer, err := netlink.LinkByName("peer0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(l.peer)); err != nil {
		t.Fatal(err)
	}
	if l.node, err = netlink.LinkByName("node0"); err != nil {
		t.Fatal(err)
	}
	l.nodeMAC = l.node.Attrs().HardwareAddr
	if peer, err = l.peerNL.LinkByName("peer0"); err != nil {
		t.Fatal(err)
	}
	l.peerIf = peer.Attrs().Index
	nodeNL, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer nodeNL.Close()
	for _, side := range []struct {
		nl    *netlink.Handle
		link  netlink.Link
		addrs []string
	}{{nodeNL, l.node, nodeAddrs}, {l.peerNL, peer, peerAddrs}} {
		for _, a := range side.addrs {
			if err := side.nl.AddrAdd(side.link, nlAddr(netip.MustParsePrefix(a))); err != nil {
				t.Fatalf("adding %s: %v", a, err)
			}
		}
		// Up, with lo: Go's listeners are dual-stack only where ::1 works.
		lo, err := side.nl.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		for _, link := range []netlink.Link{lo, side.link} {
			if err := side.nl.LinkSetUp(link); err != nil {
				t.Fatal(err)
			}
		}
	}
	return l
}

// onThread runs fn on an OS thread of its own, which is thrown away
// afterwards, so that fn may change the thread's network namespace.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		errc <- fn()
	}()
	return <-errc
}

// inPeer runs fn in the peer's network namespace.
func (l *lab) inPeer(fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(l.peer); err != nil {
			return err
		}
		return fn()
	})
}

// announcement is an ARP packet or a neighbour advertisement the peer saw.
type announcement struct {
	kind     string // "arp request", "arp reply", "na"
	from     net.HardwareAddr
	ip       netip.Addr // the address announced
	to       netip.Addr // na: the IPv6 destination
	override bool       // na
}

// capture records the ARP packets and neighbour advertisements that reach
// the peer, until the test ends.
type capture struct {
	mu   sync.Mutex
	seen []announcement
}

func (l *lab) capture(t *testing.T) *capture {
	t.Helper()
	var conn *packet.Conn
	err := l.inPeer(func() error {
		ifi, err := net.InterfaceByName("peer0")
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		t.Fatalf("opening a capture on the peer: %v", err)
	}
	c := &capture{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if a, ok := parseAnnouncement(buf[:n]); ok {
				c.mu.Lock()
				c.seen = append(c.seen, a)
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return c
}

// parseAnnouncement picks ARP packets and neighbour advertisements out of
// Ethernet frames.
func parseAnnouncement(frame []byte) (announcement, bool) {
	if len(frame) < 14 {
		return announcement{}, false
	}
	payload := frame[14:]
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case unix.ETH_P_ARP:
		var p arp.Packet
		if p.UnmarshalBinary(payload) != nil {
			return announcement{}, false
		}
		kind := "arp request"
		if p.Operation == arp.OperationReply {
			kind = "arp reply"
		}
		return announcement{kind: kind, from: p.SenderHardwareAddr, ip: p.SenderIP}, true
	case unix.ETH_P_IPV6:
		if len(payload) < 41 || payload[6] != unix.IPPROTO_ICMPV6 {
			return announcement{}, false
		}
		m, err := ndp.ParseMessage(payload[40:])
		na, ok := m.(*ndp.NeighborAdvertisement)
		if err != nil || !ok {
			return announcement{}, false
		}
		a := announcement{kind: "na", ip: na.TargetAddress, override: na.Override}
		a.to, _ = netip.AddrFromSlice(payload[24:40])
		for _, o := range na.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
				a.from = lla.Addr
			}
		}
		return a, true
	}
	return announcement{}, false
}

// count counts what was seen of one kind, announcing ip from mac.
func (c *capture) count(kind string, ip netip.Addr, mac net.HardwareAddr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, a := range c.seen {
		if a.kind == kind && a.ip == ip && bytes.Equal(a.from, mac) &&
			(kind != "na" || a.override && a.to == netip.IPv6LinkLocalAllNodes()) {
			n++
		}
	}
	return n
}

// neighbour is the peer's neighbour entry for ip: its hardware address.
func (l *lab) neighbour(ip netip.Addr) net.HardwareAddr {
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, _ := l.peerNL.NeighList(l.peerIf, family)
	for _, n := range neighs {
		if a, _ := netip.AddrFromSlice(n.IP); a.Unmap() == ip {
			return n.HardwareAddr
		}
	}
	return nil
}

// dial connects from the peer to addr and reads what the server says.
func (l *lab) dial(addr netip.AddrPort, timeout time.Duration) (string, error) {
	var got []byte
	err := l.inPeer(func() error {
		c, err := net.DialTimeout("tcp", addr.String(), timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		got, err = io.ReadAll(c)
		return err
	})
	return string(got), err
}

// serve answers every TCP connection to port on the node with "node".
func serve(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("node"))
			c.Close()
		}
	}()
}

func TestVIPInNetworkNamespaces(t *testing.T) {
	if !isolated(t) {
		return
	}
	l := newLab(t)
	serve(t, 7070)
	cap := l.capture(t)
	oldOwner := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	for _, tt := range []struct {
		address string
		kinds   []string
	}{
		{"192.0.2.33/24", []string{"arp request", "arp reply"}},
		{"2001:db8::33/64", []string{"na"}},
	} {
		t.Run(tt.address, func(t *testing.T) {
			p := netip.MustParsePrefix(tt.address)
			ip := p.Addr()
			// The peer still thinks the VIP is at its previous owner, as
			// after a failover: the announcement must correct that.
			family := netlink.FAMILY_V4
			if ip.Is6() {
				family = netlink.FAMILY_V6
			}
			if err := l.peerNL.NeighSet(&netlink.Neigh{LinkIndex: l.peerIf, Family: family, IP: ip.AsSlice(), HardwareAddr: oldOwner, State: netlink.NUD_STALE}); err != nil {
				t.Fatal(err)
			}
			r, err := New(spec.Resource{Kind: "vip", Name: "web-ip", Address: tt.address, Interface: "node0", GARPCount: 3, GARPRefreshMS: 300}, Env{})
			if err != nil {
				t.Fatal(err)
			}
			walk(t, r, down, start, up)

			waitFor(t, "the peer's neighbour entry to point at the node", func() bool { return bytes.Equal(l.neighbour(ip), l.nodeMAC) })
			// 3 at once, 100 ms apart, then refreshed every 300 ms.
			for _, kind := range tt.kinds {
				waitFor(t, "4 announcements ("+kind+") of "+ip.String(), func() bool { return cap.count(kind, ip, l.nodeMAC) >= 4 })
			}
			if got, err := l.dial(netip.AddrPortFrom(ip, 7070), 5*time.Second); err != nil || got != "node" {
				t.Fatalf("the peer reaching the VIP: %q, %v", got, err)
			}

			walk(t, r, stop, down, stop, down)
			if has, err := (netlinkKernel{}).HasAddr("node0", p); has || err != nil {
				t.Fatalf("address still on node0 after Stop: %v %v", has, err)
			}
			before := cap.count(tt.kinds[0], ip, l.nodeMAC)
			if _, err := l.dial(netip.AddrPortFrom(ip, 7070), 500*time.Millisecond); err == nil {
				t.Fatal("the peer still reaches the VIP after Stop")
			}
			if after := cap.count(tt.kinds[0], ip, l.nodeMAC); after != before {
				t.Errorf("%d announcements after Stop", after-before)
			}
		})
	}
}

func TestVIPOnMissingInterface(t *testing.T) {
	if !isolated(t) {
		return
	}
	r, err := New(spec.Resource{Kind: "vip", Name: "web-ip", Address: "192.0.2.33/24", Interface: "nosuch0", GARPCount: 1}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	walk(t, r, down, stop)
	if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), `resource "web-ip": adding 192.0.2.33/24 to nosuch0: Link not found; check that nosuch0 exists on this node`) {
		t.Errorf("Start on a missing interface: %v", err)
	}
}

func TestOCFIPaddr2Agent(t *testing.T) {
	debianOCF(t, "IPaddr2")
	if !isolated(t) {
		return
	}
	l := newLab(t)
	vip := netip.MustParsePrefix("192.0.2.44/24")
	r, err := New(spec.Resource{Kind: "ocf", Name: "web-ip", OCFProvider: "heartbeat", OCFType: "IPaddr2",
		Params:            map[string]string{"ip": vip.Addr().String(), "cidr_netmask": "24", "nic": "node0"},
		MonitorIntervalMS: 1000, MonitorTimeoutMS: 20000}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	has := func() bool {
		ok, err := netlinkKernel{}.HasAddr("node0", vip)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	walk(t, r, checked, down, start, up)
	if !has() {
		t.Fatal("IPaddr2 started but the address is not on node0")
	}
	if got, err := l.dial(netip.AddrPortFrom(vip.Addr(), 7071), 5*time.Second); !isRefused(err) {
		t.Fatalf("the peer reaching %s: %q, %v; want connection refused (nothing listens)", vip.Addr(), got, err)
	}
	walk(t, r, stop, down, stop)
	if has() {
		t.Fatal("IPaddr2 stopped but the address is still on node0")
	}

	bad, err := New(spec.Resource{Kind: "ocf", Name: "web-ip", OCFProvider: "heartbeat", OCFType: "IPaddr2",
		Params: map[string]string{"ip": "192.0.2.300", "nic": "node0"}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Start(context.Background()); err == nil {
		t.Fatal("IPaddr2 started with ip=192.0.2.300")
	} else {
		t.Logf("IPaddr2 with a bad ip: %v", err)
	}
}

// isRefused reports whether err is a refused TCP connection: the host
// answered.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
