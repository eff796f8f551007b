// Package group is the provider of group blocks: resources (virtual IPs,
// systemd services, LSB init scripts, OCF resource agents) that run together
// on one node at a time, the nodes allowed to run them with their
// preference, and whether they move back when a preferred node returns.
// It is the counterpart of Heartbeat's haresources / CIB groups and
// rsc_location scores.
package group

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/node"
)

// Provider decodes group blocks.
type Provider struct{}

var (
	_ providers.Provider  = Provider{}
	_ providers.Validator = Provider{}
)

var onFail = []string{string(topology.OnFailRestart), string(topology.OnFailMove), string(topology.OnFailFence), string(topology.OnFailIgnore)}

// resourceAttrs are the attributes every resource kind has.
func resourceAttrs(extra ...*providers.Attr) []*providers.Attr {
	return append(extra,
		&providers.Attr{Name: "monitor_interval", Type: providers.Duration, Default: `"10s"`, Doc: "How often the agent checks the resource."},
		&providers.Attr{Name: "monitor_timeout", Type: providers.Duration, Default: `"20s"`, Doc: "How long a check, start or stop may take before it counts as failed."},
		&providers.Attr{Name: "on_fail", Type: providers.String, Default: `"restart"`, Enum: onFail, Doc: "What to do when the check fails: restart in place (up to max_restarts, then move the group), move the group at once, fence the node, or ignore (log only)."},
		&providers.Attr{Name: "max_restarts", Type: providers.Number, Default: `3`, Doc: "Restarts in place before the group moves (on_fail = \"restart\")."},
	)
}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "group",
		Labels: []string{"name"},
		Doc:    "Resources that run together on one node at a time, started in the order written and stopped in reverse. The group runs on the alive member with the highest score; when it dies, the next one takes the group over. A member that cannot serve the group — the interface of one of its VIPs is down or has no carrier, or none of its ping_targets answers — hands it to a member that can, and counts as able again once it has been fit for 5s without interruption, so a flapping link does not bounce the group.",
		Attrs: []*providers.Attr{
			{Name: "nodes", Type: providers.RefList, RefKind: "node", Doc: "The nodes that may run the group, most preferred first (scores 100 × position from the end: with two nodes, 200 and 100). Use location blocks instead for explicit scores.", Example: "[node.h2g, node.c2g]"},
			{Name: "failback", Type: providers.Bool, Default: `true`, Doc: "Move the group back to a more preferred node when it returns (ha.cf auto_failback)."},
			{Name: "failback_delay", Type: providers.Duration, Default: `"0s"`, Doc: "How long a returning preferred node must stay alive before the group moves back to it."},
			{Name: "ping_targets", Type: providers.StringList, Doc: "Addresses (the clients' gateway, usually) a node must reach to serve the group (Heartbeat's pingd, keepalived's track_script). A node that reaches none of them for 3 pings in a row, 1s apart, while another member reaches one, hands the group over; it counts as able again 5s after one answers again.", Example: `["192.168.0.1"]`},
		},
		Blocks: []*providers.Block{
			{
				Type: "location",
				Doc:  "A node that may run the group, with an explicit score (like a CIB rsc_location). The highest score wins.",
				Attrs: []*providers.Attr{
					{Name: "node", Type: providers.Ref, RefKind: "node", Required: true, Doc: "The node.", Example: "node.h2g"},
					{Name: "score", Type: providers.Number, Required: true, Doc: "Preference; higher is preferred. Negative scores are not allowed: leave the node out instead.", Example: "200"},
				},
			},
			{
				Type:   "vip",
				Labels: []string{"name"},
				Doc:    "A virtual IP address (IPv4 or IPv6) the group's node carries, announced with gratuitous ARP or unsolicited neighbour advertisements. The label is a name unique in the cluster; virtual services and proxies refer to it as vip.NAME.",
				Attrs: resourceAttrs(
					&providers.Attr{Name: "address", Type: providers.String, Required: true, Doc: "The address, optionally with a prefix length; without one, the length of the node network that contains it.", Example: `"192.168.0.33/24"`},
					&providers.Attr{Name: "interface", Type: providers.String, Doc: "Device to add it to. Default: the holding node's interface on the network that contains the address.", Example: `"eth0"`},
					&providers.Attr{Name: "garp_count", Type: providers.Number, Default: `5`, Doc: "Gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6) sent when the address is taken."},
					&providers.Attr{Name: "garp_refresh", Type: providers.Duration, Default: `"10s"`, Doc: "Period of the repeated announcements, for switches with long ARP caches; \"0s\" turns them off."},
				),
			},
			{
				Type:   "service",
				Labels: []string{"name"},
				Doc:    "A systemd service. The label is the unit's name (\".service\" may be left out).",
				Attrs: resourceAttrs(
					&providers.Attr{Name: "unit", Type: providers.String, Doc: "The unit, when it differs from the label.", Example: `"apache2.service"`},
				),
			},
			{
				Type:   "lsb",
				Labels: []string{"name"},
				Doc:    "An LSB init script, run with start, stop and status.",
				Attrs: resourceAttrs(
					&providers.Attr{Name: "script", Type: providers.String, Doc: "Path of the script. Default: /etc/init.d/ followed by the label.", Example: `"/etc/init.d/apache2"`},
				),
			},
			{
				Type:   "ocf",
				Labels: []string{"name"},
				Doc:    "An OCF resource agent from /usr/lib/ocf/resource.d (Debian package resource-agents): run with OCF_ROOT and OCF_RESKEY_<param> set from params, with the actions start, stop, monitor and validate-all.",
				Attrs: resourceAttrs(
					&providers.Attr{Name: "provider", Type: providers.String, Default: `"heartbeat"`, Doc: "The agent's provider directory."},
					&providers.Attr{Name: "type", Type: providers.String, Required: true, Doc: "The agent.", Example: `"IPaddr2"`},
					&providers.Attr{Name: "params", Type: providers.StringMap, SensitiveMap: true,
						Doc:     "The agent's parameters, passed as OCF_RESKEY_<name>. A sensitive value — from a variable declared with `sensitive = true`, or wrapped in `sensitive(...)`, e.g. `sensitive(trimspace(file(\"repl.pw\")))` — is uploaded like the cluster key, as a file of mode 0600, read by the agent at each action and shown as (sensitive); the spec and the plan never hold it. A parameter whose name looks like a secret (passw, secret, token, community, api_key…) with a plain value gets a warning, since OCF meta-data does not mark secret parameters.",
						Example: `{ ip = "192.168.0.33", replication_passwd = var.repl_passwd }`},
				),
			},
		},
		Example: `group "web" {
  nodes    = [node.h2g, node.c2g]
  failback = true

  vip "www" {
    address   = "192.168.0.33/24"
    interface = "eth0"
  }
  service "apache2" {}
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	g := &topology.Group{
		Name:          c.Label(0),
		Failback:      c.Bool("failback"),
		FailbackDelay: c.Duration("failback_delay"),
		PingTargets:   c.Addrs("ping_targets"),
		Range:         c.BlockRange(),
	}
	if !d.Declare("group", g.Name, c.DefRange) {
		return
	}
	d.Topology.Groups = append(d.Topology.Groups, g)
	decodeLocations(d, c, g)
	for _, b := range c.RawBlocks() {
		if b.Type == "location" {
			continue
		}
		rc := c.Decode(b)
		r := &topology.Resource{
			Kind:            topology.ResourceKind(b.Type),
			Name:            rc.Label(0),
			MonitorInterval: rc.Duration("monitor_interval"),
			MonitorTimeout:  rc.Duration("monitor_timeout"),
			OnFail:          topology.OnFail(rc.String("on_fail")),
			MaxRestarts:     rc.Int("max_restarts"),
			Range:           rc.BlockRange(),
		}
		if !d.DeclareIn(fmt.Sprintf("group %q", g.Name), "resource", r.Name, rc.DefRange) {
			continue
		}
		switch r.Kind {
		case topology.ResourceVIP:
			r.VIP = decodeVIP(d, rc, g)
			if r.VIP == nil {
				continue
			}
		case topology.ResourceSystemd:
			r.Unit = rc.String("unit")
			if r.Unit == "" {
				r.Unit = r.Name
			}
			if !strings.Contains(r.Unit, ".") {
				r.Unit += ".service"
			}
		case topology.ResourceLSB:
			r.Script = rc.String("script")
			if r.Script == "" {
				r.Script = "/etc/init.d/" + r.Name
			}
		case topology.ResourceOCF:
			r.OCF = decodeOCF(d, rc)
		}
		g.Resources = append(g.Resources, r)
	}
}

// ocfParam is what a parameter name may be: it becomes the environment
// variable OCF_RESKEY_<name> (and the agent refuses any other).
var ocfParam = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// decodeOCF reads an ocf block; its sensitive parameters are set apart,
// to be carried as secrets.
func decodeOCF(d *providers.Decoder, rc *providers.Content) *topology.OCF {
	o := &topology.OCF{Provider: rc.String("provider"), Type: rc.String("type"), ParamsRange: rc.TopoRange("params")}
	params := rc.StringMap("params")
	for _, k := range spec.SortedKeys(params) {
		if !ocfParam.MatchString(k) {
			d.Error(rc.Range("params"), "Invalid OCF parameter name",
				fmt.Sprintf("%q cannot be passed as OCF_RESKEY_%s: use the agent's parameter names (a letter or _, then letters, digits, _).", k, k))
		}
	}
	rc.CheckSensitiveMap("params", params)
	secret := rc.SensitiveKeys("params", params)
	for k, v := range params {
		if secret[k] {
			if v == "" {
				d.Error(rc.Range("params"), "Empty sensitive parameter",
					fmt.Sprintf("The sensitive value of %q is empty. Give the secret, or leave the parameter out.", k))
				continue
			}
			if o.SecretParams == nil {
				o.SecretParams = map[string]string{}
			}
			o.SecretParams[k] = v
			continue
		}
		if o.Params == nil {
			o.Params = map[string]string{}
		}
		o.Params[k] = v
	}
	return o
}

func decodeLocations(d *providers.Decoder, c *providers.Content, g *topology.Group) {
	type pending struct {
		ref   providers.RefItem
		score int
	}
	var locs []pending
	refs := c.Refs("nodes")
	for i, r := range refs {
		locs = append(locs, pending{ref: r, score: 100 * (len(refs) - i)})
	}
	lcs := c.Blocks("location")
	if len(refs) > 0 && len(lcs) > 0 {
		d.Error(c.Range("nodes"), "Both nodes and location blocks",
			"Say where the group runs either with nodes = [...] (order of preference) or with location blocks (explicit scores), not both.")
		return
	}
	for _, lc := range lcs {
		name, rng := lc.Ref("node")
		score := lc.Int("score")
		if score < 0 {
			d.Error(lc.Range("score"), "Negative score", "A negative score would forbid the node; leave the node out of the group instead.")
		}
		locs = append(locs, pending{ref: providers.RefItem{Name: name, Range: rng}, score: score})
	}
	if len(locs) == 0 && !c.Has("nodes") {
		d.Error(c.DefRange, "Group without nodes",
			fmt.Sprintf("Group %q does not say where it may run. Add nodes = [node.a, node.b] or location blocks.", g.Name))
	}
	d.Later(func() {
		nodes := node.ByName(d.Topology)
		seen := map[string]bool{}
		for _, l := range locs {
			n, ok := providers.Lookup(d, "node", l.ref.Name, l.ref.Range, nodes)
			if !ok {
				continue
			}
			if seen[n.Name] {
				d.Error(l.ref.Range, "Node listed twice", fmt.Sprintf("Node %q appears twice in group %q.", n.Name, g.Name))
				continue
			}
			seen[n.Name] = true
			g.Locations = append(g.Locations, topology.Location{Node: n, Score: l.score, Range: providers.ToTopo(l.ref.Range)})
		}
		slices.SortStableFunc(g.Locations, func(a, b topology.Location) int { return b.Score - a.Score })
	})
}

func decodeVIP(d *providers.Decoder, c *providers.Content, g *topology.Group) *topology.VIP {
	v := &topology.VIP{
		Name:         c.Label(0),
		Interface:    c.String("interface"),
		GARPCount:    c.Int("garp_count"),
		GARPRefresh:  c.Duration("garp_refresh"),
		Group:        g,
		Range:        c.BlockRange(),
		AddressRange: c.TopoRange("address"),
	}
	if !d.Declare("vip", v.Name, c.DefRange) {
		return nil
	}
	raw := c.String("address")
	if p, err := netip.ParsePrefix(raw); err == nil {
		v.Address = p
	} else if a, err := netip.ParseAddr(raw); err == nil {
		v.Address = netip.PrefixFrom(a, -1) // length taken from the network in Validate
	} else if raw != "" {
		d.Error(c.Range("address"), "Invalid virtual IP address",
			fmt.Sprintf("%q is neither an IP address nor an address with a prefix length, like \"192.168.0.33/24\".", raw))
	}
	if v.GARPCount < 0 {
		d.Error(c.Range("garp_count"), "Negative garp_count", "garp_count must be 0 or more.")
	}
	return v
}

// VIPs returns every virtual IP of the topology by name.
func VIPs(t *topology.Topology) map[string]*topology.VIP {
	m := map[string]*topology.VIP{}
	for _, g := range t.Groups {
		for _, r := range g.Resources {
			if r.VIP != nil {
				m[r.VIP.Name] = r.VIP
			}
		}
	}
	return m
}

// Members returns the nodes that take part in membership: those that may
// run a group, in declaration order.
func Members(t *topology.Topology) []*topology.Node {
	in := map[*topology.Node]bool{}
	for _, g := range t.Groups {
		for _, l := range g.Locations {
			in[l.Node] = true
		}
	}
	var out []*topology.Node
	for _, n := range t.Nodes {
		if in[n] {
			out = append(out, n)
		}
	}
	return out
}

// Validate implements providers.Validator.
func (Provider) Validate(d *providers.Decoder) {
	t := d.Topology
	seenVIP := map[netip.Addr]*topology.VIP{}
	for _, g := range t.Groups {
		for _, r := range g.Resources {
			if r.VIP != nil && r.VIP.Address.Addr().IsValid() {
				validateVIP(d, g, r.VIP, seenVIP)
			}
		}
		validateHeartbeatPath(d, g)
	}
	validateFencing(d)
}

func validateVIP(d *providers.Decoder, g *topology.Group, v *topology.VIP, seen map[netip.Addr]*topology.VIP) {
	addr := v.Address.Addr()
	if other, dup := seen[addr]; dup {
		d.Error(providers.FromTopo(v.AddressRange), "Duplicate virtual IP",
			fmt.Sprintf("%s is also vip %q of group %q; one address can be held by only one group.", addr, other.Name, other.Group.Name))
		return
	}
	seen[addr] = v
	if !validateVIPAddress(d, v) {
		return
	}
	var outside []string
	for _, l := range g.Locations {
		var on *topology.Interface
		for _, i := range l.Node.Interfaces {
			if i.Network != nil && i.Network.Prefix.Contains(addr) {
				on = i
			}
		}
		if on == nil {
			outside = append(outside, l.Node.Name)
			continue
		}
		if v.Address.Bits() < 0 {
			v.Address = netip.PrefixFrom(addr, on.Network.Prefix.Bits())
		}
		if v.Interface != "" && on.Name != v.Interface {
			d.Error(providers.FromTopo(v.Range), "Virtual IP on the wrong interface",
				fmt.Sprintf("vip %q (%s) is in network %q, which node %q has on %s, not %s. Fix interface or leave it out.", v.Name, addr, on.Network.Name, l.Node.Name, on.Name, v.Interface))
		}
	}
	switch {
	case len(outside) == 0:
	case len(outside) == len(g.Locations):
		d.Error(providers.FromTopo(v.AddressRange), "Virtual IP outside every network",
			fmt.Sprintf("vip %q (%s) is in none of the networks of the nodes that may hold it (%s), so no node could announce it. Use an address inside one of their networks, or attach them to the network it belongs to.", v.Name, addr, strings.Join(outside, ", ")))
	default:
		d.Error(providers.FromTopo(v.AddressRange), "Virtual IP outside a node's networks",
			fmt.Sprintf("vip %q (%s) may move to %s, which has no interface on its network, so the address would be unreachable after a failover. Attach %s to that network or remove it from group %q.", v.Name, addr, strings.Join(outside, ", "), strings.Join(outside, ", "), g.Name))
	}
}

// validateVIPAddress refuses a VIP that could never be held: a node's own
// address (taking it over would take the node's address away), the
// address that names a network or its broadcast address (the kernel or
// the neighbours would not treat it as a host), or a prefix wider than its
// network's (the node would route the whole wider range to that link).
// It reports the first problem and says whether there was none.
func validateVIPAddress(d *providers.Decoder, v *topology.VIP) bool {
	addr := v.Address.Addr()
	rng := providers.FromTopo(v.AddressRange)
	for _, n := range d.Topology.Nodes {
		for _, i := range n.Interfaces {
			if i.Address.Addr() == addr {
				d.Error(rng, "Virtual IP is a node's address",
					fmt.Sprintf("vip %q (%s) is the address of node %q on %s. A virtual IP must be an address no node has of its own: pick a free address of the network.", v.Name, addr, n.Name, i.Name))
				return false
			}
		}
	}
	for _, n := range d.Topology.Networks {
		if !n.Prefix.Contains(addr) {
			continue
		}
		switch {
		case v.Address.Bits() >= 0 && v.Address.Bits() < n.Prefix.Bits():
			d.Error(rng, "Virtual IP wider than its network",
				fmt.Sprintf("vip %q (%s) has a shorter prefix than network %q (%s), so its holder would route addresses outside the network to that link. Give it the network's length (/%d), or no length at all.", v.Name, v.Address, n.Name, n.Prefix, n.Prefix.Bits()))
			return false
		case addr == n.Prefix.Masked().Addr() && hostBits(n.Prefix) >= 2:
			d.Error(rng, "Virtual IP is a network address",
				fmt.Sprintf("vip %q (%s) is the address of network %q itself (%s), which hosts do not answer on. Pick a host address of the network.", v.Name, addr, n.Name, n.Prefix))
			return false
		case addr.Is4() && hostBits(n.Prefix) >= 2 && addr == broadcast(n.Prefix):
			d.Error(rng, "Virtual IP is the broadcast address",
				fmt.Sprintf("vip %q (%s) is the broadcast address of network %q (%s): packets to it go to every host. Pick a host address of the network.", v.Name, addr, n.Name, n.Prefix))
			return false
		}
	}
	return true
}

// hostBits is the number of host bits of a prefix; /31 and /32 (/127 and
// /128) have no network or broadcast address to avoid (RFC 3021).
func hostBits(p netip.Prefix) int { return p.Addr().BitLen() - p.Bits() }

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// validateHeartbeatPath checks that the members of a group can hear each
// other: some heartbeat link must run on a network they all share.
func validateHeartbeatPath(d *providers.Decoder, g *topology.Group) {
	if len(g.Locations) < 2 {
		return
	}
	hb := d.Topology.Heartbeat
	if hb == nil {
		d.Error(providers.FromTopo(g.Range), "Group without heartbeat",
			fmt.Sprintf("Group %q may run on %d nodes, but there is no heartbeat block, so they cannot tell when one dies. Add a heartbeat block with a link on a network they share.", g.Name, len(g.Locations)))
		return
	}
	for _, l := range hb.Links {
		if l.Network == nil {
			continue
		}
		all := true
		for _, loc := range g.Locations {
			if loc.Node.InterfaceOn(l.Network) == nil {
				all = false
			}
		}
		if all {
			return
		}
	}
	d.Error(providers.FromTopo(g.Range), "No common network for heartbeats",
		fmt.Sprintf("The nodes of group %q share no network that carries a heartbeat link, so they cannot hear each other. Add a heartbeat link on a network every one of them is on.", g.Name))
}

// validateFencing warns about two-member clusters that can neither fence
// nor break a tie: after a partition both halves would take the groups.
func validateFencing(d *providers.Decoder) {
	members := Members(d.Topology)
	if len(members) != 2 || (d.Topology.Quorum != nil && d.Topology.Quorum.TieBreaker != "") {
		return
	}
	for _, n := range members {
		if len(n.Fences) == 0 {
			d.Warn(providers.FromTopo(n.Range), "Two-node cluster without fencing",
				fmt.Sprintf("Node %q has no fence block and there is no quorum tie_breaker. If the heartbeat links break while both nodes live, both will run the groups (split brain). Add a fence block to each node or a quorum { tie_breaker = \"...\" }.", n.Name))
		}
	}
}
