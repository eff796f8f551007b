package resource

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkKernel is the real kernel: addresses through netlink, ARP through
// an AF_PACKET socket, neighbour advertisements through an ICMPv6 socket.
// Sockets are opened per call, in the network namespace of the calling
// thread, and closed before it returns.
type netlinkKernel struct{}

var _ kernel = netlinkKernel{}

// nlAddr is p as netlink wants it: no label, and for IPv6 no duplicate
// address detection, so that the address is usable at once.
func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func (netlinkKernel) AddAddr(ifname string, p netip.Prefix) error {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return err
	}
	return netlink.AddrReplace(link, nlAddr(p))
}

func (netlinkKernel) DelAddr(ifname string, p netip.Prefix) error {
	link, err := netlink.LinkByName(ifname)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return err
	}
	err = netlink.AddrDel(link, nlAddr(p))
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	return err
}

func (netlinkKernel) HasAddr(ifname string, p netip.Prefix) (bool, error) {
	link, err := netlink.LinkByName(ifname)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	family := netlink.FAMILY_V4
	if p.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(link, family)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if ip.Unmap() == p.Addr() && ones == p.Bits() {
			return true, nil
		}
	}
	return false, nil
}

// Announce sends, for IPv4, a gratuitous ARP request (target hardware
// address broadcast) and reply (target hardware address ours), both
// broadcast, as `arping -U` and `arping -A` do, since some hosts heed only
// one form; for IPv6, an unsolicited neighbour advertisement from a to
// all nodes with the override flag and our link-layer address. An
// interface without a link-layer address (lo, tun) has nobody to tell.
func (netlinkKernel) Announce(ifname string, a netip.Addr) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	if len(ifi.HardwareAddr) == 0 || ifi.Flags&net.FlagLoopback != 0 {
		return nil
	}
	if a.Is4() {
		return garp(ifi, a)
	}
	return unsolicitedNA(ifi, a)
}

func garp(ifi *net.Interface, a netip.Addr) error {
	c, err := arp.Dial(ifi)
	if err != nil {
		return fmt.Errorf("opening an ARP socket: %w", err)
	}
	defer c.Close()
	mac := ifi.HardwareAddr
	request, err := arp.NewPacket(arp.OperationRequest, mac, a, ethernet.Broadcast, a)
	if err != nil {
		return err
	}
	reply, err := arp.NewPacket(arp.OperationReply, mac, a, mac, a)
	if err != nil {
		return err
	}
	for _, p := range []*arp.Packet{request, reply} {
		if err := c.WriteTo(p, ethernet.Broadcast); err != nil {
			return fmt.Errorf("sending a gratuitous ARP %v: %w", p.Operation, err)
		}
	}
	return nil
}

func unsolicitedNA(ifi *net.Interface, a netip.Addr) error {
	c, _, err := ndp.Listen(ifi, ndp.Addr(a.String()))
	if err != nil {
		return fmt.Errorf("opening an ICMPv6 socket on %s: %w", a, err)
	}
	defer c.Close()
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: a,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      ifi.HardwareAddr,
		}},
	}
	if err := c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
		return fmt.Errorf("sending an unsolicited neighbour advertisement: %w", err)
	}
	return nil
}
