package lab_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/fence"
	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/topology"
)

// Environment variables that make this test binary, copied into a node,
// the agent's real fence client for the lab's power switch.
const (
	envFenceNode   = "HACTL_LAB_TEST_FENCE_NODE"
	envFenceAction = "HACTL_LAB_TEST_FENCE_ACTION"
	fenceHelper    = "/usr/local/bin/hactl-lab-fence-test"
)

func TestMain(m *testing.M) {
	if node := os.Getenv(envFenceNode); node != "" {
		os.Exit(fenceFromNode(node, os.Getenv(envFenceAction)))
	}
	os.Exit(m.Run())
}

// fenceFromNode fences a node as the agent does, with the lab fence type
// reading /etc/hactl-lab/pdu.
func fenceFromNode(node, action string) int {
	logger := log.New(os.Stderr, "", 0)
	f, err := fence.New(spec.Fence{Type: "lab", Action: action}, fence.Options{Logger: logger})
	if err == nil {
		err = f.Fence(context.Background(), node)
	}
	if err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}

// twoNodes is a pair sharing a VIP on lan and heartbeat on hb.
func twoNodes() *topology.Topology {
	topo := activePassive()
	topo.Cluster.Name = "pdutest"
	topo.Nodes = topo.Nodes[:2]
	topo.VirtualServices = nil
	return topo
}

// installFenceHelper copies this test binary into a node.
func installFenceHelper(t *testing.T, l *lab.Lab, node string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd, err := l.Command(t.Context(), node, "sh", "-c", "cat > "+fenceHelper+" && chmod 755 "+fenceHelper)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copying the fence helper into %s: %v: %s", node, err, out)
	}
}

// fenceFrom runs the real fence client in a node against another.
func fenceFrom(ctx context.Context, l *lab.Lab, from, target, action string) ([]byte, error) {
	cmd, err := l.Command(ctx, from, fenceHelper)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, envFenceNode+"="+target, envFenceAction+"="+action)
	return cmd.CombinedOutput()
}

// answers reports whether a host answers at addr from a target within a
// time: a refused connection is an answer too.
func answers(ctx context.Context, l *lab.Lab, from, addr string, within time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	c, err := l.Dial(ctx, from, "tcp", addr)
	if err == nil {
		c.Close()
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// nodeStatus returns one node's status.
func nodeStatus(t *testing.T, l *lab.Lab, node string) lab.NodeStatus {
	t.Helper()
	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Name == node {
			return n
		}
	}
	t.Fatalf("no node %s in the status", node)
	return lab.NodeStatus{}
}

// checkLinks checks that every link of a node is up, or every one down.
func checkLinks(t *testing.T, n lab.NodeStatus, up bool) {
	t.Helper()
	for _, li := range n.Links {
		if li.Up != up {
			t.Errorf("%s:%s is up=%t, want %t", n.Name, li.Interface, li.Up, up)
		}
	}
}

// pduLogHas waits until the power switch's log, as the status shows it,
// has a line with every one of the words.
func pduLogHas(t *testing.T, l *lab.Lab, words ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("the power switch's log shows %q", words), func() bool {
		st, err := l.Status()
		if err != nil || st.PDU == nil {
			return false
		}
		for _, line := range st.PDU.Recent {
			found := true
			for _, w := range words {
				found = found && strings.Contains(line, w)
			}
			if found {
				return true
			}
		}
		return false
	})
}

