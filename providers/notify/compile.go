package notify

import (
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/providers"
)

var _ providers.Compiler = Provider{}

// Compile implements providers.Compiler: every node runs the notify
// commands for the events it sees.
func (Provider) Compile(c *providers.CompileContext) {
	for _, n := range c.Topology.Notifies {
		c.Spec.Notifies = append(c.Spec.Notifies, spec.Notify{Name: n.Name, Command: n.Command, Events: n.Events, TimeoutMS: providers.MS(n.Timeout)})
	}
}
