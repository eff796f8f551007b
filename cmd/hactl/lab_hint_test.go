package main

import (
	"strings"
	"testing"

	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/topology"
)

// A plan that reached no host, made while a lab of the configuration is up
// on this machine, says to run it from the lab's ctl namespace.
func TestLabHint(t *testing.T) {
	topo := &topology.Topology{Nodes: []*topology.Node{{Name: "h2g"}, {Name: "c2g"}}}
	unreachable := &plan.Plan{Hosts: []plan.HostPlan{{Node: "c2g", Error: "ssh: timed out"}, {Node: "h2g", Error: "ssh: timed out"}}}
	oneReached := &plan.Plan{Hosts: []plan.HostPlan{{Node: "c2g", Error: "ssh: timed out"}, {Node: "h2g"}}}
	args := []string{"hactl", "plan", "-f", "my dir"}
	tests := []struct {
		name string
		plan *plan.Plan
		labs map[string][]string
		want string
	}{
		{"lab of the configuration up", unreachable, map[string][]string{"web": {"h2g", "c2g"}, "lvs": {"h2g", "c2g", "f400"}},
			"No host could be observed, and lab web runs these nodes on this machine: they are reachable from its ctl namespace only. Run:\n" +
				"  hactl lab exec --name web ctl -- hactl plan -f 'my dir'\n"},
		{"no lab up", unreachable, nil, ""},
		{"only other labs up", unreachable, map[string][]string{"lvs": {"h2g", "c2g", "f400"}, "one": {"h2g"}}, ""},
		{"two labs of the configuration: no guess", unreachable, map[string][]string{"a": {"c2g", "h2g"}, "b": {"h2g", "c2g"}}, ""},
		{"a host was reached: the lab is not the reason", oneReached, map[string][]string{"web": {"h2g", "c2g"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			read := false
			writeLabHint(&out, topo, tt.plan, args, func() map[string][]string { read = true; return tt.labs })
			if out.String() != tt.want {
				t.Errorf("got  %q\nwant %q", out.String(), tt.want)
			}
			if read && tt.plan == oneReached {
				t.Error("the labs were looked up although a host was reached")
			}
		})
	}
}
