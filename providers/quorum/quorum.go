// Package quorum is the provider of the quorum block: what a partition of
// the cluster that holds no majority does with its groups, and the
// tie-breaker that lets one half of a two-node cluster keep going.
package quorum

import (
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

// Provider decodes the quorum block.
type Provider struct{}

var _ providers.Provider = Provider{}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "quorum",
		Single: true,
		Doc:    "Quorum: with three or more members, a partition without a majority must not run groups, or two partitions could run the same group (split brain). Two-node clusters have no majority to lose; give them fencing or a tie-breaker.",
		Attrs: []*providers.Attr{
			{Name: "policy", Type: providers.String, Default: `"stop"`, Enum: []string{string(topology.QuorumStop), string(topology.QuorumFreeze), string(topology.QuorumIgnore)}, Doc: "What a partition without quorum does: stop its groups, freeze (keep what runs, start nothing), or ignore quorum (unsafe without fencing)."},
			{Name: "tie_breaker", Type: providers.String, Doc: "An address (the default gateway, usually) that both halves of a two-node cluster can ping; the half that reaches it keeps quorum.", Example: `"192.168.0.1"`},
		},
		Example: `quorum {
  policy      = "stop"
  tie_breaker = "192.168.0.1"
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	d.Topology.Quorum = &topology.Quorum{
		Policy:     topology.QuorumPolicy(c.String("policy")),
		TieBreaker: c.String("tie_breaker"),
		Range:      c.BlockRange(),
	}
}
