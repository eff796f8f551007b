package monitor

import (
	"net/netip"
	"testing"

	"github.com/hactl/hactl/plan/topology"
)

func TestListenAddressIsAManagementAddressUnlessAsked(t *testing.T) {
	lan := &topology.Network{Name: "lan"}
	mgmt := &topology.Network{Name: "mgmt"}
	h2g := &topology.Node{Name: "h2g", Address: "192.168.0.18", Interfaces: []*topology.Interface{
		{Name: "eth0", Network: lan, Address: netip.MustParsePrefix("192.168.0.18/24")},
		{Name: "eth2", Network: mgmt, Address: netip.MustParsePrefix("10.9.0.18/24")},
	}}
	v6 := &topology.Node{Name: "v6", Address: "fd00::18"}
	named := &topology.Node{Name: "named", Address: "h2g.example.net"}
	for _, c := range []struct {
		name string
		m    topology.Monitor
		node *topology.Node
		want string
	}{
		{"the SSH address by default", topology.Monitor{Port: 9694}, h2g, "192.168.0.18:9694"},
		{"the address on the management network", topology.Monitor{Network: mgmt, Port: 9100}, h2g, "10.9.0.18:9100"},
		{"IPv6 in brackets", topology.Monitor{Port: 9694}, v6, "[fd00::18]:9694"},
		{"a host name as given", topology.Monitor{Port: 9694}, named, "h2g.example.net:9694"},
		{"every address when asked", topology.Monitor{Listen: ":9694", Port: 9694}, h2g, ":9694"},
		{"listen as written", topology.Monitor{Listen: "127.0.0.1:9000", Network: mgmt}, h2g, "127.0.0.1:9000"},
	} {
		if got := listenAddress(&c.m, c.node); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
