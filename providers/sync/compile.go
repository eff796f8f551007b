package sync

import (
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/node"
)

var _ providers.Compiler = Provider{}

// Compile implements providers.Compiler: the source node of a sync module
// pushes it to the targets.
func (Provider) Compile(c *providers.CompileContext) {
	for _, m := range c.Topology.SyncModules {
		if m.Source.Node != c.Node {
			continue
		}
		s := spec.Sync{
			Name: m.Name, Path: m.Source.Path, Delete: m.Delete, Excludes: m.Excludes, Trigger: m.Trigger,
			IntervalMS: providers.MS(m.Interval), BWLimitKBs: m.BWLimitKBs, Checksum: m.Checksum,
		}
		for _, t := range m.Targets {
			if t.Node == nil {
				continue
			}
			s.Targets = append(s.Targets, spec.SyncTarget{Node: t.Node.Name, Address: node.AddressFrom(t.Node, c.Node), Path: t.Path})
		}
		c.Spec.Syncs = append(c.Spec.Syncs, s)
	}
}
