package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The first hour of issue #9, as a user would spend it: a three-node
// cluster written from docs/language.md alone (testdata/three-node-first-hour),
// applied, broken with the lab's faults and changed with plan and apply.
// Every step checks what the client sees, where the VIPs are, and what the
// notify command recorded.

const (
	webVIP = "192.168.0.100"
	dbVIP  = "192.168.0.110"
)

var trio = []string{"a", "b", "c"}

// recordEvent is the notify command: it appends the event to a file.
const recordEvent = `#!/bin/sh
echo "$HACTL_EVENT $HACTL_NODE $HACTL_GROUP" >> /var/log/hactl-events
`

// addrHolders lists the nodes among nodes with addr on an interface; a
// node that is off holds nothing.
func (c *cluster) addrHolders(addr string, nodes []string) []string {
	c.t.Helper()
	var out []string
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := c.lab.Exec(ctx, n, "ip", "-o", "addr", "show")
		cancel()
		if err == nil && strings.Contains(string(got), " "+addr+"/") {
			out = append(out, n)
		}
	}
	return out
}

// onlyHolder waits until node alone holds addr.
func (c *cluster) onlyHolder(addr, node string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		if got = c.addrHolders(addr, trio); len(got) == 1 && got[0] == node {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s held by %v, want only %s", addr, got, node)
}

// recorded waits until a node's notify command has recorded the line.
func (c *cluster) recorded(node, line string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	out := ""
	for time.Now().Before(deadline) {
		if out = c.onNode(node, "cat /var/log/hactl-events 2>/dev/null || true"); strings.Contains(out, line+"\n") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Errorf("%s's notify command never recorded %q; it recorded:\n%s", node, line, out)
}

// powerCycle cuts a node off (the lab fences it: powers it off), then
// plugs its cables back and powers it on.
func (c *cluster) powerCycle(node string, during func()) {
	c.t.Helper()
	if err := c.lab.Cut(node, ""); err != nil {
		c.t.Fatal(err)
	}
	during()
	if err := c.lab.Heal(node, ""); err != nil {
		c.t.Fatal(err)
	}
	if err := c.lab.Restart(context.Background(), node); err != nil {
		c.t.Fatal(err)
	}
	c.waitAlive(node)
}

func (c *cluster) nodeState(node string) string {
	c.t.Helper()
	st, err := c.lab.Status()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Name == node {
			return n.State
		}
	}
	return ""
}

func TestThreeNodeFirstHour(t *testing.T) {
	c := startCluster(t, "three-node-first-hour")
	for _, n := range trio {
		c.onNode(n, "cat > /usr/local/bin/record-event <<'EOF'\n"+recordEvent+"EOF\nchmod 755 /usr/local/bin/record-event")
	}
	c.mustHactl(0, "apply", "--auto-approve")
	if out := c.mustHactl(0, "plan"); strings.Contains(out, "Warning") || !strings.Contains(out, "no changes") {
		t.Errorf("plan after apply:\n%s", out)
	}
	web := probe{c.lab.StartProber("http://"+webVIP+"/", 10*time.Millisecond)}
	t.Cleanup(web.Stop)
	db := probe{c.lab.StartProber("http://"+dbVIP+"/", 10*time.Millisecond)}
	t.Cleanup(db.Stop)
	web.waitFor(t, "a")
	db.waitFor(t, "b")
	c.onlyHolder(webVIP, "a")
	c.onlyHolder(dbVIP, "b")

	// a loses every cable: b and c agree it is dead, fence it (the lab
	// powers it off) and b, next in web's preference, takes web. db stays.
	c.powerCycle("a", func() {
		web.waitFor(t, "b")
		if st := c.nodeState("a"); st != "off" {
			t.Errorf("a is %q after web moved, want off (fenced)", st)
		}
		c.recorded("b", "node_dead a ")
		c.recorded("b", "fenced a ")
		c.recorded("b", "group_started b web")
		db.holds(t, "b", time.Second)
	})
	// a is back: web fails back to it (failback on).
	web.waitFor(t, "a")
	c.onlyHolder(webVIP, "a")
	c.recorded("a", "group_started a web")

	// b loses every cable: c takes db (score 200); web stays on a. When b
	// returns, db stays on c (failback off).
	c.powerCycle("b", func() {
		db.waitFor(t, "c")
		web.holds(t, "a", time.Second)
	})
	db.holds(t, "c", 3*time.Second)
	c.onlyHolder(dbVIP, "c")

	// The operator moves web to c, then clears the move: failback places
	// it on a again.
	c.mustHactl(0, "failover", "web", "--to", "c")
	web.waitFor(t, "c")
	c.onlyHolder(webVIP, "c")
	c.mustHactl(0, "failover", "web", "--clear")
	web.waitFor(t, "a")
	c.onlyHolder(webVIP, "a")

	// db's VIP changes address: plan names the change, apply moves it,
	// and the old address is gone from every node.
	path := filepath.Join(c.dir, "cluster.hcl")
	editFile(t, path, `address = "`+dbVIP+`/24"`, `address = "192.168.0.111/24"`)
	if out := c.mustHactl(0, "plan"); !strings.Contains(out, "192.168.0.111") {
		t.Errorf("plan does not name the new address:\n%s", out)
	}
	c.mustHactl(0, "apply", "--auto-approve")
	moved := probe{c.lab.StartProber("http://192.168.0.111/", 10*time.Millisecond)}
	t.Cleanup(moved.Stop)
	moved.waitFor(t, "c")
	deadline := time.Now().Add(20 * time.Second)
	for len(c.addrHolders(dbVIP, trio)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the old db address is still on %v", c.addrHolders(dbVIP, trio))
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.mustHactl(0, "drift")
	if out := c.mustHactl(0, "status"); strings.Contains(out, "FAILED") || strings.Contains(out, "DOWN") {
		t.Errorf("status at the end:\n%s", out)
	}
}
