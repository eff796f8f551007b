package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hactl/hactl/plan/topology"
)

// state is everything a lab is made of. It is computed in full from the
// topology before anything is created and saved in the lab's directory, so
// that Down and the fault commands work from it alone.
type state struct {
	Name     string       `json:"name"`
	ID       string       `json:"id"`
	Created  time.Time    `json:"created"`
	Switch   string       `json:"switch"` // netns holding the bridges
	Networks []*netState  `json:"networks"`
	Nodes    []*nodeState `json:"nodes"`
	Ctl      *nsState     `json:"ctl"`
	Client   *nsState     `json:"client"`
	Faults   faults       `json:"faults"`
	PDU      *pduState    `json:"pdu,omitempty"` // the power switch daemon
}

// netState is one network: a bridge in the switch namespace.
type netState struct {
	Name   string       `json:"name"`
	Prefix netip.Prefix `json:"prefix"`
	Bridge string       `json:"bridge"`
}

// nsState is a namespace attached to networks: a node, ctl or client.
type nsState struct {
	Name   string        `json:"name"`
	Netns  string        `json:"netns"`
	Ifaces []*ifaceState `json:"interfaces"`
}

// ifaceState is one veth: Name inside the namespace, Port on the bridge.
type ifaceState struct {
	Name    string       `json:"name"`
	Network string       `json:"network"`
	Address netip.Prefix `json:"address"`
	Port    string       `json:"port"`
}

// nodeState is a node: its namespaces, how to reach it, what it serves.
type nodeState struct {
	nsState
	SSHHost   string     `json:"ssh_host"` // the address the file gives
	SSHAddr   netip.Addr `json:"ssh_addr"` // the IP it resolves to in the lab
	SSHPort   int        `json:"ssh_port"`
	SSHUser   string     `json:"ssh_user"`
	HTTPPorts []int      `json:"http_ports,omitempty"`
	InitPid   int        `json:"init_pid,omitempty"`
	InitStart uint64     `json:"init_start,omitempty"` // start time, to tell a reused pid
	Off       bool       `json:"off,omitempty"`        // powered off: links down until it boots
}

// faults are the faults currently injected into the lab's networks.
type faults struct {
	Cut       []string       `json:"cut,omitempty"`        // bridge ports set down
	DeadPorts []string       `json:"dead_ports,omitempty"` // bridge ports the switch drops every frame of
	Partition [][]string     `json:"partition,omitempty"`  // groups of node names
	Loss      map[string]int `json:"loss,omitempty"`       // port → percent
	LossBy    string         `json:"loss_by,omitempty"`    // "netem" or "nftables"
}

var labNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// checkName checks that a lab name is usable as a directory name.
func checkName(name string) error {
	if !labNameRE.MatchString(name) {
		return fmt.Errorf("lab name %q: use 1 to 32 lower-case letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	return nil
}

// newState computes a lab's state from a topology. It is a pure function of
// its arguments.
func newState(topo *topology.Topology, name, id string) (*state, error) {
	if len(topo.Nodes) == 0 {
		return nil, errors.New("the topology has no nodes")
	}
	if len(topo.Networks) == 0 {
		return nil, errors.New("the topology has no networks")
	}
	prefix := "hl" + id + "-"
	st := &state{Name: name, ID: id, Switch: prefix + "switch"}
	netIdx := map[*topology.Network]int{}
	for i, n := range topo.Networks {
		netIdx[n] = i
		st.Networks = append(st.Networks, &netState{Name: n.Name, Prefix: n.Prefix.Masked(), Bridge: fmt.Sprintf("br%d", i)})
	}

	used := usedAddresses(topo)
	web := webPorts(topo)
	for i, n := range topo.Nodes {
		ns := &nodeState{nsState: nsState{Name: n.Name, Netns: prefix + "n-" + n.Name}, SSHHost: n.Address, SSHPort: n.SSH.Port, SSHUser: n.SSH.User}
		if ns.SSHPort == 0 {
			ns.SSHPort = 22
		}
		if ns.SSHUser == "" {
			ns.SSHUser = "root"
		}
		for j, ifc := range n.Interfaces {
			if ifc.Network == nil {
				return nil, fmt.Errorf("node %s: interface %s is on no network", n.Name, ifc.Name)
			}
			ns.Ifaces = append(ns.Ifaces, &ifaceState{Name: ifc.Name, Network: ifc.Network.Name, Address: ifc.Address, Port: fmt.Sprintf("n%d.%d", i, j)})
		}
		if len(ns.Ifaces) == 0 {
			return nil, fmt.Errorf("node %s has no interface: the lab cannot reach it", n.Name)
		}
		addr, err := sshAddr(n)
		if err != nil {
			return nil, err
		}
		ns.SSHAddr = addr
		ns.HTTPPorts = web[n]
		st.Nodes = append(st.Nodes, ns)
	}

	st.Ctl = &nsState{Name: "ctl", Netns: prefix + "ctl"}
	st.Client = &nsState{Name: "client", Netns: prefix + "client"}
	clientNets := clientNetworks(topo)
	for i, n := range topo.Networks {
		ctl, err := freeAddress(n.Prefix, used)
		if err != nil {
			return nil, fmt.Errorf("network %s: no address left for the ctl namespace: %w", n.Name, err)
		}
		used[ctl.Addr()] = true
		st.Ctl.Ifaces = append(st.Ctl.Ifaces, &ifaceState{Name: fmt.Sprintf("eth%d", len(st.Ctl.Ifaces)), Network: n.Name, Address: ctl, Port: fmt.Sprintf("ctl.%d", i)})
		if !clientNets[n] {
			continue
		}
		cli, err := freeAddress(n.Prefix, used)
		if err != nil {
			return nil, fmt.Errorf("network %s: no address left for the client namespace: %w", n.Name, err)
		}
		used[cli.Addr()] = true
		st.Client.Ifaces = append(st.Client.Ifaces, &ifaceState{Name: fmt.Sprintf("eth%d", len(st.Client.Ifaces)), Network: n.Name, Address: cli, Port: fmt.Sprintf("cli.%d", i)})
	}
	return st, nil
}

// sshAddr is the IP a node is reached at: its SSH address when that is an
// IP on one of its interfaces, else its first interface's address.
func sshAddr(n *topology.Node) (netip.Addr, error) {
	a, err := netip.ParseAddr(n.Address)
	if err != nil {
		// A host name: the lab has no DNS; ssh_config and known_hosts map
		// the name to the first interface's address.
		return n.Interfaces[0].Address.Addr(), nil
	}
	for _, ifc := range n.Interfaces {
		if ifc.Address.Addr() == a {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("node %s: its SSH address %s is on none of its interfaces, so the lab cannot reach it", n.Name, a)
}

// usedAddresses collects every address the topology mentions, so that the
// lab's own namespaces stay clear of them.
func usedAddresses(topo *topology.Topology) map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	add := func(s string) {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			used[ap.Addr()] = true
		} else if a, err := netip.ParseAddr(s); err == nil {
			used[a] = true
		}
	}
	for _, n := range topo.Nodes {
		add(n.Address)
		for _, ifc := range n.Interfaces {
			used[ifc.Address.Addr()] = true
		}
	}
	for _, v := range allVIPs(topo) {
		used[v.Address.Addr()] = true
	}
	for _, vs := range topo.VirtualServices {
		add(vs.SorryServer)
		for _, rs := range vs.RealServers {
			used[rs.Address] = true
		}
	}
	for _, p := range topo.Proxies {
		for _, l := range p.Listeners {
			add(l.Address)
		}
		for _, s := range p.Services {
			for _, b := range s.Backends {
				add(b.Address)
			}
		}
	}
	if topo.Quorum != nil {
		add(topo.Quorum.TieBreaker)
	}
	if topo.Monitor != nil {
		for _, d := range topo.Monitor.Devices {
			add(d.Address)
		}
	}
	return used
}

// allVIPs returns the VIPs of groups, virtual services and proxies.
func allVIPs(topo *topology.Topology) []*topology.VIP {
	var vips []*topology.VIP
	for _, g := range topo.Groups {
		for _, r := range g.Resources {
			if r.VIP != nil {
				vips = append(vips, r.VIP)
			}
		}
	}
	for _, vs := range topo.VirtualServices {
		if vs.VIP != nil {
			vips = append(vips, vs.VIP)
		}
	}
	for _, p := range topo.Proxies {
		if p.VIP != nil {
			vips = append(vips, p.VIP)
		}
	}
	return vips
}

// clientNetworks are the networks the client namespace joins: those that
// carry a VIP or a web node's address; every network when there is none.
func clientNetworks(topo *topology.Topology) map[*topology.Network]bool {
	nets := map[*topology.Network]bool{}
	mark := func(a netip.Addr) {
		for _, n := range topo.Networks {
			if n.Prefix.Contains(a) {
				nets[n] = true
			}
		}
	}
	for _, v := range allVIPs(topo) {
		mark(v.Address.Addr())
	}
	for n := range webPorts(topo) {
		for _, ifc := range n.Interfaces {
			nets[ifc.Network] = true
		}
	}
	if len(nets) == 0 {
		for _, n := range topo.Networks {
			nets[n] = true
		}
	}
	return nets
}

// webPorts returns, for each node that is a real server of a TCP virtual
// service or a proxy backend, the ports its web server listens on.
func webPorts(topo *topology.Topology) map[*topology.Node][]int {
	byAddr := map[netip.Addr]*topology.Node{}
	for _, n := range topo.Nodes {
		for _, ifc := range n.Interfaces {
			byAddr[ifc.Address.Addr()] = n
		}
	}
	ports := map[*topology.Node][]int{}
	add := func(n *topology.Node, port int) {
		if n == nil || port <= 0 || slices.Contains(ports[n], port) {
			return
		}
		ports[n] = append(ports[n], port)
		slices.Sort(ports[n])
	}
	for _, vs := range topo.VirtualServices {
		if vs.Protocol != "" && vs.Protocol != "tcp" {
			continue
		}
		for _, rs := range vs.RealServers {
			n := rs.Node
			if n == nil {
				n = byAddr[rs.Address]
			}
			port := rs.Port
			if port == 0 {
				port = vs.Port
			}
			add(n, port)
		}
	}
	for _, p := range topo.Proxies {
		for _, s := range p.Services {
			for _, b := range s.Backends {
				if b.Kind == "redirect" {
					continue
				}
				n := b.Node
				if n == nil {
					if a, err := netip.ParseAddr(b.Address); err == nil {
						n = byAddr[a]
					}
				}
				add(n, b.Port)
			}
		}
	}
	// A VIP that no virtual service or proxy uses fronts its group's own
	// web server (the guide's two-node apache): the group's nodes answer
	// on port 80, so that the client sees which one holds it.
	used := map[*topology.VIP]bool{}
	for _, vs := range topo.VirtualServices {
		used[vs.VIP] = true
	}
	for _, p := range topo.Proxies {
		used[p.VIP] = true
	}
	for _, g := range topo.Groups {
		for _, r := range g.Resources {
			if r.VIP != nil && !used[r.VIP] {
				for _, l := range g.Locations {
					add(l.Node, 80)
				}
			}
		}
	}
	return ports
}

// freeAddress returns the highest host address of the prefix that is not
// used, with the prefix's length.
func freeAddress(p netip.Prefix, used map[netip.Addr]bool) (netip.Prefix, error) {
	p = p.Masked()
	last := lastAddr(p)
	a := last
	if p.Addr().Is4() && p.Bits() < 31 {
		a = a.Prev() // skip the broadcast address
	}
	for ; a.IsValid() && p.Contains(a) && a != p.Addr(); a = a.Prev() {
		if !used[a] {
			return netip.PrefixFrom(a, p.Bits()), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%s is full", p)
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		bits := p.Bits() - i*8
		switch {
		case bits >= 8:
		case bits <= 0:
			b[i] = 0xff
		default:
			b[i] |= 0xff >> bits
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// node returns the named node's state.
func (st *state) node(name string) (*nodeState, error) {
	for _, n := range st.Nodes {
		if n.Name == name {
			return n, nil
		}
	}
	names := make([]string, len(st.Nodes))
	for i, n := range st.Nodes {
		names[i] = n.Name
	}
	return nil, fmt.Errorf("lab %s has no node %q (nodes: %s)", st.Name, name, strings.Join(names, ", "))
}

// ports returns the bridge ports of a node's interface, or of all its
// interfaces when iface is empty.
func (st *state) ports(node, iface string) ([]string, error) {
	n, err := st.node(node)
	if err != nil {
		return nil, err
	}
	var ports []string
	for _, ifc := range n.Ifaces {
		if iface == "" || ifc.Name == iface {
			ports = append(ports, ifc.Port)
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("node %s has no interface %q", node, iface)
	}
	return ports, nil
}

// namespaces returns every network namespace of the lab, switch last.
func (st *state) namespaces() []string {
	var names []string
	for _, n := range st.Nodes {
		names = append(names, n.Netns)
	}
	for _, ns := range []*nsState{st.Ctl, st.Client} {
		if ns != nil {
			names = append(names, ns.Netns)
		}
	}
	return append(names, st.Switch)
}

// netnsPath is where a named network namespace is mounted.
func netnsPath(name string) string { return filepath.Join("/run/netns", name) }
