package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/e2e/lab"
)

// What leaves the configuration leaves the hosts: a VIP whose address
// changed, a removed group, everything at destroy. And what the
// configuration does not account for on a host, plan and drift report.
// (Issue #9, item 3: each of these was left behind while plan said "No
// changes" and drift "No drift".)

// holders lists the nodes with addr on an interface.
func (c *cluster) holders(addr string) []string {
	c.t.Helper()
	var out []string
	for _, n := range []string{"h2g", "c2g"} {
		if strings.Contains(c.onNode(n, "ip -o addr show"), " "+addr+"/") {
			out = append(out, n)
		}
	}
	return out
}

// waitNoHolder waits until no node has addr.
func (c *cluster) waitNoHolder(addr string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := c.holders(addr)
		if len(got) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s is still on %v", addr, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answers says whether addr answers the client over HTTP within a second.
func (c *cluster) answers(addr string) bool {
	c.t.Helper()
	client := c.lab.HTTPClient(lab.Client)
	client.Timeout = time.Second
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func (c *cluster) editHCL(edit func(string) string) {
	c.t.Helper()
	path := filepath.Join(c.dir, "cluster.hcl")
	if err := os.WriteFile(path, []byte(edit(mustRead(c.t, path))), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func TestChangedVIPAddressIsReleasedEverywhere(t *testing.T) {
	c := webCluster(t, nil)
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")

	const moved = "192.168.0.34"
	c.editHCL(func(s string) string { return strings.Replace(s, vip+"/24", moved+"/24", 1) })
	c.mustHactl(0, "apply", "--auto-approve")
	c.waitNoHolder(vip)
	if got := c.holders(moved); len(got) != 1 || got[0] != "h2g" {
		t.Fatalf("%s is on %v, want h2g alone", moved, got)
	}
	if c.answers(vip) {
		t.Errorf("the old address %s still answers the client", vip)
	}
	if out := c.mustHactl(0, "plan"); !strings.Contains(out, "No changes. The hosts match the configuration.") {
		t.Errorf("plan after the change:\n%s", out)
	}
	c.mustHactl(0, "drift")
}

// An address added by hand in the VIP's network: plan and drift name it,
// on the node that has it, and forget it once it is gone.
func TestAddressAddedByHandInAVIPNetworkIsReported(t *testing.T) {
	c := webCluster(t, nil)
	c.mustHactl(0, "drift")
	c.onNode("c2g", "ip addr add 192.168.0.99/24 dev eth0")
	want := regexp.MustCompile(`c2g[\s\S]*address 192\.168\.0\.99/24 on eth0 is in the network of VIP 192\.168\.0\.33/24`)
	if out := c.mustHactl(2, "drift"); !want.MatchString(out) {
		t.Errorf("drift does not report the address added by hand:\n%s", out)
	}
	if out := c.mustHactl(0, "plan"); !want.MatchString(out) || strings.Contains(out, "match the configuration") {
		t.Errorf("plan does not show the address added by hand:\n%s", out)
	}
	c.onNode("c2g", "ip addr del 192.168.0.99/24 dev eth0")
	c.mustHactl(0, "drift")
}

// destroy releases the VIP and stops the group's resources before it
// removes the agent.
func TestDestroyReleasesTheVIPAndStopsTheResources(t *testing.T) {
	c := webCluster(t, nil)
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	const dummyState = "ls /run/resource-agents 2>/dev/null || true"
	if out := c.onNode("h2g", dummyState); !strings.Contains(out, "Dummy") {
		t.Fatalf("h2g shows no state of the running Dummy resource in /run/resource-agents:\n%s", out)
	}
	c.mustHactl(0, "destroy", "--auto-approve")
	c.waitNoHolder(vip)
	if c.answers(vip) {
		t.Errorf("%s still answers after destroy", vip)
	}
	if out := c.onNode("h2g", dummyState); strings.Contains(out, "Dummy") {
		t.Errorf("h2g: the Dummy resource still runs after destroy:\n%s", out)
	}
}

// A group removed from the configuration while the agent of the node that
// runs it is down: the agent, started again by apply, still releases it,
// from its record.
func TestRemovedGroupIsReleasedByAnAgentThatWasDown(t *testing.T) {
	c := webCluster(t, nil)
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	// Stopping the agent leaves its groups running (a restart is not a
	// failover); c2g takes the group over meanwhile.
	c.onNode("h2g", layout.InitPath+" stop")
	c.editHCL(func(s string) string {
		return regexp.MustCompile(`(?s)\ngroup "web" \{.*?\n\}\n`).ReplaceAllString(s, "\n")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := c.lab.Exec(ctx, "h2g", "sh", "-c", "ip -o addr show eth0"); err != nil || !strings.Contains(string(out), " "+vip+"/") {
		t.Fatalf("h2g no longer holds the VIP with its agent stopped (%v):\n%s", err, out)
	}
	c.mustHactl(0, "apply", "--auto-approve")
	c.waitNoHolder(vip)
	if c.answers(vip) {
		t.Errorf("%s still answers after its group was removed", vip)
	}
	c.mustHactl(0, "drift")
}
