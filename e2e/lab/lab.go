package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/plan/topology"
)

// Options tune Up.
type Options struct {
	// Name names the lab and its state directory; default: the cluster's
	// name, else "lab".
	Name string
	// Replace tears down an existing lab of the same name first, instead of
	// refusing. Tests use it so that a crashed run never blocks the next.
	Replace bool
	// BootTimeout bounds the wait for every node's sshd; default 60s.
	BootTimeout time.Duration
}

// Lab is a running lab.
type Lab struct {
	dir string
	st  *state
}

// ErrExists is returned by Up when a lab of the same name exists.
var ErrExists = errors.New("a lab of that name is already up")

// Up builds a lab for the topology. On failure it removes what it made.
func Up(ctx context.Context, topo *topology.Topology, opts Options) (*Lab, error) {
	name := opts.Name
	if name == "" {
		name = strings.ToLower(topo.Cluster.Name)
	}
	if name == "" {
		name = "lab"
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	pf, err := preflight()
	if err != nil {
		return nil, err
	}
	unlock, err := lockLab()
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir := dirOf(name)
	if _, err := os.Stat(dir); err == nil {
		if !opts.Replace {
			return nil, fmt.Errorf("%w: %s (state in %s); take it down with `hactl lab down --name %s`, or replace it", ErrExists, name, dir, name)
		}
		if err := down(ctx, name); err != nil {
			return nil, fmt.Errorf("replacing lab %s: %w", name, err)
		}
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	st, err := newState(topo, name, id)
	if err != nil {
		return nil, fmt.Errorf("laying out lab %s: %w", name, err)
	}
	st.Created = time.Now().UTC()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	// From here on the state file says what may exist, so Down can undo it.
	if err := saveState(st); err != nil {
		return nil, err
	}
	l := &Lab{dir: dir, st: st}
	if err := l.build(ctx, pf, opts); err != nil {
		if derr := down(context.WithoutCancel(ctx), name); derr != nil {
			return nil, fmt.Errorf("%w (and cleaning up: %v)", err, derr)
		}
		return nil, err
	}
	return l, nil
}

// build creates the namespaces, networks, keys and nodes of a laid-out lab.
func (l *Lab) build(ctx context.Context, pf *programs, opts Options) error {
	st := l.st
	for _, ns := range st.namespaces() {
		if err := createNetns(ns); err != nil {
			return err
		}
	}
	if err := wire(st); err != nil {
		return fmt.Errorf("wiring the lab's networks: %w", err)
	}
	operator, err := newKeyPair("hactl-lab-" + st.Name)
	if err != nil {
		return err
	}
	token, err := newPDUToken(l.dir)
	if err != nil {
		return err
	}
	hostKeys := map[string]*keyPair{}
	for _, n := range st.Nodes {
		if hostKeys[n.Name], err = newKeyPair("root@" + n.Name); err != nil {
			return err
		}
		nodeDir := filepath.Join(l.dir, "nodes", n.Name)
		if err := os.MkdirAll(nodeDir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", nodeDir, err)
		}
		spec := nodeSpec(st, n, filepath.Join(nodeDir, "disk"), hostKeys[n.Name], operator, token, pf.nginx)
		b, err := json.MarshalIndent(spec, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding the boot spec of %s: %w", n.Name, err)
		}
		if err := writeFileAtomic(filepath.Join(nodeDir, "boot.json"), b, 0o600); err != nil {
			return err
		}
	}
	if err := writeOperatorFiles(l.dir, st, operator, hostKeys); err != nil {
		return err
	}
	if err := startPDU(l.dir, st); err != nil {
		return err
	}
	for _, n := range st.Nodes {
		if err := bootNode(l.dir, n); err != nil {
			return err
		}
	}
	if err := saveState(st); err != nil {
		return err
	}
	timeout := opts.BootTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, n := range st.Nodes {
		if err := l.waitSSH(ctx, n); err != nil {
			return err
		}
	}
	return l.waitPDU(ctx)
}

// newID returns a short random id for the lab's namespace names.
func newID() (string, error) {
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a lab id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Open returns the lab of that name, from its state.
func Open(name string) (*Lab, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	st, err := loadState(name)
	if err != nil {
		if errNotExist(err) {
			return nil, fmt.Errorf("no lab named %s is up", name)
		}
		return nil, err
	}
	return &Lab{dir: dirOf(name), st: st}, nil
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.st.Name }

// Dir is the lab's state directory.
func (l *Lab) Dir() string { return l.dir }

// Nodes returns the names of the lab's nodes, in the file's order.
func (l *Lab) Nodes() []string {
	names := make([]string, len(l.st.Nodes))
	for i, n := range l.st.Nodes {
		names[i] = n.Name
	}
	return names
}

// Namespaces returns the names of the lab's network namespaces (under
// /run/netns).
func (l *Lab) Namespaces() []string { return l.st.namespaces() }

// ConsoleLog is the file that collects a node's init and services output.
func (l *Lab) ConsoleLog(node string) string {
	return filepath.Join(l.dir, "nodes", node, "console.log")
}

// SSHAddress returns host:port at which ctl reaches a node's sshd.
func (l *Lab) SSHAddress(node string) (string, error) {
	n, err := l.st.node(node)
	if err != nil {
		return "", err
	}
	return dialAddr(n), nil
}

// KeyFile, KnownHostsFile and SSHConfigFile are the operator's SSH files.
func (l *Lab) KeyFile() string { return filepath.Join(l.dir, keyFile) }

// KnownHostsFile holds every node's host key under its SSH address.
func (l *Lab) KnownHostsFile() string { return filepath.Join(l.dir, knownHostsFile) }

// SSHConfigFile is an ssh_config reaching every node by name.
func (l *Lab) SSHConfigFile() string { return filepath.Join(l.dir, sshConfigFile) }

// CtlEnv is the environment that makes hactl in ctl use the lab's key and
// known_hosts.
func (l *Lab) CtlEnv() []string { return ctlEnv(l.dir, l.st.Name) }

// Targets where commands run: a node's name, or one of these.
const (
	Ctl    = "ctl"
	Client = "client"
)

// Command returns a command that runs argv in a target: a node (its
// network, mount, UTS, IPC and PID namespaces, as root with a clean
// environment), or Ctl or Client (their network namespace only; ctl also
// gets CtlEnv).
func (l *Lab) Command(ctx context.Context, target string, argv ...string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command to run")
	}
	switch target {
	case Ctl, Client:
		ns := l.st.Ctl
		env := append(os.Environ(), l.CtlEnv()...)
		if target == Client {
			ns, env = l.st.Client, os.Environ()
		}
		cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + netnsPath(ns.Netns), "--"}, argv...)...)
		cmd.Env = env
		return cmd, nil
	}
	n, err := l.st.node(target)
	if err != nil {
		return nil, err
	}
	if !l.initAlive(n) {
		how := "down"
		if n.Off {
			how = "powered off"
		}
		return nil, fmt.Errorf("node %s is %s; start it with `hactl lab restart %s`", n.Name, how, n.Name)
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{
		"--target", fmt.Sprint(n.InitPid), "--net", "--mount", "--uts", "--ipc", "--pid", "--root", "--wd", "--",
	}, argv...)...)
	env := append([]string{}, nodeEnv...)
	if t := os.Getenv("TERM"); t != "" {
		env = append(env, "TERM="+t)
	}
	cmd.Env = env
	return cmd, nil
}

