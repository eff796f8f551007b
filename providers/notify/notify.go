// Package notify is the provider of notify blocks: commands the agents run
// when cluster events happen (a node dies, a group moves, a real server
// fails), like Heartbeat's and keepalived's notify scripts.
package notify

import (
	"fmt"
	"slices"

	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

// Provider decodes notify blocks.
type Provider struct{}

var _ providers.Provider = Provider{}

// Events are the events a notify command can subscribe to: every kind an
// agent role emits (agentbin/status declares them).
var Events = status.EventKindNames()

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "notify",
		Labels: []string{"name"},
		Doc:    "A command the agent that sees an event runs, with the event in HACTL_EVENT and its details in HACTL_NODE, HACTL_GROUP, HACTL_DETAIL. Events: " + providers.EnumDoc(Events) + ".",
		Attrs: []*providers.Attr{
			{Name: "command", Type: providers.String, Required: true, Doc: "The program to run and its arguments, split on white space (no shell is involved: write a script for pipes or quoting).", Example: `"/usr/local/bin/page-oncall"`},
			{Name: "events", Type: providers.StringList, Doc: "Events that run the command. Default: all.", Example: `["node_dead", "group_started"]`},
			{Name: "timeout", Type: providers.Duration, Default: `"30s"`, Doc: "How long the command may run before it is killed."},
		},
		Example: `notify "oncall" {
  command = "/usr/local/bin/page-oncall"
  events  = ["node_dead", "split_brain", "fence_failed"]
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	n := &topology.Notify{
		Name:    c.Label(0),
		Command: c.String("command"),
		Events:  c.Strings("events"),
		Timeout: c.Duration("timeout"),
		Range:   c.BlockRange(),
	}
	if !d.Declare("notify", n.Name, c.DefRange) {
		return
	}
	d.Topology.Notifies = append(d.Topology.Notifies, n)
	for _, e := range n.Events {
		if !slices.Contains(Events, e) {
			detail := fmt.Sprintf("events may contain %s.", providers.EnumDoc(Events))
			if s := providers.Suggest(e, Events); s != "" {
				detail = fmt.Sprintf("Did you mean %q? ", s) + detail
			}
			d.Error(c.Range("events"), fmt.Sprintf("Unknown event %q", e), detail)
		}
	}
	if len(n.Events) == 0 {
		n.Events = slices.Clone(Events)
	}
}
