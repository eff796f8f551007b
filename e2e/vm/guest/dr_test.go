package guest

import (
	"net/netip"
	"testing"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

// TestDirectRoutingAndTunnel forwards by direct routing and by IPIP tunnel,
// the guide's other two LVS methods, with a client on the real servers'
// network: the real servers hold the VIPs on lo (hidden from ARP) and
// answer the client directly, not through the director.
func TestDirectRoutingAndTunnel(t *testing.T) {
	needGuest(t)
	n := newLVSNAT(t)
	inner := newHost(t, "inner", []link{{"inside", "eth0", []string{"192.168.0.50/24"}}}, "")
	n.h2g.addAddr(t, "eth0", "192.168.0.200/24")
	n.h2g.addAddr(t, "eth0", "192.168.0.201/24")
	for _, rs := range []*host{n.f400, n.dgx} {
		rs.addAddr(t, "lo", "192.168.0.200/32")
		rs.addAddr(t, "lo", "192.168.0.201/32")
		rs.sysctl(t, "net/ipv4/conf/all/arp_ignore", "1")
		rs.sysctl(t, "net/ipv4/conf/all/arp_announce", "2")
		tunl, err := rs.h.LinkByName("tunl0")
		if err == nil {
			err = rs.h.LinkSetUp(tunl)
		}
		if err != nil {
			t.Fatalf("%s: tunl0: %v", rs.name, err)
		}
	}
	dp := openDatapath(t, n.h2g)
	defer dp.Close()
	svc := func(name, addr, fwd string) datapath.Service {
		return datapath.Service{Name: name, Protocol: "tcp", Address: netip.MustParseAddr(addr), Port: 80, Scheduler: "rr", Forwarding: fwd,
			Backends: []datapath.Backend{realServer("f400", "192.168.0.3", 1), realServer("dgx", "192.168.0.27", 1)}}
	}
	dr, tun := svc("web-dr", "192.168.0.200", "dr"), svc("web-tun", "192.168.0.201", "tunnel")
	if c := mustSync(t, dp, dr, tun); c != 2 {
		t.Errorf("changed = %d, want 2", c)
	}
	for _, tt := range []struct{ name, vip string }{{"direct routing", "192.168.0.200:80"}, {"tunnel", "192.168.0.201:80"}} {
		t.Run(tt.name, func(t *testing.T) {
			var a []string
			for i := 0; i < 4; i++ {
				a = append(a, getFrom(t, inner, tt.vip))
			}
			if count(a, "f400") != 2 || count(a, "dgx") != 2 {
				t.Fatalf("answers %q: want f400 and dgx in turn", a)
			}
		})
	}
}
