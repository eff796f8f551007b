package guest

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/hactl/hactl/agentbin/lvs"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
)

// directorSpec is what hactl compiles for a director of the guide's
// LVS-NAT pair: the http service on IPVS, in group "directors", with the
// sync interface on the real servers' network.
func directorSpec(node string) *spec.Spec {
	return &spec.Spec{
		Node:   node,
		Groups: []spec.Group{{Name: "directors", Resources: []spec.Resource{{Kind: "vip", Name: "outside"}}}},
		VirtualServices: []spec.VirtualService{{
			Name: "http", VIP: "outside", Address: "192.168.3.181", Protocol: "tcp", Port: 80,
			Scheduler: "rr", Forwarding: "nat", Datapath: "ipvs", SyncInterface: "eth0",
			RealServers: []spec.RealServer{{Name: "f400", Address: "192.168.0.3", Port: 80, Weight: 1}, {Name: "dgx", Address: "192.168.0.27", Port: 80, Weight: 1}},
		}},
	}
}

// runRole runs the agent's lvs role for a director, in its namespace, as
// the agent there would, until the test ends.
func runRole(t *testing.T, h *host) *lvs.Role {
	t.Helper()
	state := "/run/" + h.name + "-state"
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := lvs.Kind{}.New(directorSpec(h.name), role.Env{Logger: log.New(os.Stderr, h.name+": ", log.Lmicroseconds), StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		// The thread stays in the namespace: the role opens its
		// datapath (netlink sockets) there. It is dropped when the
		// goroutine ends, locked.
		runtime.LockOSThread()
		if err := netns.Set(h.ns); err != nil {
			t.Errorf("%s: entering the namespace: %v", h.name, err)
			return
		}
		if err := r.Run(ctx); err != nil {
			t.Errorf("%s: the lvs role: %v", h.name, err)
		}
	})
	return r.(*lvs.Role)
}

// hasService says whether the host's IPVS has the service on the VIP's
// port 80.
func hasService(t *testing.T, h *host) bool {
	t.Helper()
	return strings.Contains(ipvsTable(t, h), "C0A803B5:0050")
}

// serving says whether the host's IPVS has the service with both real
// servers: a Sync creates the service before them.
func serving(t *testing.T, h *host) bool {
	t.Helper()
	table := ipvsTable(t, h)
	return strings.Contains(table, "C0A803B5:0050") && strings.Contains(table, "-> C0A80003:0050") && strings.Contains(table, "-> C0A8001B:0050")
}

func ipvsTable(t *testing.T, h *host) string {
	t.Helper()
	var data []byte
	if err := inNS(h.ns, func() (err error) { data, err = os.ReadFile("/proc/thread-self/net/ip_vs"); return err }); err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(cond) {
		t.Fatalf("waited 30s for %s", what)
	}
}

// eventually says whether cond becomes true within 30 s.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// ipvsadm runs the host's ipvsadm in h's namespace, chrooted in the
// host's file system, and returns what it printed (for diagnostics).
func ipvsadm(t *testing.T, h *host, args ...string) string {
	t.Helper()
	mountHost(t)
	cmd := exec.Command("/usr/sbin/ipvsadm", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: hostRoot}
	cmd.Dir = "/"
	var out []byte
	err := inNS(h.ns, func() (err error) { out, err = cmd.CombinedOutput(); return err })
	if err != nil {
		return fmt.Sprintf("ipvsadm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestFirstFailoverKeepsConnections runs the lvs role on both directors,
// as the agents do: the standby, which never held the VIP, runs the
// backup sync daemon from the start, so a connection established through
// the first active director survives the first failover.
func TestFirstFailoverKeepsConnections(t *testing.T) {
	needGuest(t)
	n := newLVSNAT(t)
	n.takeVIPs(t, nil, n.h2g)
	active, standby := runRole(t, n.h2g), runRole(t, n.c2g)
	active.GroupChanged(role.GroupChange{Group: "directors", Here: true})
	standby.GroupChanged(role.GroupChange{Group: "directors", Here: false})
	waitFor(t, "h2g's IPVS service", func() bool { return serving(t, n.h2g) })

	k := keep(t, n.client)
	first := k.first
	if !eventually(func() bool { return hasConn(t, n.c2g, "192.168.3.10") }) {
		for _, d := range []*host{n.h2g, n.c2g} {
			t.Logf("%s: ipvsadm -L -n -c --daemon:\n%s", d.name, ipvsadm(t, d, "-L", "-n", "-c"))
			t.Logf("%s: %s", d.name, ipvsadm(t, d, "-L", "--daemon"))
		}
		t.Fatalf("the standby's IPVS never received the connection from its backup sync daemon; drift: h2g %q, c2g %q", active.Drift(time.Now()), standby.Drift(time.Now()))
	}

	n.takeVIPs(t, n.h2g, n.c2g)
	standby.GroupChanged(role.GroupChange{Group: "directors", Here: true})
	active.GroupChanged(role.GroupChange{Group: "directors", Here: false})
	waitFor(t, "c2g's IPVS service", func() bool { return serving(t, n.c2g) })
	if again := k.ask(t); again != first {
		t.Fatalf("after the first failover the connection went to %s, before to %s", again, first)
	}
	if a := get(t, n.client); a != "f400" && a != "dgx" {
		t.Fatalf("a new connection after the failover: %q", a)
	}
	waitFor(t, "h2g's IPVS service to go", func() bool { return !hasService(t, n.h2g) })
	t.Logf("first failover: the connection to %s survived", first)
}