func TestPowerSwitch(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	l := up(t, twoNodes(), "pdutest")
	snap := takeSnapshot(t, l)
	const vip = "192.168.0.33"
	pdu := "192.168.0.254:6230" // ctl on lan

	var token string
	t.Run("every node has the switch's address and token, for root only", func(t *testing.T) {
		for _, n := range l.Nodes() {
			out, err := l.Exec(ctx, n, "sh", "-c", "stat -c %a "+layout.LabPDUPath+"; cat "+layout.LabPDUPath)
			if err != nil {
				t.Fatalf("%s: %v: %s", n, err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 3 || lines[0] != "600" || lines[1] != "address="+pdu || !strings.HasPrefix(lines[2], "token=") {
				t.Fatalf("%s's %s (mode, then content): %q", n, layout.LabPDUPath, lines)
			}
			if token != "" && lines[2] != "token="+token {
				t.Errorf("%s has another token", n)
			}
			token = strings.TrimPrefix(lines[2], "token=")
		}
		if len(token) < 32 {
			t.Errorf("token %q is short", token)
		}
	})

	t.Run("a wrong or missing token is refused and kills nothing", func(t *testing.T) {
		for _, auth := range []string{"Bearer wrong" + token, ""} {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+pdu+"/off/h2g", nil)
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := l.HTTPClient("c2g").Do(req)
			if err != nil {
				t.Fatalf("POST from c2g: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST /off/h2g with %q: %d, want 401", strings.Fields(auth + " none")[0], resp.StatusCode)
			}
		}
		checkStates(t, l, "", "")
		checkLinks(t, nodeStatus(t, l, "h2g"), true)
		pduLogHas(t, l, "c2g (192.168.0.2)", "/off/h2g", "401")
	})

	installFenceHelper(t, l, "c2g")
	installFenceHelper(t, l, "h2g")
	if out, err := l.Exec(ctx, "h2g", "sh", "-c", "ip addr add "+vip+"/24 dev eth0 && echo disk > /var/lib/survives"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	eventually(t, "the VIP answers on h2g", func() bool { return answers(ctx, l, lab.Ctl, vip+":9", slowOK) })

	t.Run("the fence client in c2g powers h2g off", func(t *testing.T) {
		if out, err := fenceFrom(ctx, l, "c2g", "h2g", "off"); err != nil {
			t.Fatalf("fencing h2g from c2g: %v: %s", err, out)
		}
		h2g := nodeStatus(t, l, "h2g")
		if h2g.State != lab.StateOff || h2g.Processes != 0 {
			t.Errorf("h2g is %s with %d processes, want off with none", h2g.State, h2g.Processes)
		}
		checkLinks(t, h2g, false)
		if c2g := nodeStatus(t, l, "c2g"); c2g.State != lab.StateUp {
			t.Errorf("c2g is %s", c2g.State)
		}
		for _, addr := range []string{"192.168.0.1:22", "10.0.0.1:22", vip + ":9"} {
			if answers(ctx, l, lab.Ctl, addr, failFast) {
				t.Errorf("%s answers ctl while h2g is off", addr)
			}
		}
		if _, err := l.Exec(ctx, "h2g", "true"); err == nil {
			t.Error("exec in h2g works while it is off")
		}
		pduLogHas(t, l, "c2g (192.168.0.2)", "POST /off/h2g", "200")
		var buf bytes.Buffer
		st, err := l.Status()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Write(&buf); err != nil {
			t.Fatal(err)
		}
		if out := buf.String(); !strings.Contains(out, "power switch: running") || !strings.Contains(out, "POST /off/h2g") || strings.Contains(out, token) {
			t.Errorf("status does not show the switch and its log, or shows the token:\n%s", out)
		}
		// Fencing a node that is off again succeeds: it is off.
		if out, err := fenceFrom(ctx, l, "c2g", "h2g", "off"); err != nil {
			t.Errorf("fencing h2g again: %v: %s", err, out)
		}
	})

	t.Run("heal leaves an off node's links down", func(t *testing.T) {
		if err := l.HealAll(ctx); err != nil {
			t.Fatal(err)
		}
		checkLinks(t, nodeStatus(t, l, "h2g"), false)
	})

	t.Run("restart brings h2g back, with its disk and without the VIP", func(t *testing.T) {
		if err := l.Restart(ctx, "h2g"); err != nil {
			console, _ := os.ReadFile(l.ConsoleLog("h2g"))
			t.Fatalf("%v\nconsole of h2g:\n%s", err, console)
		}
		if got, err := sshHostname(ctx, l, "h2g"); err != nil || got != "h2g" {
			t.Errorf("ssh h2g after restart: %q, %v", got, err)
		}
		checkStates(t, l, "", "")
		checkLinks(t, nodeStatus(t, l, "h2g"), true)
		if out, err := l.Exec(ctx, "h2g", "cat", "/var/lib/survives", layout.LabPDUPath); err != nil || !strings.HasPrefix(string(out), "disk\naddress=") {
			t.Errorf("h2g's /var and /etc after restart: %q, %v", out, err)
		}
		if out, err := l.Exec(ctx, "h2g", "ip", "-o", "addr", "show", "dev", "eth0"); err != nil || strings.Contains(string(out), vip+"/") {
			t.Errorf("h2g kept the VIP across a power cycle: %v: %s", err, out)
		}
		if !answers(ctx, l, lab.Ctl, "10.0.0.1:22", slowOK) {
			t.Error("h2g's hb address does not answer after restart")
		}
	})

	t.Run("a reboot from h2g powers c2g off and on again", func(t *testing.T) {
		if out, err := fenceFrom(ctx, l, "h2g", "c2g", "reboot"); err != nil {
			t.Fatalf("rebooting c2g from h2g: %v: %s", err, out)
		}
		pduLogHas(t, l, "h2g (192.168.0.1)", "POST /reboot/c2g", "200")
		pduLogHas(t, l, "c2g is powered on again")
		eventually(t, "c2g answers after the reboot", func() bool { return banner(ctx, l, "c2g", slowOK) == nil })
		checkStates(t, l, "", "")
		checkLinks(t, nodeStatus(t, l, "c2g"), true)
	})

	t.Run("power off, on and reboot from the lab", func(t *testing.T) {
		if err := l.PowerOff(ctx, "c2g"); err != nil {
			t.Fatal(err)
		}
		checkStates(t, l, "c2g", lab.StateOff)
		if err := l.PowerOn(ctx, "c2g"); err != nil {
			t.Fatal(err)
		}
		checkStates(t, l, "", "")
		if err := l.Reboot(ctx, "c2g"); err != nil {
			t.Fatal(err)
		}
		checkStates(t, l, "", "")
		checkLinks(t, nodeStatus(t, l, "c2g"), true)
	})

	t.Run("down leaves no power switch", func(t *testing.T) {
		st, err := l.Status()
		if err != nil || st.PDU == nil || !st.PDU.Running {
			t.Fatalf("the power switch is not running before down: %+v, %v", st, err)
		}
		if err := l.Down(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the power switch is gone", func() bool {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.PDU.Pid))
			return err != nil || strings.Contains(string(b), ") Z ")
		})
		snap.gone(t)
	})
}
