package lab

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/plan/topology"
)

func TestFreeAddressTakesTheHighestUnusedHost(t *testing.T) {
	tests := []struct {
		prefix string
		used   []string
		want   string
	}{
		{"192.168.0.0/24", nil, "192.168.0.254/24"},
		{"192.168.0.0/24", []string{"192.168.0.254"}, "192.168.0.253/24"},
		{"10.1.2.3/16", nil, "10.1.255.254/16"},
		{"192.168.0.0/31", nil, "192.168.0.1/31"},
		{"fd00::/64", nil, "fd00::ffff:ffff:ffff:ffff/64"},
	}
	for _, tt := range tests {
		used := map[netip.Addr]bool{}
		for _, u := range tt.used {
			used[netip.MustParseAddr(u)] = true
		}
		got, err := freeAddress(netip.MustParsePrefix(tt.prefix), used)
		if err != nil || got.String() != tt.want {
			t.Errorf("freeAddress(%s, %v) = %v, %v; want %s", tt.prefix, tt.used, got, err, tt.want)
		}
	}
	if _, err := freeAddress(netip.MustParsePrefix("192.168.0.0/30"), map[netip.Addr]bool{
		netip.MustParseAddr("192.168.0.1"): true, netip.MustParseAddr("192.168.0.2"): true,
	}); err == nil {
		t.Error("a full network gave an address")
	}
}

// testTopology has two networks, a VIP on lan, a real server web1 on lan
// and a proxy backend db on the back network.
func testTopology() *topology.Topology {
	lan := &topology.Network{Name: "lan", Prefix: netip.MustParsePrefix("192.168.0.0/24")}
	back := &topology.Network{Name: "back", Prefix: netip.MustParsePrefix("10.0.0.0/24")}
	ifc := func(name string, n *topology.Network, a string) *topology.Interface {
		return &topology.Interface{Name: name, Network: n, Address: netip.MustParsePrefix(a)}
	}
	lb := &topology.Node{Name: "lb", Address: "lb.example.com", Interfaces: []*topology.Interface{ifc("eth0", lan, "192.168.0.1/24"), ifc("eth1", back, "10.0.0.1/24")}}
	web1 := &topology.Node{Name: "web1", Address: "192.168.0.3", Interfaces: []*topology.Interface{ifc("eth0", lan, "192.168.0.3/24")}}
	db := &topology.Node{Name: "db", Address: "10.0.0.5", Interfaces: []*topology.Interface{ifc("eth0", back, "10.0.0.5/24")}, SSH: topology.SSH{User: "admin", Port: 2222}}
	vip := &topology.VIP{Name: "www", Address: netip.MustParsePrefix("192.168.0.254/24")}
	return &topology.Topology{
		Networks: []*topology.Network{lan, back},
		Nodes:    []*topology.Node{lb, web1, db},
		VirtualServices: []*topology.VirtualService{{Name: "http", VIP: vip, Protocol: "tcp", Port: 80,
			RealServers: []*topology.RealServer{{Address: netip.MustParseAddr("192.168.0.3")}}}},
		Proxies: []*topology.Proxy{{Name: "p", Services: []*topology.ProxyService{{Backends: []*topology.Backend{
			{Node: db, Port: 8080}, {Kind: "redirect", Node: web1, Port: 9999},
		}}}}},
	}
}

func TestLayoutNamesAddressesAndWebServers(t *testing.T) {
	st, err := newState(testTopology(), "t", "beef")
	if err != nil {
		t.Fatal(err)
	}
	if st.Switch != "hlbeef-switch" || st.Nodes[0].Netns != "hlbeef-n-lb" {
		t.Errorf("namespaces not prefixed with the lab id: %s, %s", st.Switch, st.Nodes[0].Netns)
	}
	for _, ns := range st.namespaces() {
		if !strings.HasPrefix(ns, "hlbeef-") {
			t.Errorf("namespace %s lacks the lab id", ns)
		}
	}
	lb, web1, db := st.Nodes[0], st.Nodes[1], st.Nodes[2]
	if lb.SSHAddr.String() != "192.168.0.1" || lb.SSHHost != "lb.example.com" {
		t.Errorf("a host name maps to the first interface: got %s for %s", lb.SSHAddr, lb.SSHHost)
	}
	if db.SSHPort != 2222 || db.SSHUser != "admin" || web1.SSHPort != 22 || web1.SSHUser != "root" {
		t.Errorf("ssh settings: db %s@:%d, web1 %s@:%d", db.SSHUser, db.SSHPort, web1.SSHUser, web1.SSHPort)
	}
	if !slices.Equal(web1.HTTPPorts, []int{80}) || !slices.Equal(db.HTTPPorts, []int{8080}) || len(lb.HTTPPorts) != 0 {
		t.Errorf("web ports: web1 %v, db %v, lb %v", web1.HTTPPorts, db.HTTPPorts, lb.HTTPPorts)
	}
	// The VIP holds .254, so ctl takes .253 on lan; client is on both
	// networks (a VIP on lan, a backend on back).
	var ctl, client []string
	for _, i := range st.Ctl.Ifaces {
		ctl = append(ctl, i.Name+"="+i.Address.String()+"@"+i.Network)
	}
	for _, i := range st.Client.Ifaces {
		client = append(client, i.Name+"="+i.Address.String()+"@"+i.Network)
	}
	if want := []string{"eth0=192.168.0.253/24@lan", "eth1=10.0.0.254/24@back"}; !slices.Equal(ctl, want) {
		t.Errorf("ctl = %v, want %v", ctl, want)
	}
	if want := []string{"eth0=192.168.0.252/24@lan", "eth1=10.0.0.253/24@back"}; !slices.Equal(client, want) {
		t.Errorf("client = %v, want %v", client, want)
	}
	ports := map[string]bool{}
	for _, n := range st.Nodes {
		for _, i := range n.Ifaces {
			if len(i.Port) > 15 || ports[i.Port] {
				t.Errorf("bridge port %q is too long or repeated", i.Port)
			}
			ports[i.Port] = true
		}
	}
}

func TestLayoutRefusesWhatTheLabCannotBuild(t *testing.T) {
	topo := testTopology()
	topo.Nodes[1].Address = "172.16.0.9"
	if _, err := newState(topo, "t", "beef"); err == nil || !strings.Contains(err.Error(), "web1") {
		t.Errorf("an SSH address on no interface: %v", err)
	}
	topo = testTopology()
	topo.Nodes[2].Interfaces = nil
	if _, err := newState(topo, "t", "beef"); err == nil || !strings.Contains(err.Error(), "db") {
		t.Errorf("a node without interfaces: %v", err)
	}
	if err := checkName("Bad/Name"); err == nil {
		t.Error("a lab name with a slash was accepted")
	}
}

// TestNodesKeepHactlsFilesPrivate checks that every path hactl writes on a
// host lies in a directory a lab node has a private copy of: otherwise an
// apply in the lab would write to the machine running it, and a node's
// state would leak into the others.
func TestNodesKeepHactlsFilesPrivate(t *testing.T) {
	private := slices.Concat(overlayDirs, freshDirs, tmpfsDirs)
	for _, p := range append(layout.Owned(), layout.LockPath, layout.LabPDUPath) {
		if !slices.ContainsFunc(private, func(d string) bool { return strings.HasPrefix(p, d+"/") }) {
			t.Errorf("%s is outside every directory private to a lab node (%v)", p, private)
		}
	}
}
