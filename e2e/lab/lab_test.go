package lab_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/topology"
)

// needRoot skips a test that builds a lab when not run as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("building a lab needs root (namespaces, bridges, mounts); CI runs this as root")
	}
}

// activePassive is the book's first scenario plus a real server: h2g and
// c2g share a VIP on lan and heartbeat on hb; web1 is a real server.
func activePassive() *topology.Topology {
	lan := &topology.Network{Name: "lan", Prefix: netip.MustParsePrefix("192.168.0.0/24")}
	hb := &topology.Network{Name: "hb", Prefix: netip.MustParsePrefix("10.0.0.0/24")}
	node := func(name string, ifs ...*topology.Interface) *topology.Node {
		return &topology.Node{Name: name, Address: ifs[0].Address.Addr().String(), Interfaces: ifs}
	}
	ifc := func(name string, n *topology.Network, addr string) *topology.Interface {
		return &topology.Interface{Name: name, Network: n, Address: netip.MustParsePrefix(addr)}
	}
	h2g := node("h2g", ifc("eth0", lan, "192.168.0.1/24"), ifc("eth1", hb, "10.0.0.1/24"))
	c2g := node("c2g", ifc("eth0", lan, "192.168.0.2/24"), ifc("eth1", hb, "10.0.0.2/24"))
	web1 := node("web1", ifc("eth0", lan, "192.168.0.3/24"))
	vip := &topology.VIP{Name: "www", Address: netip.MustParsePrefix("192.168.0.33/24")}
	return &topology.Topology{
		Cluster:  topology.Cluster{Name: "labtest"},
		Networks: []*topology.Network{lan, hb},
		Nodes:    []*topology.Node{h2g, c2g, web1},
		Groups:   []*topology.Group{{Name: "web", Resources: []*topology.Resource{{Kind: topology.ResourceVIP, VIP: vip}}}},
		VirtualServices: []*topology.VirtualService{{
			Name: "http", VIP: vip, Protocol: "tcp", Port: 80,
			RealServers: []*topology.RealServer{{Name: "web1", Node: web1, Address: netip.MustParseAddr("192.168.0.3"), Port: 80}},
		}},
	}
}

