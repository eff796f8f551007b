package lvs

import (
	"net/netip"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/check"
	"github.com/hactl/hactl/providers/group"
)

var _ providers.Compiler = Provider{}

// Compile implements providers.Compiler: a node that may hold a virtual
// service's VIP gets the service, to run while it holds the VIP.
func (Provider) Compile(c *providers.CompileContext) {
	for _, vs := range c.Topology.VirtualServices {
		if vs.VIP == nil || !group.MayRun(vs.VIP.Group, c.Node) {
			continue
		}
		sv := spec.VirtualService{
			Name: vs.Name, VIP: vs.VIP.Name, Address: vs.VIP.Address.Addr().String(),
			Protocol: vs.Protocol, Port: vs.Port, FWMark: vs.FWMark, Scheduler: vs.Scheduler, Forwarding: vs.Forwarding,
			Datapath: vs.Datapath, Quiescent: vs.Quiescent, SorryServer: vs.SorryServer,
			HealthCheck: check.Compile(vs.HealthCheck), SyncInterface: syncInterface(c.Node, vs),
		}
		if len(vs.MarkPorts) > 0 {
			m := &spec.Mark{Ports: vs.MarkPorts}
			addrs := vs.MarkAddresses
			if len(addrs) == 0 {
				addrs = []netip.Addr{vs.VIP.Address.Addr()}
			}
			for _, a := range addrs {
				m.Addresses = append(m.Addresses, a.String())
			}
			sv.Mark = m
		}
		if p := vs.Persistence; p != nil {
			sv.PersistenceMS = providers.MS(p.Timeout)
			sv.PersistMask = p.Netmask.String()
		}
		for _, rs := range vs.RealServers {
			sv.RealServers = append(sv.RealServers, spec.RealServer{Name: rs.Name, Address: rs.Address.String(), Port: rs.Port, Weight: rs.Weight})
		}
		c.Spec.VirtualServices = append(c.Spec.VirtualServices, sv)
	}
}

// syncInterface is the director's interface for the connection-sync
// daemon: the one on the real servers' network, where the other directors
// are too (every forwarding method but tunnels needs them on it); else
// one on a network shared with another node that may hold the VIP.
func syncInterface(n *topology.Node, vs *topology.VirtualService) string {
	for _, i := range n.Interfaces {
		for _, rs := range vs.RealServers {
			if rs.Address.IsValid() && i.Address.Contains(rs.Address) {
				return i.Name
			}
		}
	}
	for _, l := range vs.VIP.Group.Locations {
		if l.Node == n {
			continue
		}
		for _, i := range n.Interfaces {
			if i.Network != nil && l.Node.InterfaceOn(i.Network) != nil {
				return i.Name
			}
		}
	}
	return ""
}
