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
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/topology"
	_ "github.com/hactl/hactl/providers/all" // every block kind of the language
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
// completes within a time.
func reach(ctx context.Context, l *lab.Lab, from, addr string, within time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, within)
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

// Bounds for a check that should fail (short: the test waits it out) and
// for one that should succeed (long: a busy machine may be slow).
const (
	failFast = 1500 * time.Millisecond
	slowOK   = 10 * time.Second
)

// banner reads an SSH banner from a node within a time.
func banner(ctx context.Context, l *lab.Lab, node string, within time.Duration) error {
	addr, err := l.SSHAddress(node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	c, err := l.Dial(ctx, lab.Ctl, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(within))
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

// snapshot records a lab's namespaces (by inode) so that gone can tell,
// after Down, whether any process or mount of the lab is left.
type snapshot struct {
	dir   string
	netns map[uint64]string
}

func takeSnapshot(t *testing.T, l *lab.Lab) snapshot {
	t.Helper()
	s := snapshot{dir: l.Dir(), netns: map[uint64]string{}}
	for _, ns := range l.Namespaces() {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/run/netns", ns), &st); err != nil {
			t.Fatalf("lab namespace %s: %v", ns, err)
		}
		s.netns[st.Ino] = ns
	}
	return s
}

// gone checks that nothing of the lab is left: no namespace, no process
// in one of its namespaces or running from its directory, no mount.
func (s snapshot) gone(t *testing.T) {
	t.Helper()
	for _, ns := range s.netns {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			t.Errorf("namespace %s is left", ns)
		}
	}
	if _, err := os.Stat(s.dir); err == nil {
		t.Errorf("%s is left", s.dir)
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, s.dir) {
			t.Errorf("mount left: %s", line)
		}
		for _, ns := range s.netns {
			if strings.Contains(line, "/run/netns/"+ns+" ") {
				t.Errorf("mount left: %s", line)
			}
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if ns, ok := s.netns[st.Ino]; ok {
			t.Errorf("process %s left in %s: %s", p.Name(), ns, strings.ReplaceAll(string(cmdline), "\x00", " "))
		} else if strings.Contains(string(cmdline), s.dir+"/") {
			t.Errorf("process %s left: %s", p.Name(), strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
}

// exercise checks what every lab must do, whatever its topology: real
// SSH from ctl to every node, private files, the web servers of real
// servers reachable from client, a cut that stops exactly one link, freeze,
// thaw and kill.
func exercise(t *testing.T, l *lab.Lab, topo *topology.Topology) {
	ctx := t.Context()
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
		first := l.Nodes()[0]
		for _, p := range []string{"/var/lib/hactl-lab-test", "/etc/hactl-lab-test", "/usr/local/bin/hactl-lab-test", "/run/hactl-lab-test", "/tmp/hactl-lab-test", "/root/hactl-lab-test"} {
			if out, err := l.Exec(ctx, first, "sh", "-c", "echo "+first+" > "+p); err != nil {
				t.Fatalf("writing %s in %s: %v: %s", p, first, err, out)
			}
			if out, err := l.Exec(ctx, first, "cat", p); err != nil || string(out) != first+"\n" {
				t.Fatalf("%s cannot read back %s: %v: %q", first, p, err, out)
			}
			for _, other := range l.Nodes()[1:] {
				if out, err := l.Exec(ctx, other, "test", "-e", p); err == nil {
					t.Errorf("%s sees %s's %s: %s", other, first, p, out)
				}
			}
			if _, err := os.Stat(p); err == nil {
				t.Errorf("the host sees %s's %s", first, p)
			}
		}
	})

	t.Run("client reaches each real server's web server", func(t *testing.T) {
		for _, w := range webServers(topo) {
			got, err := httpGet(ctx, l, lab.Client, w.url)
			if err != nil || got != w.node+"\n" {
				t.Errorf("GET %s from client = %q, %v; want %s's name", w.url, got, err, w.node)
			}
		}
	})

	t.Run("a cut link stops exactly that traffic and heal restores it", func(t *testing.T) {
		n := topo.Nodes[0]
		ifc := n.Interfaces[0]
		cut := ssh(ifc.Address.Addr())
		if err := l.Cut(n.Name, ifc.Name); err != nil {
			t.Fatal(err)
		}
		eventually(t, n.Name+":"+ifc.Name+" unreachable after cut", func() bool { return !reach(ctx, l, lab.Ctl, cut, failFast) })
		for _, other := range topo.Nodes {
			for _, oi := range other.Interfaces {
				if addr := ssh(oi.Address.Addr()); addr != cut && !reach(ctx, l, lab.Ctl, addr, slowOK) {
					t.Errorf("ctl cannot reach %s (%s:%s) although only %s:%s is cut", addr, other.Name, oi.Name, n.Name, ifc.Name)
				}
			}
		}
		if err := l.Heal(n.Name, ifc.Name); err != nil {
			t.Fatal(err)
		}
		eventually(t, n.Name+":"+ifc.Name+" reachable after heal", func() bool { return reach(ctx, l, lab.Ctl, cut, slowOK) })
	})

	t.Run("freeze stops a node's programs and thaw resumes them", func(t *testing.T) {
		frozen := l.Nodes()[len(l.Nodes())-1]
		if err := l.Freeze(ctx, frozen); err != nil {
			t.Fatal(err)
		}
		checkStates(t, l, frozen, lab.StateFrozen)
		if err := banner(ctx, l, frozen, failFast); err == nil {
			t.Errorf("frozen %s's sshd still answers", frozen)
		}
		for _, n := range l.Nodes() {
			if n == frozen {
				continue
			}
			if err := banner(ctx, l, n, slowOK); err != nil {
				t.Errorf("%s stopped answering while %s is frozen: %v", n, frozen, err)
			}
		}
		if err := l.Thaw(frozen); err != nil {
			t.Fatal(err)
		}
		eventually(t, frozen+" answers after thaw", func() bool { return banner(ctx, l, frozen, slowOK) == nil })
		checkStates(t, l, "", "")
	})

	t.Run("kill ends exactly a node's processes and restart boots it", func(t *testing.T) {
		killed := l.Nodes()[len(l.Nodes())-1]
		if err := l.Kill(ctx, killed); err != nil {
			t.Fatal(err)
		}
		checkStates(t, l, killed, lab.StateDown)
		if _, err := l.Exec(ctx, killed, "true"); err == nil {
			t.Error("exec in a killed node works")
		}
		if err := banner(ctx, l, killed, failFast); err == nil {
			t.Errorf("killed %s's sshd still answers", killed)
		}
		if err := l.Restart(ctx, killed); err != nil {
			console, _ := os.ReadFile(l.ConsoleLog(killed))
			t.Fatalf("%v\nconsole of %s:\n%s", err, killed, console)
		}
		if got, err := sshHostname(ctx, l, killed); err != nil || got != killed {
			t.Errorf("ssh %s after restart: %q, %v", killed, got, err)
		}
		checkStates(t, l, "", "")
	})
}

// checkStates checks that node is in state want and every other node up.
func checkStates(t *testing.T, l *lab.Lab, node, want string) {
	t.Helper()
	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		w := lab.StateUp
		if n.Name == node {
			w = want
		}
		if n.State != w {
			t.Errorf("%s is %s (%d processes), want %s", n.Name, n.State, n.Processes, w)
		}
	}
}

