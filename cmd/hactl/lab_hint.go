package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/topology"
)

// The lab's nodes are reachable only from its ctl namespace: a plan run
// from anywhere else on the machine finds every host unreachable. When a
// lab of the configuration is up here, that is the likely reason, and the
// operator is told the command that works.

// writeLabHint prints, when no host of p could be observed and a lab up on
// this machine (labs, read only then: upLabs) runs the configuration's
// nodes, how to run the same command from the lab's ctl namespace.
func writeLabHint(w io.Writer, t *topology.Topology, p *plan.Plan, args []string, labs func() map[string][]string) {
	for _, h := range p.Hosts {
		if h.Error == "" {
			return
		}
	}
	if name := labOf(t, labs()); name != "" {
		fmt.Fprintf(w, "No host could be observed, and lab %s runs these nodes on this machine: they are reachable from its ctl namespace only. Run:\n  %s\n",
			name, shellCommand(slices.Concat([]string{"hactl", "lab", "exec", "--name", name, "ctl", "--"}, args)...))
	}
}

// labOf returns the lab whose nodes are exactly the configuration's, or
// "" when none or several are.
func labOf(t *topology.Topology, labs map[string][]string) string {
	want := make([]string, 0, len(t.Nodes))
	for _, n := range t.Nodes {
		want = append(want, n.Name)
	}
	slices.Sort(want)
	found := ""
	for name, nodes := range labs {
		nodes = slices.Sorted(slices.Values(nodes))
		if slices.Equal(nodes, want) {
			if found != "" {
				return ""
			}
			found = name
		}
	}
	return found
}
