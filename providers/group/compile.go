package group

import (
	"fmt"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

var _ providers.Compiler = Provider{}

// Compile implements providers.Compiler: a node gets every group it may run,
// with its VIPs on its own interfaces.
func (Provider) Compile(c *providers.CompileContext) {
	for _, g := range c.Topology.Groups {
		if !MayRun(g, c.Node) {
			continue
		}
		sg := spec.Group{Name: g.Name, Failback: g.Failback, FailbackDelayMS: providers.MS(g.FailbackDelay)}
		for _, a := range g.PingTargets {
			sg.PingTargets = append(sg.PingTargets, a.String())
		}
		for _, l := range g.Locations {
			sg.Locations = append(sg.Locations, spec.Location{Node: l.Node.Name, Score: l.Score})
		}
		for _, r := range g.Resources {
			sr := spec.Resource{
				Kind: string(r.Kind), Name: r.Name,
				MonitorIntervalMS: providers.MS(r.MonitorInterval), MonitorTimeoutMS: providers.MS(r.MonitorTimeout),
				OnFail: string(r.OnFail), MaxRestarts: r.MaxRestarts,
				Unit: r.Unit, Script: r.Script,
			}
			if v := r.VIP; v != nil {
				sr.Address = v.Address.String()
				sr.Interface = VIPInterface(v, c.Node)
				sr.GARPCount = v.GARPCount
				sr.GARPRefreshMS = providers.MS(v.GARPRefresh)
			}
			if o := r.OCF; o != nil {
				sr.OCFProvider, sr.OCFType, sr.Params = o.Provider, o.Type, o.Params
				for _, k := range spec.SortedKeys(o.SecretParams) {
					if sr.SecretParams == nil {
						sr.SecretParams = map[string]string{}
					}
					name := fmt.Sprintf("ocf-%s-%s-%s", g.Name, r.Name, k)
					sr.SecretParams[k] = c.SecretFrom(name, o.SecretParams[k], "", o.ParamsRange)
				}
			}
			sg.Resources = append(sg.Resources, sr)
		}
		c.Spec.Groups = append(c.Spec.Groups, sg)
	}
}

// MayRun says whether the node is one of the group's locations.
func MayRun(g *topology.Group, n *topology.Node) bool {
	for _, l := range g.Locations {
		if l.Node == n {
			return true
		}
	}
	return false
}

// VIPInterface is the device that carries the VIP on node n: the one the
// configuration names, or n's interface on the network containing it.
func VIPInterface(v *topology.VIP, n *topology.Node) string {
	if v.Interface != "" {
		return v.Interface
	}
	for _, i := range n.Interfaces {
		if i.Network != nil && i.Network.Prefix.Contains(v.Address.Addr()) {
			return i.Name
		}
	}
	return ""
}
