package importer

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// cliOrigin is the origin of what --node gave.
var cliOrigin = Origin{File: "--node"}

// Finish resolves what the parsers left open: node addresses (from
// --node, else variables), networks, heartbeat links, VIPs and nodes
// referred to by address, and the cluster key.
func (m *Model) Finish() {
	if n := m.blocks(); n > MaxBlocks {
		var first Origin
		for name := range m.sources {
			first = Origin{File: name, Line: 1}
			break
		}
		m.Invalid(first, "Too large to import", fmt.Sprintf("The input makes %d blocks; hactl's configurations have at most %d. Import the part hactl should run.", n, MaxBlocks))
		return
	}
	m.indexVIPs()
	m.applyNodeFlags()
	m.nameTargets()
	m.vipNetworks()
	m.peerNetworks()
	m.placeholderAddresses()
	m.syncNodes()
	m.vipInterfaces()
	m.resolveLinks()
	m.checkVirtualServices()
	m.checkProxies()
	m.clusterKey()
	if m.ClusterName == "" {
		m.ClusterName = m.Opts.ClusterName
	}
	if m.ClusterName == "" && len(m.Groups) > 0 {
		m.ClusterName = m.Groups[0].Name
	}
	if m.ClusterName == "" {
		m.ClusterName = "imported"
	}
	m.ClusterName = Label(m.ClusterName)
}

// MaxBlocks bounds the blocks of an import: rendering and checking a
// configuration costs time in proportion to them.
const MaxBlocks = 10_000

func (m *Model) blocks() int {
	n := len(m.Nodes) + len(m.Groups) + len(m.VirtualServices) + len(m.Syncs) + len(m.Notifies)
	for _, g := range m.Groups {
		n += len(g.Resources) + len(g.Locations)
	}
	for _, vs := range m.VirtualServices {
		n += len(vs.Reals)
	}
	for _, p := range m.Proxies {
		for _, s := range p.Services {
			n += 1 + len(s.Backends)
		}
	}
	if m.Monitor != nil {
		n += len(m.Monitor.Devices)
	}
	return n
}

// NodeAddress is one --node value.
type NodeAddress struct {
	Node   string
	Addr   netip.Addr
	Bits   int // -1: not given
	Device string
}

// ParseNodeFlag reads NAME=ADDRESS[/PREFIX][@DEVICE][,ADDRESS…].
func ParseNodeFlag(v string) ([]NodeAddress, error) {
	name, list, ok := strings.Cut(v, "=")
	if !ok || name == "" || list == "" {
		return nil, fmt.Errorf("--node %q: want NAME=ADDRESS[/PREFIX][@DEVICE], e.g. h2g=192.168.0.18/24@eth0", v)
	}
	var out []NodeAddress
	for _, item := range strings.Split(list, ",") {
		na := NodeAddress{Node: Label(name), Bits: -1}
		item, na.Device, _ = strings.Cut(item, "@")
		addr, bits, hasBits := strings.Cut(item, "/")
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return nil, fmt.Errorf("--node %q: %q is not an IP address", v, addr)
		}
		na.Addr = a.Unmap()
		if hasBits {
			n, err := strconv.Atoi(bits)
			if err != nil || n < 0 || n > na.Addr.BitLen() {
				return nil, fmt.Errorf("--node %q: bad prefix length %q", v, bits)
			}
			na.Bits = n
		}
		out = append(out, na)
	}
	return out, nil
}

func (m *Model) applyNodeFlags() {
	for _, v := range m.Opts.Nodes {
		addrs, err := ParseNodeFlag(v)
		if err != nil {
			m.Invalid(cliOrigin, "Bad --node value", err.Error())
			continue
		}
		for _, na := range addrs {
			n := m.Node(na.Node, cliOrigin)
			bits := na.Bits
			if bits < 0 {
				bits = m.guessBits(na.Addr)
			}
			net := m.NetworkFor(na.Addr, bits, cliOrigin)
			dev := na.Device
			if dev == "" {
				dev = m.deviceOn(net)
			}
			n.Interfaces = append(n.Interfaces, &Interface{Device: dev, Network: net, Addr: na.Addr})
		}
	}
}

