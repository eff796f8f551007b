package lvs

import (
	"github.com/hactl/hactl/agentbin/spec"
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
			Protocol: vs.Protocol, Port: vs.Port, Scheduler: vs.Scheduler, Forwarding: vs.Forwarding,
			Datapath: vs.Datapath, Quiescent: vs.Quiescent, SorryServer: vs.SorryServer,
			HealthCheck: check.Compile(vs.HealthCheck),
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
