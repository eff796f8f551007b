package remote

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The tests run against real OpenSSH sshd processes on 127.0.0.1, each with
// its own host key, authorized keys and random port.

const sshdPath = "/usr/sbin/sshd"

var (
	sshdOnce   sync.Once
	sshdReason string // why the real-sshd tests cannot run, "" when they can
)

// requireSSHD skips the test, with the reason, when no sshd can be run.
func requireSSHD(t *testing.T) {
	t.Helper()
	sshdOnce.Do(func() {
		if os.Geteuid() != 0 {
			sshdReason = "needs root to run sshd and log in as other users"
			return
		}
		if _, err := os.Stat(sshdPath); err != nil {
			if err := aptInstall("openssh-server", "openssh-client"); err != nil {
				sshdReason = fmt.Sprintf("%s missing and cannot be installed: %v", sshdPath, err)
				return
			}
		}
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			sshdReason = "cannot create sshd's privilege separation directory: " + err.Error()
		}
	})
	if sshdReason != "" {
		t.Skip(sshdReason)
	}
}

// keyPair is a generated ed25519 key, with its private half on disk.
type keyPair struct {
	signer ssh.Signer
	path   string
}

func newKey(t *testing.T, dir, name string, passphrase []byte) keyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase != nil {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", passphrase)
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{signer: signer, path: p}
}

// sshd is one running OpenSSH server.
type sshd struct {
	port    int
	pid     int
	addr    string // 127.0.0.1:port
	hostKey ssh.PublicKey
	client  keyPair // authorised for every user
	dir     string
}

// knownHostsLine is the known_hosts entry for this server.
func (s *sshd) knownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, s.hostKey)
}

// target is a root login to this server with its key and known_hosts file.
func (s *sshd) target(t *testing.T, name string) Target {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(s.knownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Target{Name: name, Address: "127.0.0.1", SSH: SSH{
		User: "root", Port: s.port, IdentityFile: s.client.path, KnownHostsFile: kh,
	}}
}

// sshdOption adds lines to an sshd's configuration, given its directory
// and host key.
type sshdOption func(t *testing.T, dir string, host keyPair) string

// startSSHD runs an sshd until the test ends.
func startSSHD(t *testing.T, opts ...sshdOption) *sshd {
	t.Helper()
	requireSSHD(t)
	t.Setenv("SSH_AUTH_SOCK", "") // no operator's agent in these tests
	dir, err := os.MkdirTemp("", "hactl-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Non-root test users must reach the authorized keys file.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &sshd{dir: dir}
	host := newKey(t, dir, "host_key", nil)
	s.hostKey = host.signer.PublicKey()
	s.client = newKey(t, dir, "client_key", nil)
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(s.client.signer.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	var extra strings.Builder
	for _, o := range opts {
		extra.WriteString(o(t, dir, host) + "\n")
	}
	var lastErr error
	for range 5 { // the free port may be taken between probe and bind
		port := freePort(t)
		cfg := filepath.Join(dir, "sshd_config")
		conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
MaxStartups 200
MaxSessions 100
Subsystem sftp internal-sftp
LogLevel ERROR
%s`, port, host.path, filepath.Join(dir, "sshd.pid"), authorized, extra.String())
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfg)
		// A file, not a pipe: sessions inherit sshd's stderr and may
		// outlive it.
		logPath := filepath.Join(dir, "sshd.log")
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = logFile
		err = cmd.Start()
		logFile.Close()
		if err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = waitBanner(addr, exited); lastErr != nil {
			cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%w; sshd said: %s", lastErr, logs())
			continue
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("sshd %s log:\n%s", addr, logs())
			}
		})
		s.port, s.addr, s.pid = port, addr, cmd.Process.Pid
		return s
	}
	t.Fatalf("sshd did not start: %v", lastErr)
	return nil
}

// waitBanner waits until addr answers with an SSH banner.
func waitBanner(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited")
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if err == nil && strings.HasPrefix(line, "SSH-") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no SSH banner on %s", addr)
}

// serve listens on addr until the test ends, handling each connection in
// its own goroutine and closing it afterwards.
func serve(t *testing.T, network, addr string, handle func(net.Conn)) net.Listener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				handle(conn)
			}()
		}
	}()
	return l
}

// running says whether a process on this machine has exactly this
// command line (arguments NUL-terminated, as in /proc/PID/cmdline).
func running(cmdline string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && string(b) == cmdline {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test after a generous
// while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// aptInstall installs Debian packages, refreshing the package lists once
// if the first try fails.
func aptInstall(pkgs ...string) error {
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)
	if exec.Command("apt-get", args...).Run() == nil {
		return nil
	}
	if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w\n%s", err, out)
	}
	if out, err := exec.Command("apt-get", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dial connects or fails the test.
func dial(t *testing.T, tg Target, opts Options) *Client {
	t.Helper()
	c, err := Dial(testContext(t), tg, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testContext bounds a test's I/O generously: a busy machine is slow, a
// hung one must still end.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

const becomeUser = "hactltest"

// ensureBecomeUser makes a non-root login with passwordless sudo and
// removes what it made when the test ends. It returns the sudoers file so a
// test can change the rule.
func ensureBecomeUser(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("sudo"); err != nil {
		if err := aptInstall("sudo"); err != nil {
			t.Skipf("sudo missing and cannot be installed: %v", err)
		}
	}
	if _, err := user.Lookup(becomeUser); err != nil {
		if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", becomeUser).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", "-r", becomeUser).Run() })
	}
	// A locked password ("!") makes sshd refuse the account without PAM.
	if out, err := exec.Command("usermod", "-p", "*", becomeUser).CombinedOutput(); err != nil {
		t.Fatalf("usermod: %v\n%s", err, out)
	}
	sudoers := "/etc/sudoers.d/hactl-remote-test"
	writeSudoers(t, sudoers, becomeUser+" ALL=(ALL) NOPASSWD: ALL\n")
	t.Cleanup(func() { os.Remove(sudoers) })
	return sudoers
}

func writeSudoers(t *testing.T, path, rule string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(rule), 0o440); err != nil {
		t.Fatal(err)
	}
}