// nameTargets names the real servers and backends the inputs left
// unnamed: after their node, or their address.
func (m *Model) nameTargets() {
	name := func(scope string, list []*RealServer) {
		for _, r := range list {
			if r.Name != "" {
				m.names[scope+"\x00"+r.Name] = true
			}
		}
		for _, r := range list {
			if r.Name != "" {
				continue
			}
			base := "server_" + strings.NewReplacer(".", "_", ":", "_").Replace(r.Addr.String())
			if n := m.NodeByAddr(r.Addr); n != nil {
				base = n.Name
			} else if r.Host != "" {
				base = r.Host
			}
			r.Name = m.Unique(scope, base)
		}
	}
	for _, vs := range m.VirtualServices {
		name("real_server:"+vs.Name, vs.Reals)
	}
	for _, p := range m.Proxies {
		for _, s := range p.Services {
			name("backend:"+p.Name+"/"+s.Name, s.Backends)
		}
	}
}

// syncNodes makes nodes of the sync ends that name none: an address
// becomes a node of its own.
func (m *Model) syncNodes() {
	for _, s := range m.Syncs {
		for _, h := range []*string{&s.SourceHost, &s.TargetHost} {
			if m.NodeByAddrString(*h) != nil {
				continue
			}
			a, err := netip.ParseAddr(*h)
			if err != nil {
				m.Node(Label(strings.SplitN(*h, ".", 2)[0]), s.Origin)
				continue
			}
			n := m.Node(Label("host_"+strings.NewReplacer(".", "_", ":", "_").Replace(a.String())), s.Origin)
			net := m.NetworkFor(a, m.guessBits(a), s.Origin)
			n.Interfaces = append(n.Interfaces, &Interface{Device: "eth0", Network: net, Addr: a})
			m.Translated(s.Origin, "rsync host "+*h, fmt.Sprintf("No node has this address; the import adds node %s. Name it with --node NAME=%s.", n.Name, *h))
		}
	}
}

// vipNet is a VIP's network as its prefix length gives it, with the
// device the input puts the VIP on.
type vipNet struct {
	prefix netip.Prefix
	device string
}

// indexVIPs collects the distinct networks of the VIPs, at most
// MaxNetworks of them (more is an error NetworkFor reports).
func (m *Model) indexVIPs() {
	seen := map[vipNet]bool{}
	m.vipNets = nil
	for _, g := range m.Groups {
		for _, r := range g.Resources {
			if r.Kind != KindVIP || r.Address.Bits() < 0 || r.Address.Bits() >= r.Address.Addr().BitLen()-1 {
				continue
			}
			p, err := r.Address.Addr().Prefix(r.Address.Bits())
			if err != nil || seen[vipNet{p, r.Interface}] || len(m.vipNets) >= MaxNetworks {
				continue
			}
			seen[vipNet{p, r.Interface}] = true
			m.vipNets = append(m.vipNets, vipNet{p, r.Interface})
		}
	}
}

// guessBits is the prefix length of the VIP network containing addr, or
// 24 (the guide's networks, and most LANs).
func (m *Model) guessBits(addr netip.Addr) int {
	for _, v := range m.vipNets {
		if v.prefix.Contains(addr) {
			return v.prefix.Bits()
		}
	}
	for _, n := range m.Networks {
		if n.Prefix.Contains(addr) {
			return n.Prefix.Bits()
		}
	}
	if addr.Is6() {
		return 64
	}
	return 24
}

// deviceOn guesses the device name on a network from the VIPs on it.
func (m *Model) deviceOn(net *Network) string {
	for _, v := range m.vipNets {
		if v.device != "" && net.Prefix.Contains(v.prefix.Addr()) {
			return v.device
		}
	}
	return "eth0"
}

