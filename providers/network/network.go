// Package network is the provider of network blocks: the IP segments the
// nodes share, which interfaces, VIPs and heartbeat links refer to.
package network

import (
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

// Provider decodes network blocks.
type Provider struct{}

var _ providers.Provider = Provider{}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "network",
		Labels: []string{"name"},
		Doc:    "An IP network the nodes are attached to. Interfaces, virtual IPs and heartbeat links refer to it as network.NAME.",
		Attrs: []*providers.Attr{
			{Name: "cidr", Type: providers.CIDR, Required: true, Doc: "The network's prefix.", Example: `"192.168.0.0/24"`},
		},
		Example: `network "lan" {
  cidr = "192.168.0.0/24"
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	n := &topology.Network{Name: c.Label(0), Prefix: c.Prefix("cidr").Masked(), Range: c.BlockRange()}
	if d.Declare("network", n.Name, c.DefRange) {
		d.Topology.Networks = append(d.Topology.Networks, n)
	}
}

// ByName returns the declared networks by name, for resolving references.
func ByName(t *topology.Topology) map[string]*topology.Network {
	m := make(map[string]*topology.Network, len(t.Networks))
	for _, n := range t.Networks {
		m[n.Name] = n
	}
	return m
}
