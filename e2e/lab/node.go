package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/layout"
)

// Environment variables that make this package's code, re-executed from
// the running binary, act as a node's init, the built-in web server or the
// lab's power switch.
const (
	envRole      = "HACTL_LAB_ROLE"
	envBoot      = "HACTL_LAB_BOOT"
	envHTTPPorts = "HACTL_LAB_HTTP_PORTS"
	envHTTPBody  = "HACTL_LAB_HTTP_BODY"
)

// init turns the process into a node's init, a web server or the power
// switch when the lab re-executes the binary for that: every binary that
// imports this package (hactl, the e2e tests) can then run a lab without
// extra wiring.
func init() {
	var err error
	switch os.Getenv(envRole) {
	case "":
		return
	case "init":
		err = nodeInit(os.Getenv(envBoot))
	case "httpd":
		err = httpd(os.Getenv(envHTTPPorts), os.Getenv(envHTTPBody))
	case "pdu":
		err = pduDaemon(os.Getenv(envLab))
	default:
		err = fmt.Errorf("unknown %s %q", envRole, os.Getenv(envRole))
	}
	fmt.Fprintln(os.Stderr, "hactl-lab:", err)
	os.Exit(1)
}

// bootSpec is what a node's init does, written by the lab and read by init.
type bootSpec struct {
	Hostname string     `json:"hostname"`
	Overlays []overlay  `json:"overlays"` // private copies of host directories
	Binds    []bindDir  `json:"binds"`    // private directories
	Remove   []string   `json:"remove"`   // host files the node must not see
	Files    []bootFile `json:"files"`
	Users    []string   `json:"users,omitempty"` // login users to create
	UserKey  string     `json:"user_key"`        // authorized key for Users
	Services []service  `json:"services"`
}

type overlay struct {
	Target, Upper, Work string
}

type bindDir struct {
	Source, Target string
}

type bootFile struct {
	Path string      `json:"path"`
	Mode os.FileMode `json:"mode"`
	Data string      `json:"data"`
}

// service is a daemon init starts. An Argv[0] of "self" is this binary.
type service struct {
	Name string   `json:"name"`
	Argv []string `json:"argv"`
	Env  []string `json:"env,omitempty"`
}

// nodeEnv is the environment of processes in nodes.
var nodeEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LANG=C.UTF-8",
	"USER=root",
	"LOGNAME=root",
}

// privateDirs are the host directories a node gets a private, writable
// copy of (an overlay whose upper layer is the node's disk), and the
// directories it gets empty and private.
var (
	overlayDirs = []string{"/etc", "/usr/local", "/var", "/opt", "/srv"}
	freshDirs   = []string{"/root", "/home"}
	tmpfsDirs   = []string{"/run", "/tmp", "/dev/shm"}
)

// nodeSpec computes a node's boot spec; disk is its directory in the
// lab's state.
func nodeSpec(st *state, n *nodeState, disk string, hostKey, operator *keyPair, pduToken, nginx string) bootSpec {
	spec := bootSpec{Hostname: n.Name, UserKey: operator.public}
	for _, d := range overlayDirs {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		base := strings.ReplaceAll(strings.TrimPrefix(d, "/"), "/", "_")
		spec.Overlays = append(spec.Overlays, overlay{Target: d, Upper: filepath.Join(disk, "upper", base), Work: filepath.Join(disk, "work", base)})
	}
	for _, d := range freshDirs {
		spec.Binds = append(spec.Binds, bindDir{Source: filepath.Join(disk, strings.TrimPrefix(d, "/")), Target: d})
	}
	for _, k := range []string{"rsa", "ecdsa", "ed25519", "dsa"} {
		spec.Remove = append(spec.Remove, "/etc/ssh/ssh_host_"+k+"_key", "/etc/ssh/ssh_host_"+k+"_key.pub")
	}
	spec.Remove = append(spec.Remove, "/etc/ssh/sshd_config.d")
	spec.Files = []bootFile{
		{Path: "/etc/hostname", Mode: 0o644, Data: n.Name + "\n"},
		{Path: "/etc/hosts", Mode: 0o644, Data: hostsFile(st)},
		{Path: "/etc/ssh/sshd_config", Mode: 0o644, Data: sshdConfig(n.SSHPort)},
		{Path: "/etc/ssh/ssh_host_ed25519_key", Mode: 0o600, Data: string(hostKey.private)},
		{Path: "/etc/ssh/ssh_host_ed25519_key.pub", Mode: 0o644, Data: hostKey.public + "\n"},
		{Path: "/root/.ssh/authorized_keys", Mode: 0o600, Data: operator.public + "\n"},
		pduFile(st, n, pduToken),
	}
	if n.SSHUser != "root" {
		spec.Users = []string{n.SSHUser}
	}
	spec.Services = []service{{Name: "sshd", Argv: []string{"/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config"}}}
	if len(n.HTTPPorts) == 0 {
		return spec
	}
	body := n.Name + "\n"
	if nginx != "" {
		spec.Files = append(spec.Files, bootFile{Path: "/etc/nginx/hactl-lab.conf", Mode: 0o644, Data: nginxConfig(n.HTTPPorts, body)})
		spec.Services = append(spec.Services, service{Name: "nginx", Argv: []string{nginx, "-e", "stderr", "-c", "/etc/nginx/hactl-lab.conf"}})
		return spec
	}
	ports := make([]string, len(n.HTTPPorts))
	for i, p := range n.HTTPPorts {
		ports[i] = strconv.Itoa(p)
	}
	spec.Services = append(spec.Services, service{Name: "httpd", Argv: []string{"self"}, Env: []string{
		envRole + "=httpd", envHTTPPorts + "=" + strings.Join(ports, ","), envHTTPBody + "=" + body,
	}})
	return spec
}

