// Package gencluster writes the configuration of a lab cluster of any
// size, for the scale test and the benchmarks: nodes on two networks,
// each a heartbeat link, and groups of one VIP each spread over them.
package gencluster

import (
	"fmt"
	"strings"
)

// MaxNodes and MaxGroups bound the address plan: nodes at 192.168.x.1 and
// up, VIPs at 192.168.0.100 and up, the lab's ctl and client namespaces at
// the top of the networks.
const (
	MaxNodes  = 64
	MaxGroups = 150
)

// Options shape the cluster.
type Options struct {
	Cluster string // the cluster's name
	Nodes   int
	Groups  int
	// Locations is how many nodes may run each group, the group's
	// preferred node first: group i prefers node i mod Nodes, then the
	// next ones. Default 3, at most Nodes.
	Locations int
	// Timing is the heartbeat block's timing attributes, one per line,
	// as `interval = "100ms"`; empty for hactl's defaults.
	Timing []string
	// Extra is appended as it is (a quorum block, …).
	Extra string
}

// NodeName is the name of node i, from 0.
func NodeName(i int) string { return fmt.Sprintf("n%02d", i+1) }

// GroupName is the name of group i, from 0.
func GroupName(i int) string { return fmt.Sprintf("g%03d", i+1) }

// VIP is the address of group i's VIP.
func VIP(i int) string { return fmt.Sprintf("192.168.0.%d", 100+i) }

// NodeAddress is node i's address on network lan (0) or hb (1).
func NodeAddress(i, network int) string { return fmt.Sprintf("192.168.%d.%d", network, i+1) }

// HCL is the configuration, with key_file "cluster.key".
func HCL(o Options) (string, error) {
	if o.Nodes < 1 || o.Nodes > MaxNodes || o.Groups < 0 || o.Groups > MaxGroups {
		return "", fmt.Errorf("a generated cluster has 1 to %d nodes and 0 to %d groups, not %d and %d", MaxNodes, MaxGroups, o.Nodes, o.Groups)
	}
	locs := o.Locations
	if locs <= 0 {
		locs = 3
	}
	locs = min(locs, o.Nodes)
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %q {\n  key_file = \"cluster.key\"\n}\n", o.Cluster)
	b.WriteString("network \"lan\" {\n  cidr = \"192.168.0.0/24\"\n}\nnetwork \"hb\" {\n  cidr = \"192.168.1.0/24\"\n}\n")
	for i := range o.Nodes {
		fmt.Fprintf(&b, "node %q {\n", NodeName(i))
		for net, name := range []string{"lan", "hb"} {
			fmt.Fprintf(&b, "  interface \"eth%d\" {\n    network = network.%s\n    address = %q\n  }\n", net, name, NodeAddress(i, net))
		}
		b.WriteString("}\n")
	}
	b.WriteString("heartbeat {\n")
	for _, t := range o.Timing {
		fmt.Fprintf(&b, "  %s\n", t)
	}
	b.WriteString("  link \"lan\" {\n    network = network.lan\n  }\n  link \"direct\" {\n    network = network.hb\n  }\n}\n")
	for g := range o.Groups {
		var nodes []string
		for k := range locs {
			nodes = append(nodes, "node."+NodeName((g+k)%o.Nodes))
		}
		fmt.Fprintf(&b, "group %q {\n  nodes = [%s]\n  vip %q {\n    address = \"%s/24\"\n  }\n}\n", GroupName(g), strings.Join(nodes, ", "), GroupName(g)+"-ip", VIP(g))
	}
	b.WriteString(o.Extra)
	return b.String(), nil
}