// Exec runs argv in a target (see Command) and returns its combined
// output. When ctx ends, the command and its children are killed.
func (l *Lab) Exec(ctx context.Context, target string, argv ...string) ([]byte, error) {
	cmd, err := l.Command(ctx, target, argv...)
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %s: %w", target, strings.Join(argv, " "), err)
	}
	return out, nil
}

// Shell returns an interactive shell in ctl, whose environment and
// aliases make ssh and hactl reach the nodes with the lab's key.
func (l *Lab) Shell(ctx context.Context) (*exec.Cmd, error) {
	return l.Command(ctx, Ctl, "bash", "--rcfile", filepath.Join(l.dir, bashrcFile), "-i")
}

// Dial connects from a target's network namespace (a node, Ctl or
// Client), as a process there would.
func (l *Lab) Dial(ctx context.Context, target, network, address string) (net.Conn, error) {
	ns, err := l.netnsOf(target)
	if err != nil {
		return nil, err
	}
	var c net.Conn
	err = inNetns(ns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: dialing %s: %w", target, address, err)
	}
	return c, nil
}

// HTTPClient returns an HTTP client whose connections start in a target's
// network namespace; it never reuses connections.
func (l *Lab) HTTPClient(target string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Dial(ctx, target, network, addr)
		},
		DisableKeepAlives: true,
	}}
}