// nginxConfig is a web server answering every request with body.
func nginxConfig(ports []int, body string) string {
	var listen strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&listen, "    listen %d;\n", p)
	}
	return fmt.Sprintf(`# Written by hactl lab: answers with the node's name.
daemon off;
worker_processes 1;
pid /run/nginx-lab.pid;
error_log stderr;
events { worker_connections 256; }
http {
  access_log off;
  server {
%s    location / { default_type text/plain; return 200 %q; }
  }
}
`, listen.String(), body)
}

// bootNode starts a node's init in new PID, mount, UTS and IPC namespaces
// joined to the node's network namespace, and records its pid.
func bootNode(dir string, n *nodeState) error {
	nodeDir := filepath.Join(dir, "nodes", n.Name)
	env := []string{envRole + "=init", envBoot + "=" + filepath.Join(nodeDir, "boot.json")}
	pid, start, err := startSelf(n.Netns, filepath.Join(nodeDir, "console.log"), env,
		unix.CLONE_NEWPID|unix.CLONE_NEWNS|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC)
	if err != nil {
		return fmt.Errorf("node %s: starting its init: %w", n.Name, err)
	}
	n.InitPid, n.InitStart = pid, start
	return nil
}

// startSelf starts this program, in its own session, in a network
// namespace (and new namespaces of cloneflags), with nodeEnv and env, its
// output appended to logPath. It returns its pid and start time; it is
// reaped if it dies while this process lives, and is killed by pid.
func startSelf(netns, logPath string, env []string, cloneflags uintptr) (int, uint64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, fmt.Errorf("finding this program: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, 0, fmt.Errorf("opening its log: %w", err)
	}
	defer logFile.Close()
	keepInheritedFilesFromDaemons()
	cmd := exec.Command("nsenter", "--net="+netnsPath(netns), "--", self)
	cmd.Env = slices.Concat(nodeEnv, env)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags, Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, startTime(cmd.Process.Pid), nil
}

// keepInheritedFilesFromDaemons marks the descriptors this program was
// started with, beyond the standard three, close-on-exec, so that the
// lab's daemons, which outlive it, do not hold them. One of them is
// flock(1)'s lock when the lab is brought up under `flock LOCK hactl lab
// up`: inherited, it was held for as long as the lab ran, and every other
// run waiting on the lock waited for ever.
func keepInheritedFilesFromDaemons() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// nodeInit is a node's PID 1: it makes the node's files private, writes
// its configuration, starts its services and reaps orphans forever.
func nodeInit(bootPath string) error {
	b, err := os.ReadFile(bootPath)
	if err != nil {
		return fmt.Errorf("reading the boot spec: %w", err)
	}
	var spec bootSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("decoding %s: %w", bootPath, err)
	}
	if err := setupMounts(&spec); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("setting the hostname: %w", err)
	}
	for _, p := range spec.Remove {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing %s: %w", p, err)
		}
	}
	for _, f := range spec.Files {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
			return fmt.Errorf("creating the directory of %s: %w", f.Path, err)
		}
		if err := writeFileAtomic(f.Path, []byte(f.Data), f.Mode); err != nil {
			return err
		}
	}
	for _, u := range spec.Users {
		if err := addUser(u, spec.UserKey); err != nil {
			return err
		}
	}
	names := map[int]string{}
	for _, s := range spec.Services {
		argv := s.Argv
		if argv[0] == "self" {
			argv = append([]string{"/proc/self/exe"}, argv[1:]...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(append([]string{}, nodeEnv...), s.Env...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Dir = "/"
		if err := cmd.Start(); err != nil {
			log.Printf("%s: starting %s: %v", spec.Hostname, s.Name, err)
			continue
		}
		names[cmd.Process.Pid] = s.Name
		log.Printf("%s: started %s (pid %d)", spec.Hostname, s.Name, cmd.Process.Pid)
	}
	runBootScripts(spec.Hostname)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.ECHILD) {
			time.Sleep(time.Second)
			continue
		}
		if name, ok := names[pid]; ok {
			log.Printf("%s: %s (pid %d) ended: status %d, signal %v", spec.Hostname, name, pid, ws.ExitStatus(), ws.Signal())
		}
	}
}