// vipNetworks makes sure every VIP is inside a network.
func (m *Model) vipNetworks() {
	for _, g := range m.Groups {
		for _, r := range g.Resources {
			if r.Kind != KindVIP {
				continue
			}
			bits := r.Address.Bits()
			if bits < 0 || bits >= r.Address.Addr().BitLen()-1 {
				// A host address is no network the nodes can be on.
				bits = m.guessBits(r.Address.Addr())
			}
			m.NetworkFor(r.Address.Addr(), bits, r.Origin)
		}
	}
}

// peerNetworks makes a network for each unicast heartbeat peer that no
// known network holds.
func (m *Model) peerNetworks() {
	if m.Heartbeat == nil {
		return
	}
	for _, l := range m.Heartbeat.Links {
		if !l.Peer.IsValid() || slices.ContainsFunc(m.Networks, func(n *Network) bool { return n.Prefix.Contains(l.Peer) }) {
			continue
		}
		n := m.NetworkFor(l.Peer, m.guessBits(l.Peer), l.Origin)
		m.Translated(l.Origin, "Network of "+l.Peer.String(), fmt.Sprintf("The input gives no prefix length; the import assumes %s. Give the nodes' addresses with --node NAME=ADDRESS/PREFIX@%s to set it.", n.Prefix, l.Device))
	}
}

// placeholderAddresses gives each group member an interface on each of
// its group's VIP networks, standing for the address with a variable when
// neither the inputs nor --node gave one.
func (m *Model) placeholderAddresses() {
	for _, g := range m.Groups {
		var members []string
		members = append(members, g.Nodes...)
		for _, l := range g.Locations {
			members = append(members, l.Node)
		}
		type need struct {
			net    *Network
			device string
			origin Origin
		}
		var needs []need
		for _, r := range g.Resources {
			if r.Kind == KindVIP {
				needs = append(needs, need{m.NetworkFor(r.Address.Addr(), 24, r.Origin), r.Interface, r.Origin})
			}
		}
		if m.Heartbeat != nil {
			for _, l := range m.Heartbeat.Links {
				if l.Peer.IsValid() {
					needs = append(needs, need{m.NetworkFor(l.Peer, 24, l.Origin), l.Device, l.Origin})
				}
			}
		}
		for _, nd := range needs {
			net := nd.net
			for _, name := range members {
				n := m.Node(name, g.Origin)
				if hasInterfaceOn(n, net) {
					continue
				}
				v := Label(fmt.Sprintf("%s_%s_address", n.Name, net.Name))
				m.Variables = append(m.Variables, &Variable{Name: v,
					Description: fmt.Sprintf("Address of node %s on network %s (%s): the imported files do not say. Set it with --var %s=ADDRESS, or import again with --node %s=ADDRESS.", n.Name, net.Name, net.Prefix, v, n.Name)})
				dev := nd.device
				if dev == "" {
					dev = m.deviceOn(net)
				}
				if hasDevice(n, dev) {
					taken := dev
					dev = "eth0"
					for i := 1; hasDevice(n, dev); i++ {
						dev = fmt.Sprintf("eth%d", i)
					}
					m.Translated(nd.origin, "Device of "+n.Name+" on "+net.Name, fmt.Sprintf("%s already carries another network of %s; the import guesses %s for %s. Correct the interface's name.", taken, n.Name, dev, net.Prefix))
				}
				n.Interfaces = append(n.Interfaces, &Interface{Device: dev, Network: net, Var: v})
			}
		}
	}
}

func hasDevice(n *Node, dev string) bool {
	return slices.ContainsFunc(n.Interfaces, func(i *Interface) bool { return i.Device == dev })
}

// vipInterfaces drops a VIP's interface where a member node has the VIP's
// network on another device: hactl puts the VIP on that node's interface
// of the network.
func (m *Model) vipInterfaces() {
	for _, g := range m.Groups {
		members := slices.Clone(g.Nodes)
		for _, l := range g.Locations {
			members = append(members, l.Node)
		}
		for _, r := range g.Resources {
			if r.Kind != KindVIP || r.Interface == "" {
				continue
			}
			for _, name := range members {
				n := m.Node(name, g.Origin)
				for _, i := range n.Interfaces {
					if r.Interface != "" && i.Network.Prefix.Contains(r.Address.Addr()) && i.Device != r.Interface {
						m.Translated(r.Origin, "VIP "+r.Address.Addr().String()+" on "+r.Interface, fmt.Sprintf("%s has the VIP's network on %s; hactl puts a VIP on the holder's interface of its network, so the import leaves interface out.", n.Name, i.Device))
						r.Interface = ""
					}
				}
			}
		}
	}
}

