package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/remote"
)

// A group or node the configuration does not declare is named as such,
// with the closest name, before any host is contacted.
func TestControlNamesWhatTheConfigurationLacks(t *testing.T) {
	_, args := loopbackCluster(t, true)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"failover of a mistyped group", []string{"failover", "wbe"}, []string{`group "wbe" does not exist in the configuration (groups: web).`, `Did you mean "web"?`}},
		{"failover of an unknown group", []string{"failover", "nosuch"}, []string{`group "nosuch" does not exist in the configuration (groups: web).`}},
		{"standby of a mistyped node", []string{"standby", "h2h"}, []string{`node "h2h" does not exist in the configuration (nodes: h2g, c2g).`, `Did you mean "h2g"?`}},
		{"maintenance of an unknown node", []string{"maintenance", "nosuch", "on"}, []string{`node "nosuch" does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := hactl(t, append(tt.args, args...)...)
			if code != exitError || stdout != "" {
				t.Errorf("exit %d, stdout %q", code, stdout)
			}
			for _, want := range tt.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "ssh") || strings.Contains(stderr, "no node of the configuration matches") {
				t.Errorf("a name missing from the configuration is reported as something else:\n%s", stderr)
			}
		})
	}
}

// When no node takes a request, each node's reason is on one line of its
// own, its name said once.
func TestControlSaysEachNodesFailureOnce(t *testing.T) {
	_, args := loopbackCluster(t, true)
	code, _, stderr := hactl(t, append([]string{"failover", "web"}, args...)...)
	if code != exitError || !strings.Contains(stderr, "no node took the request:\n") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, node := range []string{"h2g", "c2g"} {
		if n := strings.Count(stderr, node); n != 1 || !strings.Contains(stderr, "\n  "+node+": ssh ") {
			t.Errorf("%s is named %d times, not once at the start of its line:\n%s", node, n, stderr)
		}
	}
}

func TestControlFailureIsTheAgentsAnswer(t *testing.T) {
	cmd := "/usr/local/bin/hactl-agent ctl heartbeat move db c"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"agent refused", fmt.Errorf("b: %w", &remote.ExitError{Host: "b", Cmd: cmd, Code: 1, Stderr: "hactl-agent: node \"c\" is dead, in standby or failed the group\n"}),
			`node "c" is dead, in standby or failed the group`},
		{"no output", fmt.Errorf("b: %w", &remote.ExitError{Host: "b", Cmd: cmd, Code: 1}),
			cmd + ": exit 1: no output on stderr"},
		{"unreachable", &remote.DialError{Host: "b", Hop: "root@10.0.0.2:22", Kind: remote.FailureRefused, Err: fmt.Errorf("dial tcp 10.0.0.2:22: connect: connection refused")},
			"ssh root@10.0.0.2:22: connection refused: dial tcp 10.0.0.2:22: connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := controlFailure("b", tt.err); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// standby says what becomes of the node's groups: they move only where
// another of their nodes is alive and not in standby.
func TestStandbyOutcome(t *testing.T) {
	res, diags := config.Load("../../e2e/testdata/three-node-minority/cluster.hcl", config.Options{Environ: []string{}})
	if res.Topology == nil || len(res.Topology.Nodes) != 3 {
		t.Fatalf("three-node configuration: %v", diags)
	}
	var groups, nodes []string
	for _, g := range res.Topology.Groups {
		groups = append(groups, g.Name)
	}
	for _, n := range res.Topology.Nodes {
		nodes = append(nodes, n.Name)
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	view := func(members ...status.Member) *plan.Observed {
		return &plan.Observed{Node: a, Status: &status.Status{Heartbeat: &status.Heartbeat{Members: members}}}
	}
	tests := []struct {
		name string
		view *plan.Observed
		want string
	}{
		{"others online", view(status.Member{Name: a, Alive: true}, status.Member{Name: b, Alive: true}, status.Member{Name: c, Alive: true}),
			b + " is in standby; its groups move to other nodes"},
		{"one other online", view(status.Member{Name: a, Alive: true, Standby: true}, status.Member{Name: b, Alive: true}, status.Member{Name: c, Alive: true}),
			b + " is in standby; its groups move to other nodes"},
		{"others in standby or dead", view(status.Member{Name: a, Alive: true, Standby: true}, status.Member{Name: b, Alive: true}, status.Member{Name: c}),
			fmt.Sprintf("%s is in standby; group %s stops: its other nodes (%s, %s) are down or in standby. Bring a node online with hactl online NODE, or %s back with hactl online %s.",
				b, strings.Join(groups, ", "), a, c, b, b)},
		{"no agent reported", nil, "no agent reported the others' state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := standbyOutcome(b, res.Topology, tt.view); !strings.Contains(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