// runBootScripts runs the node's boot scripts (layout.LabBootDir) in name
// order, each with "start": the lab's stand-in for an init system, run when
// the node boots (lab up, restart, power on). Software that needs to start
// at boot on hosts without systemd links its SysV init script there when it
// finds the directory, as hactl's agent installer does.
func runBootScripts(host string) {
	entries, err := os.ReadDir(layout.LabBootDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(layout.LabBootDir, e.Name())
		cmd := exec.Command(path, "start")
		cmd.Env = append([]string{}, nodeEnv...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Dir = "/"
		// A boot script that daemonizes returns; one that hangs must not
		// hold the node's boot up for ever.
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			log.Printf("%s: boot script %s: %v", host, path, err)
			continue
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			log.Printf("%s: boot script %s start: %v", host, path, err)
		case <-time.After(30 * time.Second):
			log.Printf("%s: boot script %s still running after 30s; going on", host, path)
		}
	}
}

// setupMounts gives the node its own view of the file system. It runs in
// the node's fresh mount namespace.
func setupMounts(spec *bootSpec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	for _, o := range spec.Overlays {
		for _, d := range []string{o.Upper, o.Work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", d, err)
			}
		}
		opts := "lowerdir=" + o.Target + ",upperdir=" + o.Upper + ",workdir=" + o.Work
		if err := unix.Mount("overlay", o.Target, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mounting an overlay on %s: %w", o.Target, err)
		}
	}
	for _, bd := range spec.Binds {
		if err := os.MkdirAll(bd.Source, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", bd.Source, err)
		}
		// The same mode as the host's directory: /home must be
		// traversable by its users, /root not.
		if fi, err := os.Stat(bd.Target); err == nil {
			if err := os.Chmod(bd.Source, fi.Mode().Perm()); err != nil {
				return fmt.Errorf("chmod %s: %w", bd.Source, err)
			}
		}
		if err := os.MkdirAll(bd.Target, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", bd.Target, err)
		}
		if err := unix.Mount(bd.Source, bd.Target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s on %s: %w", bd.Source, bd.Target, err)
		}
	}
	// Detach what is mounted under /run (other namespaces' /run/netns
	// mounts among them) so the node holds no reference to them.
	if err := unmountAll("/run", false); err != nil {
		return err
	}
	for _, d := range tmpfsDirs {
		mode := "mode=1777"
		if d == "/run" {
			mode = "mode=755"
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, mode); err != nil {
			return fmt.Errorf("mounting a tmpfs on %s: %w", d, err)
		}
	}
	for _, d := range []string{"/run/sshd", "/run/lock"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mounting /sys: %w", err)
	}
	return nil
}

// addUser creates a login user in the node's own /etc, with the
// operator's key and password-less sudo. Its password is "*" (none, yet
// not locked: sshd refuses locked accounts even to a key).
func addUser(name, key string) error {
	if _, err := exec.Command("id", "-u", name).Output(); err != nil {
		if out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", name).CombinedOutput(); err != nil {
			return fmt.Errorf("creating user %s: %w: %s", name, err, out)
		}
	}
	home := filepath.Join("/home", name)
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		return fmt.Errorf("creating %s/.ssh: %w", home, err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "authorized_keys"), []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s's authorized_keys: %w", name, err)
	}
	if out, err := exec.Command("chown", "-R", name+":", filepath.Join(home, ".ssh")).CombinedOutput(); err != nil {
		return fmt.Errorf("chown %s/.ssh: %w: %s", home, err, out)
	}
	if err := os.MkdirAll("/etc/sudoers.d", 0o755); err != nil {
		return fmt.Errorf("creating /etc/sudoers.d: %w", err)
	}
	rule := fmt.Sprintf("%s ALL=(ALL) NOPASSWD: ALL\n", name)
	if err := os.WriteFile("/etc/sudoers.d/hactl-lab-"+name, []byte(rule), 0o440); err != nil {
		return fmt.Errorf("writing the sudoers rule of %s: %w", name, err)
	}
	return nil
}

// httpd is the built-in web server: it answers body on every port.
func httpd(ports, body string) error {
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(body))
	})
	errs := make(chan error)
	for _, p := range strings.Split(ports, ",") {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			return fmt.Errorf("listening on port %s: %w", p, err)
		}
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		go func() { errs <- srv.Serve(ln) }()
	}
	return <-errs
}

// waitSSH waits until a node's sshd sends its banner to ctl.
func (l *Lab) waitSSH(ctx context.Context, n *nodeState) error {
	var last error
	for {
		last = l.sshBanner(ctx, n)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: sshd did not answer on %s (see %s): %w", n.Name, dialAddr(n), filepath.Join(l.dir, "nodes", n.Name, "console.log"), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sshBanner connects from ctl to a node's SSH port and reads the banner.
func (l *Lab) sshBanner(ctx context.Context, n *nodeState) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := l.Dial(ctx, "ctl", "tcp", dialAddr(n))
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the SSH banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("not an SSH banner: %q", line)
	}
	return nil
}

// errNotExist reports whether err means a file is missing.
func errNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
