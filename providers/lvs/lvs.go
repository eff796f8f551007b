// Package lvs is the provider of virtual_service blocks: layer-4 load
// balancing behind a virtual IP, as ipvsadm, keepalived's virtual_server and
// ldirectord configure it. The agent's lvs role runs it on whichever node
// holds the VIP, through IPVS where the kernel has it and nftables
// otherwise.
package lvs

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/check"
	"github.com/hactl/hactl/providers/group"
	"github.com/hactl/hactl/providers/node"
)

// Provider decodes virtual_service blocks.
type Provider struct{}

var (
	_ providers.Provider  = Provider{}
	_ providers.Validator = Provider{}
)

// Schedulers are IPVS's scheduling algorithms (ipvsadm -s).
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh"}

// Forwardings are LVS's forwarding methods: NAT (-m), direct routing (-g)
// and IP-in-IP tunnelling (-i).
var Forwardings = []string{"nat", "dr", "tunnel"}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "virtual_service",
		Role:   "lvs",
		Labels: []string{"name"},
		Doc:    "A layer-4 load-balanced service (LVS): connections to a VIP's port are spread over real servers. It runs on the node that holds the VIP, so it fails over with the VIP's group.",
		Attrs: []*providers.Attr{
			{Name: "vip", Type: providers.Ref, RefKind: "vip", Required: true, Doc: "The virtual IP clients connect to.", Example: "vip.outside"},
			{Name: "protocol", Type: providers.String, Default: `"tcp"`, Enum: []string{"tcp", "udp", "sctp"}, Doc: "Transport protocol."},
			{Name: "port", Type: providers.Port, Doc: "Port on the VIP. Give port or fwmark.", Example: "80"},
			{Name: "fwmark", Type: providers.Number, Doc: "Make a firewall-mark service (ipvsadm -f): it takes the packets that carry this mark (1 to 4294967295) instead of those to one port, so that several ports (http and https) share its real servers and persistence. The mark block says which packets hactl marks; without it they must be marked otherwise. Give port or fwmark.", Example: "1"},
			{Name: "scheduler", Type: providers.String, Default: `"wlc"`, Enum: Schedulers, Doc: "How connections are spread: round robin, weighted round robin, least connections, weighted least connections, locality-based, destination/source hashing, shortest expected delay, never queue, Maglev hashing (ipvsadm -s)."},
			{Name: "forwarding", Type: providers.String, Default: `"nat"`, Enum: Forwardings, Doc: "How packets reach the real servers: NAT (the director is their gateway), direct routing (same L2 network, VIP on their loopback) or IP-in-IP tunnel."},
			{Name: "datapath", Type: providers.String, Default: `"auto"`, Enum: []string{"auto", "ipvs", "nftables"}, Doc: "The kernel machinery: IPVS, nftables, or auto (IPVS when the kernel has it, nftables otherwise). The plan says which one each node will use."},
			{Name: "quiescent", Type: providers.Bool, Default: `false`, Doc: "Keep a failed real server with weight 0 (existing connections finish) instead of removing it."},
			{Name: "sorry_server", Type: providers.String, Doc: "host:port that gets the connections when no real server is alive.", Example: `"192.168.0.250:80"`},
		},
		Blocks: []*providers.Block{
			{
				Type:   "persistence",
				Single: true,
				Doc:    "Send a client back to the same real server for a while (ipvsadm -p / -M).",
				Attrs: []*providers.Attr{
					{Name: "timeout", Type: providers.Duration, Default: `"300s"`, Doc: "How long a client stays with its real server after its last connection."},
					{Name: "netmask", Type: providers.IPAddress, Default: `"255.255.255.255"`, Doc: "Clients in the same masked network count as one client."},
				},
			},
			{
				Type:   "mark",
				Single: true,
				Doc:    "For a firewall-mark service: the packets hactl marks with its fwmark, by an nftables rule in a table of its own (as operators do with iptables -t mangle): those of the service's protocol to one of addresses and one of ports.",
				Attrs: []*providers.Attr{
					{Name: "ports", Type: providers.NumberList, Required: true, Doc: "Destination ports of the marked packets.", Example: "[80, 443]"},
					{Name: "addresses", Type: providers.StringList, Doc: "Destination addresses of the marked packets. Default: the VIP's.", Example: `["192.168.3.181"]`},
				},
			},
			check.Block(),
			{
				Type:     "real_server",
				Labels:   []string{"name"},
				Required: true,
				Doc:      "A server the connections go to: a node of the cluster, or any address.",
				Attrs: []*providers.Attr{
					{Name: "node", Type: providers.Ref, RefKind: "node", Doc: "The node; its address is the one on the network shared with the VIP's holders. Give node or address.", Example: "node.f400"},
					{Name: "address", Type: providers.IPAddress, Doc: "The server's address, when it is not a node of the cluster.", Example: `"192.168.0.3"`},
					{Name: "port", Type: providers.Port, Doc: "Port on the real server. Default: the virtual service's port (required by NAT to differ only when it must); for a firewall-mark service, the port each packet was sent to.", Example: "8080"},
					{Name: "weight", Type: providers.Number, Default: `1`, Doc: "Relative share for weighted schedulers; 0 takes the server out without removing it."},
				},
			},
		},
		Example: `virtual_service "http" {
  vip        = vip.outside
  port       = 80
  scheduler  = "wlc"
  forwarding = "nat"
  health_check {
    type = "http"
    path = "/"
  }
  real_server "f400" {
    node = node.f400
  }
  real_server "dgx" {
    node   = node.dgx
    weight = 2
  }
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	vs := &topology.VirtualService{
		Name:        c.Label(0),
		Protocol:    c.String("protocol"),
		Port:        c.Port("port"),
		FWMark:      fwmark(d, c),
		Scheduler:   c.String("scheduler"),
		Forwarding:  c.String("forwarding"),
		Datapath:    c.String("datapath"),
		Quiescent:   c.Bool("quiescent"),
		SorryServer: c.String("sorry_server"),
		HealthCheck: check.Decode(d, c.Block("health_check")),
		Range:       c.BlockRange(),
	}
	if !d.Declare("virtual_service", vs.Name, c.DefRange) {
		return
	}
	d.Topology.VirtualServices = append(d.Topology.VirtualServices, vs)
	if vs.SorryServer != "" {
		CheckHostPort(d, c, "sorry_server")
	}
	if vs.FWMark == 0 && vs.Port == 0 && !c.Has("port") {
		d.Error(c.DefRange, "Virtual service needs port or fwmark",
			fmt.Sprintf("Virtual service %q takes the connections to a port (port = 80) or the packets with a firewall mark (fwmark = 1); give one of them.", vs.Name))
	}
	if vs.FWMark != 0 && c.Has("port") {
		d.Error(c.Range("port"), "Port and fwmark together",
			fmt.Sprintf("Virtual service %q is a firewall-mark service: the mark, not the port, says which packets it takes. Remove port, and list the ports in the mark block.", vs.Name))
	}
	if mc := c.Block("mark"); mc != nil {
		if vs.FWMark == 0 {
			d.Error(mc.DefRange, "Mark without fwmark", fmt.Sprintf("Virtual service %q has a mark block but no fwmark = N to mark the packets with.", vs.Name))
		}
		vs.MarkAddresses = mc.Addrs("addresses")
		for _, p := range mc.Ints("ports") {
			if p < 1 || p > 65535 {
				d.Error(mc.Range("ports"), "Invalid port", fmt.Sprintf("ports must be between 1 and 65535, not %d.", p))
				continue
			}
			vs.MarkPorts = append(vs.MarkPorts, p)
		}
	}
	if pc := c.Block("persistence"); pc != nil {
		vs.Persistence = &topology.Persistence{Timeout: pc.Duration("timeout"), Netmask: pc.Addr("netmask")}
	}
	vipName, vipRange := c.Ref("vip")
	d.Later(func() {
		vs.VIP, _ = providers.Lookup(d, "vip", vipName, vipRange, group.VIPs(d.Topology))
	})
	for _, rc := range c.Blocks("real_server") {
		rs := &topology.RealServer{
			Name:    rc.Label(0),
			Address: rc.Addr("address"),
			Port:    rc.Port("port"),
			Weight:  rc.Int("weight"),
			Range:   rc.BlockRange(),
		}
		if !d.DeclareIn(fmt.Sprintf("virtual_service %q", vs.Name), "real_server", rs.Name, rc.DefRange) {
			continue
		}
		if rs.Port == 0 {
			rs.Port = vs.Port // 0 on a firewall-mark service: each packet's own port
		}
		if rs.Weight < 0 {
			d.Error(rc.Range("weight"), "Negative weight", "weight must be 0 or more.")
		}
		vs.RealServers = append(vs.RealServers, rs)
		hasNode, hasAddr := rc.Has("node"), rc.Has("address")
		if hasNode == hasAddr {
			d.Error(rc.DefRange, "Real server needs node or address",
				fmt.Sprintf("Real server %q must have exactly one of node = node.NAME or address = \"...\".", rs.Name))
			continue
		}
		if hasNode {
			name, rng := rc.Ref("node")
			d.Later(func() { rs.Node, _ = providers.Lookup(d, "node", name, rng, node.ByName(d.Topology)) })
		}
	}
}

// fwmark reads the fwmark attribute: 0 when absent.
func fwmark(d *providers.Decoder, c *providers.Content) uint32 {
	if !c.Has("fwmark") {
		return 0
	}
	n := c.Int("fwmark")
	if n < 1 || n > math.MaxUint32 {
		d.Error(c.Range("fwmark"), "Invalid firewall mark", fmt.Sprintf("fwmark must be between 1 and %d, not %d.", uint32(math.MaxUint32), n))
		return 0
	}
	return uint32(n)
}

// CheckHostPort reports an attribute that is not host:port.
func CheckHostPort(d *providers.Decoder, c *providers.Content, name string) {
	if problem := providers.HostPortProblem(c.String(name)); problem != "" {
		d.Error(c.Range(name), "Invalid host:port", fmt.Sprintf("%s: %s. Write host:port, like \"192.168.0.250:80\" or \"[2001:db8::1]:80\".", name, problem))
	}
}

// Validate implements providers.Validator: real servers that are nodes get
// their address on a network the VIP's holders share with them, and NAT needs
// the real servers reachable from the directors.
func (Provider) Validate(d *providers.Decoder) {
	taken := map[string]*topology.VirtualService{}
	for _, vs := range d.Topology.VirtualServices {
		if vs.VIP == nil {
			continue
		}
		key := fmt.Sprintf("%s %s:%d", vs.Protocol, vs.VIP.Address.Addr(), vs.Port)
		if vs.FWMark != 0 {
			key = fmt.Sprintf("fwmark %d", vs.FWMark)
		}
		if other, dup := taken[key]; dup && (vs.Port != 0 || vs.FWMark != 0) { // port 0: an invalid port, already reported
			d.Error(providers.FromTopo(vs.Range), "Two virtual services on one address",
				fmt.Sprintf("Virtual service %q uses %s, like %q. Merge them or use another port or mark.", vs.Name, key, other.Name))
		}
		taken[key] = vs
		validateMark(d, vs)
		if hc := vs.HealthCheck; hc != nil && vs.Protocol != "tcp" && (hc.Type == "http" || hc.Type == "https" || hc.Type == "tcp") {
			d.Error(providers.FromTopo(hc.Range), "Health check does not fit the protocol",
				fmt.Sprintf("A %s check cannot probe a %s service; use type = \"command\" with a program that speaks the service's protocol.", hc.Type, vs.Protocol))
		}
		holders := vs.VIP.Group.Locations
		if vs.Datapath == "nftables" {
			refuseForNftables(d, vs, holders)
		}
		for _, rs := range vs.RealServers {
			if vs.Forwarding != "nat" && rs.Port != vs.Port && vs.Port != 0 && rs.Port != 0 {
				d.Error(providers.FromTopo(rs.Range), "Port mapping needs NAT",
					fmt.Sprintf("Real server %q listens on port %d but the service is on %d; only forwarding = \"nat\" can change the port (with %s the packet reaches the real server unchanged).", rs.Name, rs.Port, vs.Port, vs.Forwarding))
			}
			if rs.Node == nil {
				continue
			}
			rs.Address = sharedAddress(rs.Node, holders)
			if !rs.Address.IsValid() {
				d.Error(providers.FromTopo(rs.Range), "Real server unreachable from the directors",
					fmt.Sprintf("Node %q shares no network with the nodes that hold vip %q, so they cannot forward to it. Attach it to one of their networks, or give the real server an address.", rs.Node.Name, vs.VIP.Name))
			}
		}
	}
}

// validateMark checks a firewall-mark service: its marked addresses are of
// the VIP's family (IPVS keeps one family per service), and its real
// servers can be checked on a port.
func validateMark(d *providers.Decoder, vs *topology.VirtualService) {
	if vs.FWMark == 0 {
		return
	}
	for _, a := range vs.MarkAddresses {
		if a.Is4() != vs.VIP.Address.Addr().Is4() {
			d.Error(providers.FromTopo(vs.Range), "Marked address of another family",
				fmt.Sprintf("Virtual service %q marks packets to %s, but its VIP %s is of the other IP family; a firewall-mark service forwards one family.", vs.Name, a, vs.VIP.Address.Addr()))
		}
	}
	if vs.HealthCheck == nil || len(vs.MarkPorts) > 0 {
		return
	}
	for _, rs := range vs.RealServers {
		if rs.Port == 0 {
			d.Error(providers.FromTopo(rs.Range), "Real server has no port to check",
				fmt.Sprintf("Real server %q of firewall-mark service %q has no port, and the service marks no ports itself, so its health check has no port to probe. Give the real server a port, or a mark block with ports.", rs.Name, vs.Name))
		}
	}
}

// sharedAddress is the node's address on the first network it shares with
// the directors.
func sharedAddress(n *topology.Node, directors []topology.Location) netip.Addr {
	for _, i := range n.Interfaces {
		for _, l := range directors {
			if i.Network != nil && l.Node.InterfaceOn(i.Network) != nil {
				return i.Address.Addr()
			}
		}
	}
	return netip.Addr{}
}

// refuseForNftables refuses what the nftables datapath cannot do, rather
// than approximate it: it keeps no per-server connection counts (the
// least-connection and locality schedulers), and forwards by NAT only.
func refuseForNftables(d *providers.Decoder, vs *topology.VirtualService, holders []topology.Location) {
	var hosts []string
	for _, l := range holders {
		hosts = append(hosts, l.Node.Name)
	}
	where := fmt.Sprintf("on %s", strings.Join(hosts, ", "))
	if !slices.Contains(datapath.NFTablesSchedulers, vs.Scheduler) {
		d.Error(providers.FromTopo(vs.Range), "Scheduler not available on nftables",
			fmt.Sprintf("Virtual service %q would run %s on the nftables datapath, which has no %q scheduler (it keeps no per-server connection counts). Use scheduler rr, wrr, sh or dh, or datapath = \"ipvs\" (or \"auto\" where the kernel has IPVS).", vs.Name, where, vs.Scheduler))
	}
	if vs.Forwarding != "nat" {
		d.Error(providers.FromTopo(vs.Range), "Forwarding not available on nftables",
			fmt.Sprintf("Virtual service %q would run %s on the nftables datapath, which forwards by NAT only, not %q. Use forwarding = \"nat\", or datapath = \"ipvs\".", vs.Name, where, vs.Forwarding))
	}
}
