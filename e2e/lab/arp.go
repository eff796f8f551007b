package lab

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
)

// ARPAsker asks, from the client namespace's port on one network of the
// lab's switch, which machines answer ARP for an address: the holders of a
// VIP as the network sees them, whatever their agents say. A node behind a
// cut cable or a dead switch port is not seen, as no client would see it.
//
// Every question is an ARP probe (RFC 5227: sender address 0.0.0.0), which
// Linux answers for any address it holds without learning anything from
// it, and carries a sender hardware address of its own, to which the
// answers are sent: an answer is matched to its question exactly, never to
// an earlier question or to the client kernel's own ARP traffic.
type ARPAsker struct {
	l    *Lab
	conn *packet.Conn
	src  net.HardwareAddr

	mu      sync.Mutex
	pending map[string]map[string]bool // question's hardware address → MACs that answered
	macs    map[string]string          // MAC → node name
	done    chan struct{}
}

// NewARPAsker opens a packet socket on the client namespace's interface on
// network. Close it when done.
func (l *Lab) NewARPAsker(network string) (*ARPAsker, error) {
	var name string
	for _, i := range l.st.Client.Ifaces {
		if i.Network == network {
			name = i.Name
		}
	}
	if name == "" {
		return nil, fmt.Errorf("the lab's client is not on network %q: it is only on the networks that carry VIPs", network)
	}
	a := &ARPAsker{l: l, pending: map[string]map[string]bool{}, done: make(chan struct{})}
	err := inNetns(l.st.Client.Netns, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("finding the client's %s: %w", name, err)
		}
		a.src = ifi.HardwareAddr
		a.conn, err = packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), nil)
		if err != nil {
			return fmt.Errorf("opening a packet socket on the client's %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := a.loadMACs(); err != nil {
		a.conn.Close()
		return nil, err
	}
	go a.read()
	return a, nil
}

// loadMACs maps the hardware address of every node's interface to the
// node.
func (a *ARPAsker) loadMACs() error {
	macs := map[string]string{}
	for _, n := range a.l.st.Nodes {
		h, err := handleAt(n.Netns)
		if err != nil {
			return err
		}
		links, err := h.LinkList()
		h.Close()
		if err != nil {
			return fmt.Errorf("listing the links of %s: %w", n.Name, err)
		}
		for _, link := range links {
			if _, ok := link.(*netlink.Veth); ok {
				macs[link.Attrs().HardwareAddr.String()] = n.Name
			}
		}
	}
	a.macs = macs
	return nil
}

// read records every answer to a pending question until Close.
func (a *ARPAsker) read() {
	buf := make([]byte, 1500)
	for {
		n, _, err := a.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-a.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var f ethernet.Frame
		if f.UnmarshalBinary(buf[:n]) != nil || f.EtherType != ethernet.EtherTypeARP {
			continue
		}
		var p arp.Packet
		if p.UnmarshalBinary(f.Payload) != nil || p.Operation != arp.OperationReply {
			continue
		}
		a.mu.Lock()
		if got, ok := a.pending[p.TargetHardwareAddr.String()]; ok {
			got[p.SenderHardwareAddr.String()+"|"+p.SenderIP.String()] = true
		}
		a.mu.Unlock()
	}
}

// WhoHas asks who holds addr and waits for answers: it returns the names
// of the nodes that answered (a MAC when no node has it), sorted.
func (a *ARPAsker) WhoHas(addr netip.Addr, wait time.Duration) ([]string, error) {
	tag := make(net.HardwareAddr, 6)
	if _, err := rand.Read(tag); err != nil {
		return nil, fmt.Errorf("making an ARP question's address: %w", err)
	}
	tag[0] = tag[0]&^1 | 2 // unicast, locally administered
	req, err := arp.NewPacket(arp.OperationRequest, tag, netip.IPv4Unspecified(), ethernet.Broadcast, addr)
	if err != nil {
		return nil, fmt.Errorf("building an ARP probe for %s: %w", addr, err)
	}
	// arp.NewPacket fills the target's hardware address with the broadcast
	// one; a question leaves it zero.
	req.TargetHardwareAddr = make(net.HardwareAddr, 6)
	payload, err := req.MarshalBinary()
	if err != nil {
		return nil, err
	}
	frame, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: a.src, EtherType: ethernet.EtherTypeARP, Payload: payload}).MarshalBinary()
	if err != nil {
		return nil, err
	}
	key := tag.String()
	a.mu.Lock()
	a.pending[key] = map[string]bool{}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.pending, key)
		a.mu.Unlock()
	}()
	if _, err := a.conn.WriteTo(frame, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
		return nil, fmt.Errorf("sending an ARP probe for %s from the client: %w", addr, err)
	}
	time.Sleep(wait)
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for k := range a.pending[key] {
		mac, ip, _ := strings.Cut(k, "|")
		if ip != addr.String() {
			continue
		}
		who := a.macs[mac]
		if who == "" {
			who = mac
		}
		if !slices.Contains(out, who) {
			out = append(out, who)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Close closes the packet socket.
func (a *ARPAsker) Close() error {
	close(a.done)
	return a.conn.Close()
}
