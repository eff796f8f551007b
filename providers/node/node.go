// Package node is the provider of node blocks: the hosts of the cluster, how
// to reach them, their interfaces on the networks, their labels and the
// fencing devices that can power them off.
package node

import (
	"fmt"
	"net/netip"

	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/cluster"
	"github.com/hactl/hactl/providers/network"
)

// Provider decodes node blocks.
type Provider struct{}

var (
	_ providers.Provider  = Provider{}
	_ providers.Validator = Provider{}
)

var fenceTypes = []string{
	string(topology.FenceSSH), string(topology.FenceCommand), string(topology.FenceIPMI),
	string(topology.FenceRedfish), string(topology.FenceLab),
}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "node",
		Labels: []string{"name"},
		Doc:    "A host of the cluster: an HA member, a load-balancer director, a real server, or all of these. The label is the node's name, which other blocks refer to as node.NAME; it should be the host's hostname.",
		Attrs: []*providers.Attr{
			{Name: "address", Type: providers.String, Doc: "Where hactl reaches the node over SSH: a host name or an IP address. Default: the address of the node's first interface.", Example: `"192.168.0.31"`},
			{Name: "labels", Type: providers.StringMap, Doc: "Free-form labels, for the operator and for selecting nodes.", Example: `{ rack = "a1", role = "director" }`},
		},
		Blocks: []*providers.Block{
			{
				Type:   "interface",
				Labels: []string{"device"},
				Doc:    "The node's attachment to a network. The label is the device name on the host (eth0, ens3…).",
				Attrs: []*providers.Attr{
					{Name: "network", Type: providers.Ref, RefKind: "network", Required: true, Doc: "The network this interface is on.", Example: "network.lan"},
					{Name: "address", Type: providers.IPAddress, Required: true, Doc: "The node's own address on that network; the prefix length is the network's.", Example: `"192.168.0.31"`},
				},
			},
			cluster.SSHBlock(false),
			{
				Type:   "fence",
				Labels: []string{"type"},
				Doc:    "A device that can power this node off (STONITH), used before another node takes its resources over. The label is its type: " + providers.EnumDoc(fenceTypes) + ". `ssh` powers off over another path, `command` runs an operator script given the node name, `ipmi` uses ipmitool, `redfish` the BMC's HTTP API, and `lab` kills a node of `hactl lab`.",
				Attrs: []*providers.Attr{
					{Name: "address", Type: providers.String, Doc: "The BMC (ipmi, redfish) or host (ssh) to talk to.", Example: `"10.0.9.31"`},
					{Name: "user", Type: providers.String, Doc: "User on the BMC or host.", Example: `"admin"`},
					{Name: "password", Type: providers.String, Secret: true, SecretFile: "password_file", Doc: "Password, inline; uploaded like the content of password_file."},
					{Name: "password_file", Type: providers.String, Doc: "File holding the password, uploaded with mode 0600.", Example: `"secrets/h2g-bmc"`},
					{Name: "command", Type: providers.String, Doc: "For type \"command\": the program to run; it gets the node name as its first argument and must exit 0 only when the node is off.", Example: `"/usr/local/sbin/pdu-off"`},
					{Name: "action", Type: providers.String, Default: `"off"`, Enum: []string{"off", "reboot"}, Doc: "Power the node off, or reset it."},
					{Name: "timeout", Type: providers.Duration, Default: `"30s"`, Doc: "How long fencing may take before it counts as failed."},
				},
			},
		},
		Example: `node "h2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.31"
  }
  interface "eth1" {
    network = network.heartbeat
    address = "10.0.0.1"
  }
  fence "ipmi" {
    address       = "10.0.9.31"
    user          = "admin"
    password_file = "secrets/h2g-bmc"
  }
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	n := &topology.Node{
		Name:    c.Label(0),
		Address: c.String("address"),
		Labels:  c.StringMap("labels"),
		Range:   c.BlockRange(),
	}
	if !d.Declare("node", n.Name, c.DefRange) {
		return
	}
	d.Topology.Nodes = append(d.Topology.Nodes, n)
	for _, ic := range c.Blocks("interface") {
		iface := &topology.Interface{Name: ic.Label(0), Range: ic.BlockRange()}
		if !d.DeclareIn(fmt.Sprintf("node %q", n.Name), "interface", iface.Name, ic.DefRange) {
			continue
		}
		addr, addrRange := ic.Addr("address"), ic.Range("address")
		netName, netRange := ic.Ref("network")
		n.Interfaces = append(n.Interfaces, iface)
		d.Later(func() {
			nw, ok := providers.Lookup(d, "network", netName, netRange, network.ByName(d.Topology))
			if !ok || !addr.IsValid() || !nw.Prefix.IsValid() {
				return
			}
			iface.Network = nw
			iface.Address = netip.PrefixFrom(addr, nw.Prefix.Bits())
			if !nw.Prefix.Contains(addr) {
				d.Error(addrRange, "Address outside its network",
					fmt.Sprintf("%s is not in network %q (%s). Fix the address or attach the interface to the network that contains it.", addr, nw.Name, nw.Prefix))
			}
		})
	}
	sshContent := c.Block("ssh")
	d.Later(func() { n.SSH = cluster.DecodeSSH(sshContent, d.Topology.Cluster.SSH) })
	for _, fc := range c.Blocks("fence") {
		n.Fences = append(n.Fences, decodeFence(d, fc))
	}
}

func decodeFence(d *providers.Decoder, c *providers.Content) *topology.Fence {
	f := &topology.Fence{
		Type:         topology.FenceType(c.Label(0)),
		Address:      c.String("address"),
		User:         c.String("user"),
		Password:     c.String("password"),
		PasswordFile: c.String("password_file"),
		Command:      c.String("command"),
		Action:       c.String("action"),
		Timeout:      c.Duration("timeout"),
		Range:        c.BlockRange(),
	}
	need := func(attr string) {
		if !c.Has(attr) {
			d.Error(c.DefRange, fmt.Sprintf("Missing %s for %s fencing", attr, f.Type),
				fmt.Sprintf("A fence of type %q needs %q.", f.Type, attr))
		}
	}
	switch f.Type {
	case topology.FenceIPMI, topology.FenceRedfish:
		need("address")
		need("user")
		if !c.Has("password") && !c.Has("password_file") {
			need("password_file")
		}
	case topology.FenceSSH:
		need("address")
	case topology.FenceCommand:
		need("command")
	case topology.FenceLab:
	default:
		detail := fmt.Sprintf("The fence type must be one of %s.", providers.EnumDoc(fenceTypes))
		if s := providers.Suggest(string(f.Type), fenceTypes); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		d.Error(c.DefRange, fmt.Sprintf("Unknown fence type %q", f.Type), detail)
	}
	return f
}

// Validate implements providers.Validator.
func (Provider) Validate(d *providers.Decoder) {
	t := d.Topology
	seen := map[netip.Addr]string{}
	for _, n := range t.Nodes {
		if n.Address == "" {
			switch {
			case len(n.Interfaces) == 0:
				d.Error(providers.FromTopo(n.Range), "Node without an address",
					fmt.Sprintf("Node %q has neither an address nor an interface, so hactl cannot reach it. Add address = \"...\" or an interface block.", n.Name))
			case n.Interfaces[0].Address.IsValid():
				n.Address = n.Interfaces[0].Address.Addr().String()
			}
			// Otherwise the first interface's address or network is wrong,
			// and that has been reported.
		}
		for _, i := range n.Interfaces {
			if !i.Address.IsValid() {
				continue
			}
			a := i.Address.Addr()
			if other, dup := seen[a]; dup {
				d.Error(providers.FromTopo(i.Range), "Duplicate address",
					fmt.Sprintf("%s is already the address of %s. Every interface needs its own address.", a, other))
			}
			seen[a] = fmt.Sprintf("node %q", n.Name)
		}
	}
}

// ByName returns the declared nodes by name, for resolving references.
func ByName(t *topology.Topology) map[string]*topology.Node {
	m := make(map[string]*topology.Node, len(t.Nodes))
	for _, n := range t.Nodes {
		m[n.Name] = n
	}
	return m
}

// AddressFrom is the address of node to as seen from node from: its address
// on the first network they share, or its SSH address.
func AddressFrom(to, from *topology.Node) string {
	for _, i := range to.Interfaces {
		if i.Network != nil && from.InterfaceOn(i.Network) != nil {
			return i.Address.Addr().String()
		}
	}
	return to.Address
}