// up starts a lab and takes it down when the test ends, checking that
// nothing is left behind.
func up(t *testing.T, topo *topology.Topology, name string) *lab.Lab {
	t.Helper()
	ctx := t.Context()
	start := time.Now()
	l, err := lab.Up(ctx, topo, lab.Options{Name: name, Replace: true})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Logf("lab %s up in %v", name, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// sshHostname runs `hostname` on a node over real SSH from ctl, with the
// lab key and strict host key checking.
func sshHostname(ctx context.Context, l *lab.Lab, node string) (string, error) {
	addr, err := l.SSHAddress(node)
	if err != nil {
		return "", err
	}
	host, port, _ := strings.Cut(addr, ":")
	out, err := l.Exec(ctx, lab.Ctl, "ssh", "-F", "/dev/null", "-i", l.KeyFile(),
		"-o", "UserKnownHostsFile="+l.KnownHostsFile(), "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-p", port, "root@"+host, "hostname")
	return strings.TrimSpace(string(out)), err
}

// reach reports whether a TCP connection from one target to host:port
// completes within a short time.
func reach(ctx context.Context, l *lab.Lab, from, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	c, err := l.Dial(ctx, from, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// eventually polls cond until it holds or a generous bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after 30s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// banner reads an SSH banner from a node within a short time.
func banner(ctx context.Context, l *lab.Lab, node string) error {
	addr, err := l.SSHAddress(node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	c, err := l.Dial(ctx, lab.Ctl, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(1500 * time.Millisecond))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("banner %q", line)
	}
	return nil
}

// httpGet fetches a URL from a target and returns the body.
func httpGet(ctx context.Context, l *lab.Lab, from, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := l.HTTPClient(from).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestLab(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	name := "labtest"
	l := up(t, activePassive(), name)
	netnsNames := l.Namespaces()
	netnsInodes := map[uint64]string{}
	for _, ns := range netnsNames {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/run/netns", ns), &st); err != nil {
			t.Fatalf("lab namespace %s: %v", ns, err)
		}
		netnsInodes[st.Ino] = ns
	}

	t.Run("ssh from ctl prints each node's name", func(t *testing.T) {
		for _, n := range l.Nodes() {
			got, err := sshHostname(ctx, l, n)
			if err != nil {
				t.Fatalf("ssh %s: %v: %s", n, err, got)
			}
			if got != n {
				t.Errorf("ssh %s hostname = %q", n, got)
			}
		}
	})

	t.Run("nodes do not see each other's files", func(t *testing.T) {
		for _, p := range []string{"/var/lib/hactl-lab-test", "/etc/hactl-lab-test", "/usr/local/bin/hactl-lab-test", "/run/hactl-lab-test", "/tmp/hactl-lab-test"} {
			if out, err := l.Exec(ctx, "h2g", "sh", "-c", "echo h2g > "+p); err != nil {
				t.Fatalf("writing %s in h2g: %v: %s", p, err, out)
			}
			if out, err := l.Exec(ctx, "h2g", "cat", p); err != nil || string(out) != "h2g\n" {
				t.Fatalf("h2g cannot read back %s: %v: %q", p, err, out)
			}
			if out, err := l.Exec(ctx, "c2g", "test", "-e", p); err == nil {
				t.Errorf("c2g sees h2g's %s: %s", p, out)
			}
			if _, err := os.Stat(p); err == nil {
				t.Errorf("the host sees h2g's %s", p)
			}
		}
	})

	t.Run("client reaches each real server's web server", func(t *testing.T) {
		got, err := httpGet(ctx, l, lab.Client, "http://192.168.0.3/")
		if err != nil || got != "web1\n" {
			t.Fatalf("GET web1 from client = %q, %v", got, err)
		}
	})

	t.Run("a cut link stops exactly that traffic and heal restores it", func(t *testing.T) {
		if err := l.Cut("h2g", "eth0"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "h2g:eth0 unreachable after cut", func() bool { return !reach(ctx, l, lab.Ctl, "192.168.0.1:22") })
		for _, a := range []string{"10.0.0.1:22", "192.168.0.2:22", "10.0.0.2:22", "192.168.0.3:22"} {
			if !reach(ctx, l, lab.Ctl, a) {
				t.Errorf("ctl cannot reach %s although only h2g:eth0 is cut", a)
			}
		}
		if !reach(ctx, l, "c2g", "10.0.0.1:22") {
			t.Error("c2g cannot reach h2g on the heartbeat network")
		}
		if reach(ctx, l, "c2g", "192.168.0.1:22") {
			t.Error("c2g still reaches h2g on lan after the cut")
		}
		if err := l.Heal("h2g", "eth0"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "h2g:eth0 reachable after heal", func() bool { return reach(ctx, l, lab.Ctl, "192.168.0.1:22") })
	})

	t.Run("partition splits the nodes and heal joins them", func(t *testing.T) {
		if err := l.Partition(ctx, [][]string{{"h2g", "web1"}, {"c2g"}}); err != nil {
			t.Fatal(err)
		}
		if reach(ctx, l, "h2g", "192.168.0.2:22") || reach(ctx, l, "h2g", "10.0.0.2:22") {
			t.Error("h2g reaches c2g across the partition")
		}
		if !reach(ctx, l, "h2g", "192.168.0.3:22") {
			t.Error("h2g cannot reach web1 on its own side")
		}
		if !reach(ctx, l, lab.Ctl, "192.168.0.2:22") {
			t.Error("ctl cannot reach c2g during the partition")
		}
		if err := l.HealAll(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "h2g reaches c2g after heal", func() bool { return reach(ctx, l, "h2g", "192.168.0.2:22") })
	})

	t.Run("loss drops packets", func(t *testing.T) {
		how, err := l.Loss(ctx, "c2g", "eth1", 100)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("loss: %s", how)
		eventually(t, "c2g:eth1 unreachable at 100% loss", func() bool { return !reach(ctx, l, lab.Ctl, "10.0.0.2:22") })
		if !reach(ctx, l, lab.Ctl, "192.168.0.2:22") {
			t.Error("loss on c2g:eth1 also hit c2g:eth0")
		}
		if _, err := l.Loss(ctx, "c2g", "eth1", 0); err != nil {
			t.Fatal(err)
		}
		eventually(t, "c2g:eth1 reachable after loss 0", func() bool { return reach(ctx, l, lab.Ctl, "10.0.0.2:22") })
	})

	t.Run("freeze stops a node's programs and thaw resumes them", func(t *testing.T) {
		if err := l.Freeze(ctx, "c2g"); err != nil {
			t.Fatal(err)
		}
		st, err := l.Status()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range st.Nodes {
			want := lab.StateUp
			if n.Name == "c2g" {
				want = lab.StateFrozen
			}
			if n.State != want {
				t.Errorf("%s is %s, want %s", n.Name, n.State, want)
			}
		}
		if err := banner(ctx, l, "c2g"); err == nil {
			t.Error("frozen c2g's sshd still answers")
		}
		if err := banner(ctx, l, "h2g"); err != nil {
			t.Errorf("h2g stopped answering while c2g is frozen: %v", err)
		}
		if err := l.Thaw("c2g"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "c2g answers after thaw", func() bool { return banner(ctx, l, "c2g") == nil })
	})

	t.Run("kill ends exactly a node's processes and restart boots it", func(t *testing.T) {
		if out, err := l.Exec(ctx, "web1", "sh", "-c", "echo disk > /var/lib/survives; echo ram > /run/vanishes"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if err := l.Kill(ctx, "web1"); err != nil {
			t.Fatal(err)
		}
		st, err := l.Status()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range st.Nodes {
			switch {
			case n.Name == "web1" && (n.State != lab.StateDown || n.Processes != 0):
				t.Errorf("web1 after kill: %s with %d processes", n.State, n.Processes)
			case n.Name != "web1" && n.State != lab.StateUp:
				t.Errorf("%s is %s after killing web1", n.Name, n.State)
			}
		}
		if _, err := l.Exec(ctx, "web1", "true"); err == nil {
			t.Error("exec in a killed node works")
		}
		if reach(ctx, l, lab.Ctl, "192.168.0.3:22") {
			t.Error("killed web1's sshd still accepts connections")
		}
		if err := l.Restart(ctx, "web1"); err != nil {
			console, _ := os.ReadFile(l.ConsoleLog("web1"))
			t.Fatalf("%v\nconsole of web1:\n%s", err, console)
		}
		if got, err := sshHostname(ctx, l, "web1"); err != nil || got != "web1" {
			t.Errorf("ssh web1 after restart: %q, %v", got, err)
		}
		if out, err := l.Exec(ctx, "web1", "cat", "/var/lib/survives"); err != nil || string(out) != "disk\n" {
			t.Errorf("/var/lib did not survive a restart: %q, %v", out, err)
		}
		if _, err := l.Exec(ctx, "web1", "test", "-e", "/run/vanishes"); err == nil {
			t.Error("/run survived a restart")
		}
		eventually(t, "web1 serves after restart", func() bool {
			got, err := httpGet(ctx, l, lab.Client, "http://192.168.0.3/")
			return err == nil && got == "web1\n"
		})
	})

	t.Run("up refuses a lab that exists", func(t *testing.T) {
		_, err := lab.Up(ctx, activePassive(), lab.Options{Name: name})
		if !errors.Is(err, lab.ErrExists) {
			t.Errorf("second up: %v, want ErrExists", err)
		}
	})

	t.Run("down leaves nothing behind and is idempotent", func(t *testing.T) {
		if err := l.Down(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Down(ctx); err != nil {
			t.Fatalf("second down: %v", err)
		}
		for _, ns := range netnsNames {
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
				t.Errorf("namespace %s is left", ns)
			}
		}
		if _, err := os.Stat(l.Dir()); err == nil {
			t.Errorf("%s is left", l.Dir())
		}
		mounts, _ := os.ReadFile("/proc/mounts")
		for _, line := range strings.Split(string(mounts), "\n") {
			if strings.Contains(line, lab.BaseDir) || strings.Contains(line, "/run/netns/hl") {
				t.Errorf("mount left: %s", line)
			}
		}
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			var st syscall.Stat_t
			if syscall.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) != nil {
				continue
			}
			if ns, ok := netnsInodes[st.Ino]; ok {
				cmdline, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
				t.Errorf("process %s left in %s: %s", p.Name(), ns, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
		out, _ := exec.Command("ps", "-eo", "pid,args").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, l.Dir()) {
				t.Errorf("process left: %s", line)
			}
		}
	})
}
