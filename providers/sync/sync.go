// Package sync is the provider of sync blocks: directories kept identical on
// several nodes with rsync over SSH, only differences sent (the guide's
// rsync chapter). The agent on the source node pushes to the targets.
package sync

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/node"
)

// Provider decodes sync blocks.
type Provider struct{}

var (
	_ providers.Provider  = Provider{}
	_ providers.Validator = Provider{}
)

func endpointBlock(typ, doc string) *providers.Block {
	b := &providers.Block{
		Type:   typ,
		Single: typ == "source",
		Doc:    doc,
		Attrs: []*providers.Attr{
			{Name: "node", Type: providers.Ref, RefKind: "node", Required: typ == "target", Doc: "The node.", Example: "node.f400"},
			{Name: "path", Type: providers.String, Required: true, Doc: "Absolute path of the directory. Its content is synced whether or not the path ends in / (hactl always gives rsync the trailing slash, so \"/var/www/html\" never becomes /var/www/html/html on the target).", Example: `"/var/www/html/"`},
		},
	}
	if typ == "source" {
		b.Required = true
		b.Attrs[0].Doc = "The node. Give node or group."
		b.Attrs = append(b.Attrs, &providers.Attr{Name: "group", Type: providers.Ref, RefKind: "group",
			Doc: "Follow the cluster: whichever node runs the group pushes path to the group's other nodes (same path) and to the targets; after a failover the new node pushes, never two at once. Give node or group.", Example: "group.web"})
	}
	return b
}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "sync",
		Role:   "sync",
		Labels: []string{"name"},
		Doc:    "A directory kept identical from one source node to target nodes, with rsync over SSH: only differences travel, as the host keys of the nodes are checked.",
		Attrs: []*providers.Attr{
			{Name: "delete", Type: providers.Bool, Default: `false`, Doc: "Delete files on the targets that are gone from the source (rsync --delete)."},
			{Name: "excludes", Type: providers.StringList, Doc: "rsync exclude patterns.", Example: `["*.tmp", ".git/"]`},
			{Name: "trigger", Type: providers.String, Default: `"change"`, Enum: []string{"change", "interval"}, Doc: "Sync when files change on the source (inotify, batched), or every interval."},
			{Name: "interval", Type: providers.Duration, Default: `"5m"`, Doc: "Period for trigger = \"interval\"; with trigger = \"change\", a full pass also runs this often to catch what events missed."},
			{Name: "bwlimit", Type: providers.Size, Doc: "Bandwidth limit per second (rsync --bwlimit), like \"10M\".", Example: `"10M"`},
			{Name: "checksum", Type: providers.Bool, Default: `false`, Doc: "Compare files by checksum instead of size and time (rsync --checksum): slower, catches same-size edits."},
			{Name: "delay", Type: providers.Duration, Default: `"200ms"`, Doc: "With trigger = \"change\", how long changes are gathered before a run sends them: a burst of writes travels in one run."},
			{Name: "atomic", Type: providers.Bool, Default: `false`, Doc: "Changed files appear on a target together at the end of a run, never half-updated (rsync --delay-updates)."},
			{Name: "max_delete", Type: providers.Number, Default: `50`, Doc: "With delete = true, a run that would delete more than this percentage of a target's files stops and says so in hactl status, until the operator confirms with `hactl sync confirm NAME`. 0 turns the guard off."},
		},
		Blocks: []*providers.Block{
			endpointBlock("source", "The directory that is the truth."),
			endpointBlock("target", "A directory made identical to the source. Repeat for each target; with a group as source, the group's other nodes are targets without being listed."),
		},
		Example: `sync "docroot" {
  delete = true
  source {
    node = node.f400
    path = "/var/www/html/"
  }
  target {
    node = node.dgx
    path = "/var/www/html/"
  }
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	n := len(d.Diags)
	interval := c.Duration("interval")
	badInterval := len(d.Diags) > n // already reported: not also "zero"
	m := &topology.SyncModule{
		Name:       c.Label(0),
		Delete:     c.Bool("delete"),
		Excludes:   c.Strings("excludes"),
		Trigger:    c.String("trigger"),
		Interval:   interval,
		BWLimitKBs: int(c.Size("bwlimit") / 1024),
		Checksum:   c.Bool("checksum"),
		Delay:      c.Duration("delay"),
		Atomic:     c.Bool("atomic"),
		Range:      c.BlockRange(),
	}
	m.MaxDeletePercent = c.Int("max_delete")
	if m.MaxDeletePercent < 0 || m.MaxDeletePercent > 100 {
		d.Error(c.Range("max_delete"), "Bad max_delete", fmt.Sprintf("max_delete is %d: it is a percentage, from 0 (no guard) to 100.", m.MaxDeletePercent))
	}
	if !d.Declare("sync", m.Name, c.DefRange) {
		return
	}
	d.Topology.SyncModules = append(d.Topology.SyncModules, m)
	if m.Interval == 0 && c.Has("interval") && !badInterval {
		d.Error(c.Range("interval"), "Zero sync interval", "interval must be more than zero.")
	}
	src := c.Block("source")
	if src != nil {
		endpoint(d, src, &m.Source, true)
	}
	targets := c.Blocks("target")
	if len(targets) == 0 && (src == nil || !src.Has("group")) {
		d.Error(c.DefRange, "Sync without targets", fmt.Sprintf("sync %q has a node as source and no target block: add one per node to copy to, or make a group the source.", m.Name))
	}
	m.Targets = make([]topology.SyncEndpoint, len(targets))
	for i, tc := range targets {
		endpoint(d, tc, &m.Targets[i], false)
	}
}

// endpoint decodes a source or target into e; its node resolves later.
func endpoint(d *providers.Decoder, c *providers.Content, e *topology.SyncEndpoint, source bool) {
	e.Path, e.Range = c.String("path"), c.BlockRange()
	if e.Path != "" && !strings.HasPrefix(e.Path, "/") {
		d.Error(c.Range("path"), "Relative sync path", fmt.Sprintf("%q must be an absolute path, starting with /.", e.Path))
	}
	if e.Path != "" {
		e.Path = strings.TrimRight(e.Path, "/") + "/"
	}
	if source && c.Has("node") == c.Has("group") {
		d.Error(c.DefRange, "Sync source needs node or group",
			"A sync's source names exactly one of node = node.NAME (that node always pushes) or group = group.NAME (the node running the group pushes).")
		return
	}
	if source && c.Has("group") {
		name, rng := c.Ref("group")
		d.Later(func() { e.Group, _ = providers.Lookup(d, "group", name, rng, groupsByName(d.Topology)) })
		return
	}
	name, rng := c.Ref("node")
	d.Later(func() { e.Node, _ = providers.Lookup(d, "node", name, rng, node.ByName(d.Topology)) })
}

func groupsByName(t *topology.Topology) map[string]*topology.Group {
	out := make(map[string]*topology.Group, len(t.Groups))
	for _, g := range t.Groups {
		out[g.Name] = g
	}
	return out
}

// Sources are the nodes that may push m: its source node, or every
// location of its source group.
func Sources(m *topology.SyncModule) []*topology.Node {
	if m.Source.Group == nil {
		if m.Source.Node == nil {
			return nil
		}
		return []*topology.Node{m.Source.Node}
	}
	var out []*topology.Node
	for _, l := range m.Source.Group.Locations {
		if l.Node != nil {
			out = append(out, l.Node)
		}
	}
	return out
}

// Validate implements providers.Validator: a node cannot be its own target,
// nor a target twice; a group source has somewhere to push.
func (Provider) Validate(d *providers.Decoder) {
	for _, m := range d.Topology.SyncModules {
		sources := Sources(m)
		if g := m.Source.Group; g != nil && len(sources)+len(m.Targets) < 2 {
			d.Error(providers.FromTopo(m.Source.Range), "Sync group source has nowhere to push",
				fmt.Sprintf("sync %q follows group %q, which has one location and the sync no target: give the group a second location or the sync a target block.", m.Name, g.Name))
		}
		seen := map[string]bool{}
		for _, t := range m.Targets {
			if t.Node == nil {
				continue
			}
			key := t.Node.Name + ":" + t.Path
			switch {
			case m.Source.Group != nil && slices.Contains(sources, t.Node):
				d.Error(providers.FromTopo(t.Range), "Sync target is one of the source group's nodes",
					fmt.Sprintf("%s runs group %q, so it is a source or, at %s, a target already: remove this target block.", t.Node.Name, m.Source.Group.Name, m.Source.Path))
			case m.Source.Node == t.Node && m.Source.Path == t.Path:
				d.Error(providers.FromTopo(t.Range), "Sync target is its source",
					fmt.Sprintf("Target %s:%s is the source itself.", t.Node.Name, t.Path))
			case seen[key]:
				d.Error(providers.FromTopo(t.Range), "Duplicate sync target",
					fmt.Sprintf("Target %s:%s is listed twice.", t.Node.Name, t.Path))
			}
			seen[key] = true
		}
	}
}
