package heartbeat

import (
	"fmt"
	"net/netip"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/group"
)

var _ providers.Compiler = Provider{}

// Compile implements providers.Compiler: members get the heartbeat timing,
// their own end of every link they are on, and their peers' addresses.
func (Provider) Compile(c *providers.CompileContext) {
	hb := c.Topology.Heartbeat
	members := group.Members(c.Topology)
	if hb == nil || !isMember(members, c.Node) {
		return
	}
	cl := c.Topology.Cluster
	out := &spec.Heartbeat{
		IntervalMS: providers.MS(hb.Interval),
		WarntimeMS: providers.MS(hb.Warntime),
		DeadtimeMS: providers.MS(hb.Deadtime),
		InitdeadMS: providers.MS(hb.Initdead),
		Port:       hb.Port,
		KeyPath:    c.Secret("cluster-key", cl.KeyFile, cl.Range),
		OldKeyPath: c.Secret("cluster-key.previous", cl.PreviousKeyFile, cl.Range),
	}
	for _, l := range hb.Links {
		iface := c.Node.InterfaceOn(l.Network)
		if iface == nil {
			continue
		}
		sl := spec.Link{Name: l.Name, Interface: iface.Name, Local: iface.Address.Addr().String(), Mode: string(l.Mode), TTL: l.TTL}
		if l.Group.IsValid() {
			sl.Group = l.Group.String()
		}
		if l.Mode == topology.LinkBroadcast {
			sl.Broadcast = broadcastAddr(l.Network.Prefix).String()
		}
		out.Links = append(out.Links, sl)
	}
	if len(out.Links) == 0 {
		c.Diags = append(c.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Member on no heartbeat link",
			Detail:  fmt.Sprintf("Node %q may run a group but is on none of the heartbeat links' networks, so it cannot take part in membership.", c.Node.Name),
			Subject: providers.FromTopo(c.Node.Range).Ptr()})
	}
	for _, m := range members {
		out.Members = append(out.Members, m.Name)
		if m == c.Node {
			continue
		}
		peer := spec.Peer{Name: m.Name, Addresses: map[string]string{}}
		for _, l := range hb.Links {
			if i := m.InterfaceOn(l.Network); i != nil {
				peer.Addresses[l.Name] = i.Address.Addr().String()
			}
		}
		for idx, f := range m.Fences {
			peer.Fences = append(peer.Fences, spec.Fence{
				Type: string(f.Type), Address: f.Address, User: f.User, Command: f.Command, Action: f.Action,
				TimeoutMS:    providers.MS(f.Timeout),
				PasswordPath: c.SecretFrom(fmt.Sprintf("fence-%s-%d", m.Name, idx), f.Password, f.PasswordFile, f.Range),
			})
		}
		out.Peers = append(out.Peers, peer)
	}
	c.Spec.Heartbeat = out
	if q := c.Topology.Quorum; q != nil {
		c.Spec.Quorum = &spec.Quorum{Policy: string(q.Policy), TieBreaker: q.TieBreaker}
	} else {
		c.Spec.Quorum = &spec.Quorum{Policy: string(topology.QuorumStop)}
	}
}

func isMember(members []*topology.Node, n *topology.Node) bool {
	for _, m := range members {
		if m == n {
			return true
		}
	}
	return false
}

// broadcastAddr is the last address of an IPv4 prefix.
func broadcastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	hostBits := 32 - p.Bits()
	for i := 3; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		b[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	return netip.AddrFrom4(b)
}
