package drill

import (
	"net/netip"
	"slices"

	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/topology"
)

// world is the drill's model of a cluster under a fault: which nodes are
// live, which can talk, which can serve (see the package doc).
type world struct {
	topo      *topology.Topology
	members   []string                   // the nodes of some group, in the file's order
	state     map[string]string          // lab state: up, frozen, down, off
	agentDown map[string]bool            // the fault is on this node's agent
	broken    map[string]map[string]bool // node → network whose link is cut or dead
	lossy     map[string]map[string]bool // node → network whose link drops packets
	side      map[string]int             // partition side; absent: reaches everyone
}

// healthy is the world without faults.
func healthy(topo *topology.Topology) *world {
	w := &world{topo: topo, state: map[string]string{}, agentDown: map[string]bool{},
		broken: map[string]map[string]bool{}, lossy: map[string]map[string]bool{}, side: map[string]int{}}
	for _, n := range topo.Nodes {
		w.state[n.Name] = lab.StateUp
		w.broken[n.Name], w.lossy[n.Name] = map[string]bool{}, map[string]bool{}
		if slices.ContainsFunc(topo.Groups, func(g *topology.Group) bool { return locatedOn(g, n.Name) }) {
			w.members = append(w.members, n.Name)
		}
	}
	return w
}

// locatedOn reports whether a node is one of a group's locations.
func locatedOn(g *topology.Group, node string) bool {
	return slices.ContainsFunc(g.Locations, func(l topology.Location) bool { return l.Node.Name == node })
}

// duringFault is the world a fault makes of a healthy cluster, before the
// cluster reacts to it (no node fenced yet).
func duringFault(topo *topology.Topology, f Fault) *world {
	w := healthy(topo)
	nets := func() []string {
		var out []string
		for _, n := range topo.Nodes {
			if n.Name != f.Node {
				continue
			}
			for _, i := range n.Interfaces {
				if f.Iface == "" || f.Iface == i.Name {
					out = append(out, i.Network.Name)
				}
			}
		}
		return out
	}
	switch f.Kind {
	case KindCut, KindCutPort:
		for _, net := range nets() {
			w.broken[f.Node][net] = true
		}
	case KindLoss:
		for _, net := range nets() {
			w.lossy[f.Node][net] = true
		}
	case KindPartition:
		for i, s := range f.Sides {
			for _, n := range s {
				w.side[n] = i
			}
		}
	case KindKill:
		w.state[f.Node] = lab.StateDown
	case KindFreeze:
		w.state[f.Node] = lab.StateFrozen
	case KindPower:
		w.state[f.Node] = lab.StateOff
	case KindAgentKill, KindAgentRestart:
		w.agentDown[f.Node] = true
	}
	return w
}

// observed is the world as the lab shows it now.
func observed(topo *topology.Topology, st *lab.Status) *world {
	w := healthy(topo)
	for _, n := range st.Nodes {
		w.state[n.Name] = n.State
		if w.broken[n.Name] == nil {
			continue
		}
		for _, l := range n.Links {
			if !l.Up || l.DeadPort {
				w.broken[n.Name][l.Network] = true
			}
			if l.Loss > 0 {
				w.lossy[n.Name][l.Network] = true
			}
		}
	}
	for i, s := range st.Partition {
		for _, n := range s {
			w.side[n] = i
		}
	}
	return w
}

func (w *world) live(n string) bool { return w.state[n] == lab.StateUp && !w.agentDown[n] }

// connected reports whether two live nodes hear each other's heartbeats.
func (w *world) connected(a, b string) bool {
	if !w.live(a) || !w.live(b) {
		return false
	}
	sa, aSplit := w.side[a]
	sb, bSplit := w.side[b]
	if aSplit && bSplit && sa != sb {
		return false
	}
	if w.topo.Heartbeat == nil {
		return false
	}
	for _, l := range w.topo.Heartbeat.Links {
		net := l.Network.Name
		if w.on(a, net) && w.on(b, net) && !w.broken[a][net] && !w.broken[b][net] {
			return true
		}
	}
	return false
}

// on reports whether a node has an interface on a network.
func (w *world) on(node, net string) bool {
	for _, n := range w.topo.Nodes {
		if n.Name == node {
			for _, i := range n.Interfaces {
				if i.Network.Name == net {
					return true
				}
			}
		}
	}
	return false
}

// components splits the live nodes into sets that hear each other.
func (w *world) components() [][]string {
	var out [][]string
	seen := map[string]bool{}
	for _, n := range w.members {
		if seen[n] || !w.live(n) {
			continue
		}
		comp := []string{n}
		seen[n] = true
		for i := 0; i < len(comp); i++ {
			for _, m := range w.members {
				if !seen[m] && w.connected(comp[i], m) {
					seen[m] = true
					comp = append(comp, m)
				}
			}
		}
		out = append(out, comp)
	}
	return out
}

// quorate reports whether a component may run groups.
func (w *world) quorate(comp []string, comps [][]string) bool {
	if w.topo.Quorum != nil && w.topo.Quorum.Policy == topology.QuorumIgnore {
		return true
	}
	if len(w.members) <= 2 {
		return len(comps) == 1
	}
	return 2*len(comp) > len(w.members)
}

// canRun returns the nodes of a quorate component that can serve the
// group: live, among its locations, with a working link on the network of
// every VIP of the group.
func (w *world) canRun(g *topology.Group) []string {
	comps := w.components()
	var out []string
	for _, c := range comps {
		if !w.quorate(c, comps) {
			continue
		}
		for _, n := range c {
			if w.serves(n, g) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// serves reports whether a node is a location of the group with working
// links on its VIPs' networks.
func (w *world) serves(node string, g *topology.Group) bool {
	if !locatedOn(g, node) {
		return false
	}
	for _, v := range groupVIPs(g) {
		net := networkOf(w.topo, v.Address.Addr())
		if net == "" || w.broken[node][net] {
			return false
		}
	}
	return true
}

// groupVIPs lists a group's VIPs.
func groupVIPs(g *topology.Group) []*topology.VIP {
	var out []*topology.VIP
	for _, r := range g.Resources {
		if r.VIP != nil {
			out = append(out, r.VIP)
		}
	}
	return out
}

// networkOf names the network whose prefix holds addr.
func networkOf(topo *topology.Topology, addr netip.Addr) string {
	for _, n := range topo.Networks {
		if n.Prefix.Contains(addr) {
			return n.Name
		}
	}
	return ""
}

// fenceable reports whether a node has a fence device.
func fenceable(topo *topology.Topology, node string) bool {
	for _, n := range topo.Nodes {
		if n.Name == node {
			return len(n.Fences) > 0
		}
	}
	return false
}

// clientBlind reports whether a fault drops the client's own requests to
// the node that holds the group (holder): loss on, or a dead switch port
// of, its link on a VIP's network. The cluster cannot see a dead
// client-side port without ping targets, so the group may rightly stay
// there.
func clientBlind(topo *topology.Topology, f Fault, g *topology.Group, holder string) bool {
	if f.Node != holder || (f.Kind != KindLoss && !(f.Kind == KindCutPort && len(g.PingTargets) == 0)) {
		return false
	}
	w := duringFault(topo, f)
	for _, v := range groupVIPs(g) {
		net := networkOf(topo, v.Address.Addr())
		if w.broken[f.Node][net] || w.lossy[f.Node][net] {
			return true
		}
	}
	return false
}