func hasInterfaceOn(n *Node, net *Network) bool {
	for _, i := range n.Interfaces {
		if i.Network == net {
			return true
		}
	}
	return false
}

// resolveLinks finds each heartbeat link's network (by its peer address
// or its device), merges links on one network, and names them.
func (m *Model) resolveLinks() {
	hb := m.Heartbeat
	if hb == nil {
		return
	}
	var out []*Link
	seen := map[*Network]*Link{}
	for _, l := range hb.Links {
		if l.Network == nil && l.Peer.IsValid() {
			for _, n := range m.Networks {
				if n.Prefix.Contains(l.Peer) {
					l.Network = n
				}
			}
		}
		if l.Network == nil && l.Device != "" {
			for _, n := range m.Nodes {
				for _, i := range n.Interfaces {
					if i.Device == l.Device && l.Network == nil {
						l.Network = i.Network
					}
				}
			}
		}
		if l.Network == nil {
			m.Invalid(l.Origin, "Heartbeat link on an unknown network",
				fmt.Sprintf("No node has an interface %[1]q with a known address, so the network of this link is unknown. Give the nodes' addresses on it with --node NAME=ADDRESS/PREFIX@%[1]s.", l.Device))
			continue
		}
		if prev := seen[l.Network]; prev != nil {
			if prev.Mode != l.Mode {
				m.Translated(l.Origin, "A second heartbeat path on network "+l.Network.Name,
					fmt.Sprintf("hactl runs one link per network; it keeps the first one's mode (%s) from %s.", prev.Mode, prev.Origin))
			}
			continue
		}
		seen[l.Network] = l
		l.Name = l.Network.Name
		out = append(out, l)
	}
	hb.Links = out
	if len(out) == 0 && len(m.Networks) > 0 {
		hb.Links = []*Link{{Name: m.Networks[0].Name, Network: m.Networks[0], Mode: "unicast", Origin: hb.Origin}}
		m.Translated(hb.Origin, "Heartbeat without a usable path",
			fmt.Sprintf("None of the input's heartbeat paths could be placed on a network; hactl sends unicast heartbeats on %s (%s).", m.Networks[0].Name, m.Networks[0].Prefix))
	}
}

func (m *Model) checkVirtualServices() {
	for _, vs := range m.VirtualServices {
		if m.FindVIP(vs.VIPAddr) == nil {
			m.Invalid(vs.Origin, "Virtual service on an address no group holds",
				fmt.Sprintf("%s is not a VIP of any group, and in hactl a virtual service runs where its VIP is. Import it together with the configuration that moves the VIP (hactl import heartbeat ha.cf cib.xml ipvsadm FILE, or keepalived).", vs.VIPAddr))
		}
	}
}

func (m *Model) checkProxies() {
	for _, p := range m.Proxies {
		if p.VIPAddr.IsValid() && m.FindVIP(p.VIPAddr) == nil {
			m.Invalid(p.Origin, "Proxy listens on an address no group holds",
				fmt.Sprintf("%s is not a VIP of any group; hactl runs a proxy on a VIP's holder or on listed nodes. Import it with the configuration that moves the VIP.", p.VIPAddr))
		}
	}
}

// clusterKey makes a new random cluster key. It is not derived from the
// input's secret: a VRRP password or an authkeys line is often short,
// and a key derived from it would be no stronger.
func (m *Model) clusterKey() {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails since Go 1.24
	m.Secrets[ClusterKeyFile] = []byte(base64.StdEncoding.EncodeToString(key) + "\n")
}

// ClusterKeyFile is the cluster key's file, beside the configuration. An
// existing one is kept: it may be a running cluster's, and any valid key
// will do.
const ClusterKeyFile = "cluster.key"
