package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/status"
)

// A sync that follows the two-node example's group: whichever of h2g and
// c2g runs group web pushes /var/lib/docs to the other.
const docs = "/var/lib/docs"

const groupSync = `
sync "docs" {
  delete   = true
  interval = "3s"
  source {
    group = group.web
    path  = "` + docs + `"
  }
}
`

// waitSource waits until node's agent pushes the docs sync, and the other
// node's is standing by.
func (c *cluster) waitSource(node, other string) {
	c.t.Helper()
	// 30 s: a tree made after the sync started is watched at the
	// fallback's next full comparison, within 10 s.
	deadline := time.Now().Add(30 * time.Second)
	for {
		src, stby := c.syncOn(node, "docs"), c.syncOn(other, "docs")
		if src.Mode == "change" && src.Watches > 0 && stby.Mode == "standby" && len(src.Targets) == 1 && src.Targets[0].Node == other {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s is not the only source of docs: %s reports %+v, %s reports %+v", node, node, src, other, stby)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// blockSSHFromH2g, run on c2g, drops SSH from h2g's addresses: h2g's
// pushes fail while the heartbeat (UDP) goes on.
const blockSSHFromH2g = `nft add table inet synctest && nft add chain inet synctest in '{ type filter hook input priority 0; }' && ` +
	`nft add rule inet synctest in ip saddr '{ 192.168.0.18, 192.168.1.18 }' tcp dport 22 drop`

func TestSyncFollowsTheGroupOnFailover(t *testing.T) {
	c := webCluster(t, func(hcl string) string { return hcl + groupSync })
	for _, n := range []string{"h2g", "c2g"} {
		c.onNode(n, "mkdir -p "+docs)
	}
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	c.waitSource("h2g", "c2g")
	c.onNode("h2g", "cd "+docs+" && echo one > one && mkdir -p sub && echo deep > sub/f")
	c.waitTreesMatch("written on the group's node", "h2g", "c2g", docs, 30*time.Second)

	// A change h2g cannot send before the group leaves it.
	c.onNode("c2g", blockSSHFromH2g)
	c.onNode("h2g", "echo written-before-the-failover > "+docs+"/unsent")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st := c.syncOn("h2g", "docs"); len(st.Targets) == 1 && st.Targets[0].State == "failing" && st.Targets[0].Pending != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("h2g's push to c2g does not fail with SSH blocked: %+v", c.syncOn("h2g", "docs"))
		}
		time.Sleep(200 * time.Millisecond)
	}

	start := time.Now()
	c.mustHactl(0, "failover", "web", "--to", "c2g")
	p.waitFor(t, "c2g")
	c.waitSource("c2g", "h2g")
	t.Logf("c2g pushes %s after the failover command", time.Since(start).Round(time.Millisecond))
	c.onNode("c2g", "nft delete table inet synctest")

	// c2g's first run made h2g identical to c2g, and kept what it
	// replaced there: the change h2g never sent.
	c.waitTreesMatch("the new source's first full comparison", "c2g", "h2g", docs, 10*time.Second)
	if got := c.onNode("h2g", "cat "+docs+"/.hactl-sync-kept/*/unsent"); got != "written-before-the-failover\n" {
		t.Errorf("the unsent change is not kept on h2g: %q", got)
	}
	// The agent rewrites its status every second.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var tg status.SyncTarget
		if st := c.syncOn("c2g", "docs"); len(st.Targets) == 1 {
			tg = st.Targets[0]
		}
		if strings.Contains(tg.Kept, "replaced or deleted 1 of") && strings.Contains(tg.Kept, docs+"/.hactl-sync-kept/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c2g's status does not say what it kept on h2g: %+v", tg)
		}
	}

	c.onNode("c2g", "cd "+docs+" && echo two > two && echo changed > one && rm sub/f")
	c.waitTreesMatch("written on the new holder", "c2g", "h2g", docs, 10*time.Second)

	// h2g, passive now, pushes nothing; what is written there is a hand
	// edit of a target, which c2g's next full comparison repairs.
	c.onNode("h2g", "echo from-the-passive-node > "+docs+"/passive")
	time.Sleep(2 * time.Second)
	if out := c.onNode("c2g", "ls "+docs); strings.Contains(out, "passive") {
		t.Errorf("a file written on the passive node reached the source: %s", out)
	}
	c.waitTreesMatch("the passive node's edit repaired", "c2g", "h2g", docs, 10*time.Second)
	// The trees can match while the full comparison that repaired them
	// is still running, and the status is rewritten every second.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st := c.syncOn("c2g", "docs")
		if len(st.Targets) == 1 && st.Targets[0].State == "in_sync" && st.Targets[0].LastError == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c2g's sync to h2g: %+v, want c2g pushing, in sync", st)
		}
	}
}
