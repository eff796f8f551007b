// Package heartbeat is the provider of the heartbeat block: how often the
// members of the cluster tell each other they are alive, when a silent one
// is declared dead, and on which links (ha.cf's keepalive, warntime,
// deadtime, initdead, udpport, ucast / mcast / bcast).
package heartbeat

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/group"
	"github.com/hactl/hactl/providers/network"
)

// Provider decodes the heartbeat block.
type Provider struct{}

var (
	_ providers.Provider  = Provider{}
	_ providers.Validator = Provider{}
)

var linkModes = []string{string(topology.LinkUnicast), string(topology.LinkMulticast), string(topology.LinkBroadcast)}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "heartbeat",
		Single: true,
		Doc:    "Membership: the members of the cluster (the nodes named by groups) send each other authenticated heartbeats on every link, and a member silent on all links for deadtime is dead. Losing one of several links is only a warning.",
		Attrs: []*providers.Attr{
			{Name: "interval", Type: providers.Duration, Default: `"20ms"`, Doc: "Time between heartbeats (ha.cf keepalive). The defaults suit a LAN: a dead node's groups move in about a tenth of a second (see bench/failover)."},
			{Name: "warntime", Type: providers.Duration, Default: `"60ms"`, Doc: "Silence after which a late heartbeat is logged (and a two-node cluster's tie-breaker is asked)."},
			{Name: "deadtime", Type: providers.Duration, Default: `"100ms"`, Doc: "Silence on every link after which a member is dead and its groups move. Must be more than twice interval."},
			{Name: "initdead", Type: providers.Duration, Default: `"5s"`, Doc: "Deadtime used right after an agent starts, while the network comes up."},
			{Name: "port", Type: providers.Port, Default: `694`, Doc: "UDP port (ha.cf udpport)."},
		},
		Blocks: []*providers.Block{{
			Type:     "link",
			Labels:   []string{"name"},
			Required: true,
			Doc:      "A path heartbeats take. Give two or more on separate networks so that one broken switch or cable is not a failover.",
			Attrs: []*providers.Attr{
				{Name: "network", Type: providers.Ref, RefKind: "network", Required: true, Doc: "The network the link runs on; each member uses its interface there.", Example: "network.heartbeat"},
				{Name: "mode", Type: providers.String, Default: `"unicast"`, Enum: linkModes, Doc: "Unicast to each peer (ha.cf ucast), multicast to group (mcast) or broadcast on the network (bcast)."},
				{Name: "group", Type: providers.IPAddress, Doc: "Multicast group, for mode = \"multicast\".", Example: `"239.0.0.94"`},
				{Name: "ttl", Type: providers.Number, Default: `1`, Doc: "Multicast TTL."},
			},
		}},
		Example: `heartbeat {
  interval = "100ms"
  deadtime = "500ms"
  link "lan" {
    network = network.lan
  }
  link "direct" {
    network = network.heartbeat
  }
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	n := len(d.Diags)
	interval := c.Duration("interval")
	badInterval := len(d.Diags) > n // already reported: not also "zero"
	hb := &topology.Heartbeat{
		Interval:      interval,
		Warntime:      c.Duration("warntime"),
		Deadtime:      c.Duration("deadtime"),
		Initdead:      c.Duration("initdead"),
		Port:          c.Port("port"),
		Range:         c.BlockRange(),
		DeadtimeRange: c.TopoRange("deadtime"),
	}
	d.Topology.Heartbeat = hb
	if hb.Interval > 0 && hb.Deadtime > 0 && hb.Deadtime <= 2*hb.Interval {
		d.Error(c.Range("deadtime"), "Deadtime too short",
			fmt.Sprintf("deadtime (%s) must be more than twice interval (%s), or a single late packet declares a live node dead. Raise deadtime to at least %s or lower interval.", hb.Deadtime, hb.Interval, 2*hb.Interval+hb.Interval/2))
	}
	if hb.Warntime > 0 && hb.Deadtime > 0 && hb.Warntime >= hb.Deadtime {
		d.Error(c.Range("warntime"), "Warntime not below deadtime",
			fmt.Sprintf("warntime (%s) must be shorter than deadtime (%s): it warns before a node is declared dead.", hb.Warntime, hb.Deadtime))
	}
	if hb.Interval == 0 && c.Has("interval") && !badInterval {
		d.Error(c.Range("interval"), "Zero heartbeat interval", "interval must be more than zero.")
	}
	if hb.Initdead > 0 && hb.Initdead < hb.Deadtime {
		d.Error(c.Range("initdead"), "Initdead below deadtime",
			fmt.Sprintf("initdead (%s) must be at least deadtime (%s): it gives a starting node more time, not less.", hb.Initdead, hb.Deadtime))
	}
	for _, lc := range c.Blocks("link") {
		l := &topology.Link{
			Name:  lc.Label(0),
			Mode:  topology.LinkMode(lc.String("mode")),
			Group: lc.Addr("group"),
			TTL:   lc.Int("ttl"),
			Range: lc.BlockRange(),
		}
		if !d.DeclareIn("heartbeat", "link", l.Name, lc.DefRange) {
			continue
		}
		hb.Links = append(hb.Links, l)
		switch {
		case l.Mode == topology.LinkMulticast && !l.Group.IsValid() && !lc.Has("group"):
			d.Error(lc.DefRange, "Missing multicast group", `A multicast link needs group = "239.x.y.z" (or an ff0x:: group for IPv6).`)
		case l.Mode == topology.LinkMulticast && l.Group.IsValid() && !l.Group.IsMulticast():
			d.Error(lc.Range("group"), "Not a multicast group", fmt.Sprintf("%s is not a multicast address; use one in 239.0.0.0/8 (or ff00::/8).", l.Group))
		case l.Mode != topology.LinkMulticast && lc.Has("group"):
			d.Error(lc.Range("group"), "Group on a non-multicast link", fmt.Sprintf("group only applies to mode = \"multicast\"; this link is %q.", l.Mode))
		}
		netName, netRange := lc.Ref("network")
		d.Later(func() {
			l.Network, _ = providers.Lookup(d, "network", netName, netRange, network.ByName(d.Topology))
		})
	}
}

// Validate implements providers.Validator: heartbeat links must reach every
// member, broadcast only works where the network has a broadcast address,
// and every member's state must fit a heartbeat.
func (Provider) Validate(d *providers.Decoder) {
	hb := d.Topology.Heartbeat
	if hb == nil {
		return
	}
	members := group.Members(d.Topology)
	validateStateSize(d, hb, members)
	for _, l := range hb.Links {
		if l.Network == nil {
			continue
		}
		var missing []string
		for _, m := range members {
			if m.InterfaceOn(l.Network) == nil {
				missing = append(missing, m.Name)
			}
		}
		if len(missing) > 0 && len(missing) < len(members) {
			d.Warn(providers.FromTopo(l.Range), "Heartbeat link misses members",
				fmt.Sprintf("Link %q runs on network %q, which %s %s not on: they only count on the other links, so this link adds no redundancy for them.", l.Name, l.Network.Name, strings.Join(missing, ", "), isAre(len(missing))))
		}
		if l.Mode == topology.LinkBroadcast && !l.Network.Prefix.Addr().Is4() {
			d.Error(providers.FromTopo(l.Range), "Broadcast on an IPv6 network",
				fmt.Sprintf("Network %q is IPv6, which has no broadcast; use mode = \"multicast\" or \"unicast\".", l.Network.Name))
		}
		if l.Group.IsValid() && l.Group.Is4() != l.Network.Prefix.Addr().Is4() {
			d.Error(providers.FromTopo(l.Range), "Multicast group of the wrong family",
				fmt.Sprintf("Group %s and network %q (%s) are not the same IP version.", l.Group, l.Network.Name, l.Network.Prefix))
		}
	}
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// validateStateSize checks that the state each member sends fits a
// heartbeat packet (wire.MaxPacket, with the header's names) at worst:
// every group it may run held and unable to serve, every flag set, with
// room left for one manual move and one echo (the others take turns in
// the next packets). A member whose state does not fit would send its
// groups cut short, and its peers could start a group it runs. It reports
// the member with the least room, once.
func validateStateSize(d *providers.Decoder, hb *topology.Heartbeat, members []*topology.Node) {
	cluster := d.Topology.Cluster.Name
	var nodes, links []string
	for _, m := range members {
		nodes = append(nodes, m.Name)
	}
	for _, l := range hb.Links {
		links = append(links, l.Name)
	}
	var worst struct {
		node, link, longest string
		groups, size, room  int
	}
	for _, m := range members {
		var groups []string
		longest := ""
		for _, g := range d.Topology.Groups {
			if slices.ContainsFunc(g.Locations, func(l topology.Location) bool { return l.Node == m }) {
				groups = append(groups, g.Name)
				if len(g.Name) > len(longest) {
					longest = g.Name
				}
			}
		}
		size, _ := wire.WorstSize(groups, nodes, links)
		// Its packets name the generation it heard of every other member.
		var heard []wire.Heard
		for _, other := range members {
			if other != m {
				heard = append(heard, wire.Heard{Node: other.Name})
			}
		}
		for _, l := range links {
			room := wire.StateRoom(cluster, m.Name, l, heard)
			if size > room && (worst.node == "" || size-room > worst.size-worst.room) {
				worst.node, worst.link, worst.longest, worst.groups, worst.size, worst.room = m.Name, l, longest, len(groups), size, room
			}
		}
	}
	if worst.node == "" {
		return
	}
	d.Error(providers.FromTopo(hb.Range), "Heartbeat state too large",
		fmt.Sprintf("Node %q may run %d groups: its heartbeat could need %d bytes of state (every group held and unable to serve, with one manual move and one echo), and a heartbeat on link %q has room for %d (%d bytes less the header, which names every other member). Let fewer groups run on %s (a group runs only on the nodes of its location blocks), or shorten the groups' names (the longest is %q, %d bytes).",
			worst.node, worst.groups, worst.size, worst.link, worst.room, wire.MaxPacket, worst.node, worst.longest, len(worst.longest)))
}
