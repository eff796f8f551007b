package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
)

// Issue 15, found by the drill: an agent restart through its init script
// got its node fenced about half the time at the default 100ms deadtime —
// the restart is longer than deadtime, and nothing told the peer that the
// agent would be back with its groups still running. Now the stopping
// agent says so: the holder's agent restarts again and again, on the
// example's timing with lab fencing, and the VIP answers from it all
// along, no one is fenced and no one is declared dead.
func TestAgentRestartsAreNeitherFailoverNorFencing(t *testing.T) {
	// The example's heartbeat timing is hactl's defaults (20ms / 60ms /
	// 100ms / 5s): webCluster's shorter-than-the-guide's timing no longer
	// finds the guide's to replace.
	c := webCluster(t, labFenced)
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	c.waitAlive("c2g")
	start := time.Now()
	const restarts = 5
	for range restarts {
		c.onNode("h2g", layout.InitPath+" restart")
		time.Sleep(2 * time.Second)
	}
	for _, a := range p.Since(start) {
		if !a.OK || a.From != "h2g" {
			t.Fatalf("at %s the VIP answered %q (answered: %v), want h2g all along", a.Sent.Format("15:04:05.000"), a.From, a.OK)
		}
	}
	if log, err := os.ReadFile(c.lab.PDULogFile()); err == nil && strings.Contains(string(log), "/off/") {
		t.Errorf("the power switch was asked to power a node off:\n%s", log)
	}
	leaving := 0
	for _, ev := range c.agentEvents("c2g", start) {
		switch ev.Kind {
		case status.NodeDead, status.Fencing, status.Fenced:
			t.Errorf("c2g: %s %s %s", ev.Kind, ev.Node, ev.Detail)
		case status.NodeLeaving:
			leaving++
		}
	}
	if leaving != restarts {
		t.Errorf("c2g reported %d node_leaving events for %d restarts of h2g's agent", leaving, restarts)
	}
	c.oneHolder("h2g")
}