// netnsOf returns the network namespace of a target.
func (l *Lab) netnsOf(target string) (string, error) {
	switch target {
	case Ctl:
		return l.st.Ctl.Netns, nil
	case Client:
		return l.st.Client.Netns, nil
	}
	n, err := l.st.node(target)
	if err != nil {
		return "", err
	}
	return n.Netns, nil
}

// initAlive reports whether a node's init runs, in the node's network.
func (l *Lab) initAlive(n *nodeState) bool {
	if n.InitPid == 0 {
		return false
	}
	want, err := nsIDOf(netnsPath(n.Netns))
	if err != nil {
		return false
	}
	got, err := nsIDOf(fmt.Sprintf("/proc/%d/ns/net", n.InitPid))
	if err != nil || got != want {
		return false
	}
	s := procState(n.InitPid)
	return s != 0 && s != 'Z'
}

// Describe writes what the lab is made of and how to use it.
func (l *Lab) Describe(w io.Writer) {
	st := l.st
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "lab %s is up (state in %s)\n\nnetworks:\n", st.Name, l.dir)
	for _, n := range st.Networks {
		fmt.Fprintf(bw, "  %-12s %s\n", n.Name, n.Prefix)
	}
	fmt.Fprintln(bw, "\nnodes:")
	for _, n := range st.Nodes {
		var ifs []string
		for _, i := range n.Ifaces {
			ifs = append(ifs, fmt.Sprintf("%s %s (%s)", i.Name, i.Address, i.Network))
		}
		web := ""
		if len(n.HTTPPorts) > 0 {
			web = fmt.Sprintf("; web server on port %s", joinInts(n.HTTPPorts))
		}
		fmt.Fprintf(bw, "  %-12s ssh %s@%s%s\n  %-12s %s\n", n.Name, n.SSHUser, dialAddr(n), web, "", strings.Join(ifs, ", "))
	}
	for _, ns := range []*nsState{st.Ctl, st.Client} {
		var ifs []string
		for _, i := range ns.Ifaces {
			ifs = append(ifs, fmt.Sprintf("%s %s (%s)", i.Name, i.Address, i.Network))
		}
		fmt.Fprintf(bw, "  %-12s %s\n", ns.Name, strings.Join(ifs, ", "))
	}
	fmt.Fprintf(bw, `
use it:
  hactl lab shell                        a shell in ctl: "ssh NODE", hactl plan/apply reach the nodes
  hactl lab exec NODE|ctl|client -- CMD  run a command in a node, ctl or client
  hactl lab cut NODE[:IFACE] | heal [NODE[:IFACE]] | partition A,B / C | loss NODE[:IFACE] PCT
  hactl lab kill | freeze | thaw | restart NODE
  hactl lab power NODE off|on|reboot     the power switch: off also takes the node's links down
  hactl lab status | down
power switch (fence type "lab"): port %d in ctl; every node's %s says where, with its token
ssh from ctl: ssh -F %s NODE
`, PDUPort, layout.LabPDUPath, l.SSHConfigFile())
}

// joinInts joins numbers with commas.
func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
