package sync

import (
	"fmt"
	"os"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/node"
)

var _ providers.Compiler = Provider{}

// Compile implements providers.Compiler: the source node of a sync module
// pushes it to the targets with the module's key, and each target accepts
// that key for that transfer alone. With a group as source, every
// location of the group is both: it pushes while it runs the group, and
// receives from whichever other location runs it.
func (Provider) Compile(c *providers.CompileContext) {
	for _, m := range c.Topology.SyncModules {
		sources := Sources(m)
		if len(sources) == 0 {
			continue
		}
		if slices.Contains(sources, c.Node) {
			compileSource(c, m, targetsFrom(m, c.Node))
		}
		for _, t := range targetsFrom(m, nil) {
			if t.Node == c.Node {
				compileReceive(c, m, t)
			}
		}
	}
}

// targetsFrom are the endpoints that source pushes m to: the listed
// targets and, with a group source, the group's other locations at the
// source's path (nil source: all of them, the endpoints that receive).
func targetsFrom(m *topology.SyncModule, source *topology.Node) []topology.SyncEndpoint {
	var out []topology.SyncEndpoint
	if m.Source.Group != nil {
		for _, n := range Sources(m) {
			if n != source {
				out = append(out, topology.SyncEndpoint{Node: n, Path: m.Source.Path, Range: m.Source.Range})
			}
		}
	}
	return append(out, m.Targets...)
}

func compileSource(c *providers.CompileContext, m *topology.SyncModule, targets []topology.SyncEndpoint) {
	keys, ok := moduleKeys(c, m)
	if !ok {
		return
	}
	s := spec.Sync{
		Name: m.Name, Path: m.Source.Path, Delete: m.Delete, Excludes: m.Excludes, Trigger: m.Trigger,
		IntervalMS: providers.MS(m.Interval), BWLimitKBs: m.BWLimitKBs, Checksum: m.Checksum,
		DelayMS: providers.MS(m.Delay), Atomic: m.Atomic, MaxDeletePercent: m.MaxDeletePercent,
		KeyPath: c.SecretFrom("sync-"+m.Name+".key", string(keys.current.private), "", m.Range),
	}
	if m.Source.Group != nil {
		s.Group = m.Source.Group.Name
	}
	for _, t := range targets {
		if t.Node == nil {
			continue
		}
		port := t.Node.SSH.Port
		if port == 0 {
			port = 22
		}
		hostKeys, where, err := hostKeysOf(c.BaseDir, t.Node, port)
		switch {
		case err != nil:
			c.Diags = append(c.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read the targets' host keys",
				Detail:  fmt.Sprintf("sync %q: %v. The source checks each target's SSH host key against the ones hactl knows.", m.Name, err),
				Subject: providers.FromTopo(t.Range).Ptr()})
		case len(hostKeys) == 0:
			c.Diags = append(c.Diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Sync target's host key unknown",
				Detail: fmt.Sprintf("sync %q: %s has no host key for node %s (%s): %s refuses to push to it until it has. Connect to %s once (hactl plan asks to accept its key), then apply again.",
					m.Name, where, t.Node.Name, t.Node.Address, c.Node.Name, t.Node.Name),
				Subject: providers.FromTopo(t.Range).Ptr()})
		}
		s.Targets = append(s.Targets, spec.SyncTarget{
			Node: t.Node.Name, Address: node.AddressFrom(t.Node, c.Node), Path: t.Path, Port: port, HostKeys: hostKeys,
		})
	}
	c.Spec.Syncs = append(c.Spec.Syncs, s)
}

func compileReceive(c *providers.CompileContext, m *topology.SyncModule, t topology.SyncEndpoint) {
	keys, ok := moduleKeys(c, m)
	if !ok {
		return
	}
	var source string
	if m.Source.Group != nil {
		source = "group " + m.Source.Group.Name
	} else {
		source = m.Source.Node.Name // Compile checked that the source is set
	}
	r := spec.SyncReceive{Name: m.Name, Source: source, Path: t.Path, PublicKeys: []string{keys.current.public}}
	if keys.previous != nil {
		r.PublicKeys = append(r.PublicKeys, keys.previous.public)
	}
	c.Spec.SyncReceives = append(c.Spec.SyncReceives, r)
}

// moduleKeys derives the module's key pairs from the cluster keys.
func moduleKeys(c *providers.CompileContext, m *topology.SyncModule) (pairs, bool) {
	var out pairs
	for i, file := range []string{c.Topology.Cluster.KeyFile, c.Topology.Cluster.PreviousKeyFile} {
		if file == "" {
			continue
		}
		data, err := os.ReadFile(providers.LocalPath(c.BaseDir, file))
		if err != nil {
			// The cluster provider reports an unreadable key file.
			return out, false
		}
		kp, err := deriveKey(data, m.Name)
		if err != nil {
			c.Diags = append(c.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot make the sync key",
				Detail: fmt.Sprintf("sync %q: %v.", m.Name, err), Subject: providers.FromTopo(m.Range).Ptr()})
			return out, false
		}
		if i == 0 {
			out.current = kp
		} else {
			out.previous = kp
		}
	}
	return out, out.current != nil
}

type pairs struct{ current, previous *keyPair }