// ssh is a node address's SSH endpoint.
func ssh(a netip.Addr) string { return netip.AddrPortFrom(a, 22).String() }

type webServer struct{ node, url string }

// webServers lists the web servers the topology's real servers and proxy
// backends must run, worked out from the topology independently of the
// lab.
func webServers(topo *topology.Topology) []webServer {
	var ws []webServer
	for _, vs := range topo.VirtualServices {
		for _, rs := range vs.RealServers {
			port := rs.Port
			if port == 0 {
				port = vs.Port
			}
			if rs.Node != nil && (vs.Protocol == "" || vs.Protocol == "tcp") {
				ws = append(ws, webServer{rs.Node.Name, fmt.Sprintf("http://%s/", netip.AddrPortFrom(rs.Address, uint16(port)))})
			}
		}
	}
	for _, p := range topo.Proxies {
		for _, s := range p.Services {
			for _, b := range s.Backends {
				if b.Node == nil || b.Kind == "redirect" {
					continue
				}
				host := b.Address
				if host == "" {
					host = b.Node.Interfaces[0].Address.Addr().String()
				}
				ws = append(ws, webServer{b.Node.Name, fmt.Sprintf("http://%s:%d/", host, b.Port)})
			}
		}
	}
	return ws
}

func TestLab(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	name := "labtest"
	topo := activePassive()
	l := up(t, topo, name)
	snap := takeSnapshot(t, l)
	exercise(t, l, topo)

	t.Run("c2g reaches h2g on one network while the other is cut", func(t *testing.T) {
		if err := l.Cut("h2g", "eth0"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "c2g loses h2g on lan", func() bool { return !reach(ctx, l, "c2g", "192.168.0.1:22", failFast) })
		if !reach(ctx, l, "c2g", "10.0.0.1:22", slowOK) {
			t.Error("c2g cannot reach h2g on the heartbeat network")
		}
		if err := l.HealAll(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "c2g reaches h2g on lan after heal", func() bool { return reach(ctx, l, "c2g", "192.168.0.1:22", slowOK) })
	})

	t.Run("partition splits the nodes and heal joins them", func(t *testing.T) {
		if err := l.Partition(ctx, [][]string{{"h2g", "web1"}, {"c2g"}}); err != nil {
			t.Fatal(err)
		}
		if reach(ctx, l, "h2g", "192.168.0.2:22", failFast) || reach(ctx, l, "h2g", "10.0.0.2:22", failFast) {
			t.Error("h2g reaches c2g across the partition")
		}
		if !reach(ctx, l, "h2g", "192.168.0.3:22", slowOK) {
			t.Error("h2g cannot reach web1 on its own side")
		}
		if !reach(ctx, l, lab.Ctl, "192.168.0.2:22", slowOK) {
			t.Error("ctl cannot reach c2g during the partition")
		}
		if err := l.HealAll(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "h2g reaches c2g after heal", func() bool { return reach(ctx, l, "h2g", "192.168.0.2:22", slowOK) })
	})

	t.Run("loss drops packets", func(t *testing.T) {
		how, err := l.Loss(ctx, "c2g", "eth1", 100)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("loss: %s", how)
		eventually(t, "c2g:eth1 unreachable at 100% loss", func() bool { return !reach(ctx, l, lab.Ctl, "10.0.0.2:22", failFast) })
		if !reach(ctx, l, lab.Ctl, "192.168.0.2:22", slowOK) {
			t.Error("loss on c2g:eth1 also hit c2g:eth0")
		}
		if _, err := l.Loss(ctx, "c2g", "eth1", 0); err != nil {
			t.Fatal(err)
		}
		eventually(t, "c2g:eth1 reachable after loss 0", func() bool { return reach(ctx, l, lab.Ctl, "10.0.0.2:22", slowOK) })
	})

	t.Run("a restart keeps the disk and empties /run", func(t *testing.T) {
		if out, err := l.Exec(ctx, "web1", "sh", "-c", "echo disk > /var/lib/survives; echo ram > /run/vanishes"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if err := l.Restart(ctx, "web1"); err != nil {
			t.Fatal(err)
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
		snap.gone(t)
	})
}

// TestExamples brings every example up as a lab and exercises it.
func TestExamples(t *testing.T) {
	needRoot(t)
	files, err := filepath.Glob("../../examples/*/cluster.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			// The examples name key files their operator makes; loading
			// reads them, so each example is loaded beside the tests'
			// stand-ins.
			work := t.TempDir()
			if err := os.CopyFS(work, os.DirFS("../../cmd/hactl/testdata/example-secrets")); err != nil {
				t.Fatal(err)
			}
			hcl, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(work, "cluster.hcl"), hcl, 0o644); err != nil {
				t.Fatal(err)
			}
			res, diags := config.Load(work, config.Options{Environ: []string{}})
			if diags.HasErrors() {
				t.Fatalf("loading %s: %v", dir, diags)
			}
			l := up(t, res.Topology, "ex-"+filepath.Base(dir))
			snap := takeSnapshot(t, l)
			exercise(t, l, res.Topology)
			if err := l.Down(t.Context()); err != nil {
				t.Fatal(err)
			}
			snap.gone(t)
		})
	}
}
