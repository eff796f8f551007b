package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/e2e/gencluster"
	"github.com/hactl/hactl/e2e/lab"
)

const (
	scaleNodes  = 16
	scaleGroups = 50
)

// A cluster of sixteen nodes running fifty groups, each a VIP that three
// nodes may run: every group runs on exactly one node, nothing moves and
// nobody is declared dead while nothing fails, and when a node loses its
// power its groups move to the others while the rest stay put. The
// heartbeat timing is relaxed from the LAN defaults (100ms, deadtime 1s):
// the lab's sixteen agents share two cores with everything else the
// machine runs.
func TestSixteenNodesFiftyGroups(t *testing.T) {
	needRoot(t)
	src, err := gencluster.HCL(gencluster.Options{Cluster: "scale", Nodes: scaleNodes, Groups: scaleGroups,
		Timing: []string{`interval = "100ms"`, `warntime = "500ms"`, `deadtime = "1s"`, `initdead = "10s"`}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	throwawaySecrets(t, dir)
	start := time.Now()
	c := labCluster(t, "the 16-node cluster", dir, lab.Options{Name: "e2e", Replace: true, BootTimeout: 2 * time.Minute})
	t.Logf("lab up in %s", time.Since(start).Round(time.Second))
	start = time.Now()
	c.mustHactl(0, "apply", "--auto-approve")
	t.Logf("applied in %s", time.Since(start).Round(time.Second))
	nodes := c.lab.Nodes()

	placed := c.waitPlaced(nodes, nil, time.Minute)
	t.Logf("placement: %v", placed)
	quiet := time.Now()
	time.Sleep(20 * time.Second)
	if now := c.placement(nodes); !maps.Equal(now, placed) {
		t.Errorf("groups moved while nothing failed:\nbefore %v\nafter  %v", placed, now)
	}
	for _, n := range nodes {
		for _, ev := range c.agentEvents(n, quiet) {
			switch ev.Kind {
			case status.NodeDead, status.Fencing, status.Fenced, status.SplitBrain, status.GroupStarted, status.GroupStopped, status.QuorumLost:
				t.Errorf("%s: %s %s %s %s while nothing failed", n, ev.Kind, ev.Node, ev.Group, ev.Detail)
			}
		}
	}

	// The node running the most groups loses its power.
	count := map[string]int{}
	for _, n := range placed {
		count[n]++
	}
	victim := slices.MaxFunc(nodes, func(a, b string) int { return count[a] - count[b] })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	off := time.Now()
	if err := c.lab.PowerOff(ctx, victim); err != nil {
		t.Fatal(err)
	}
	alive := slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == victim })
	moved := c.waitPlaced(alive, func(group, node string) bool { return node != victim }, 30*time.Second)
	t.Logf("%s's %d groups moved within %s", victim, count[victim], time.Since(off).Round(100*time.Millisecond))
	for g, n := range placed {
		if n != victim && moved[g] != n {
			t.Errorf("group %s moved from %s to %s, though %s held it and is alive", g, n, moved[g], n)
		}
	}
}

// placement maps each group to the nodes that run it, as the nodes' agents
// say (joined with a comma when several do), for the groups running
// somewhere.
func (c *cluster) placement(nodes []string) map[string]string {
	c.t.Helper()
	holders := map[string][]string{}
	for _, n := range nodes {
		var st status.Status
		raw := c.onNode(n, "cat "+layout.StatusPath)
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			c.t.Fatalf("%s: reading its agent's status: %v\n%s", n, err, raw)
		}
		if st.Heartbeat == nil {
			continue
		}
		for _, g := range st.Heartbeat.Groups {
			if g.State == "running" {
				holders[g.Name] = append(holders[g.Name], n)
			}
		}
	}
	out := map[string]string{}
	for g, hs := range holders {
		out[g] = strings.Join(hs, ",")
	}
	return out
}

// waitPlaced waits until every group runs on exactly one of nodes, and on
// one that ok accepts (any when ok is nil), and returns where.
func (c *cluster) waitPlaced(nodes []string, ok func(group, node string) bool, within time.Duration) map[string]string {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var got map[string]string
	for {
		got = c.placement(nodes)
		good := len(got) == scaleGroups
		for g, n := range got {
			good = good && !strings.Contains(n, ",") && (ok == nil || ok(g, n))
		}
		if good {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after %s, %d of %d groups run, where: %v", within, len(got), scaleGroups, got)
		}
		time.Sleep(time.Second)
	}
}
