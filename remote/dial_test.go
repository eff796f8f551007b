package remote

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func TestParseJumpHost(t *testing.T) {
	tests := []struct {
		in, user, addr string
		wantErr        bool
	}{
		{in: "bastion", user: "me", addr: "bastion:22"},
		{in: "ops@bastion:2222", user: "ops", addr: "bastion:2222"},
		{in: "ops@10.0.0.1", user: "ops", addr: "10.0.0.1:22"},
		{in: "[fe80::1]:2200", user: "me", addr: "[fe80::1]:2200"},
		{in: "ops@[fe80::1]", user: "ops", addr: "[fe80::1]:22"},
		{in: "ops@bastion:0", wantErr: true},
		{in: "ops@bastion:ssh", wantErr: true},
		{in: "@bastion", wantErr: true},
		{in: "ops@", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, err := parseJumpHost(tt.in, "me", nil)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseJumpHost(%q) = %+v, want an error", tt.in, h)
				}
				return
			}
			if err != nil || h.user != tt.user || h.addr != tt.addr {
				t.Fatalf("parseJumpHost(%q) = %+v, %v; want %s@%s", tt.in, h, err, tt.user, tt.addr)
			}
		})
	}
}

func TestRunReportsOutputExitCodeAndReadsStdin(t *testing.T) {
	s := startSSHD(t)
	c := dial(t, s.target(t, "h1"), Options{})
	ctx := testContext(t)
	tests := []struct {
		name, cmd, stdin string
		stdout, stderr   string
		exit             int
	}{
		{name: "stdout", cmd: "echo hello", stdout: "hello\n"},
		{name: "stderr and exit code", cmd: "echo oops >&2; exit 3", stderr: "oops\n", exit: 3},
		{name: "stdin", cmd: "tr a-z A-Z", stdin: "quiet\n", stdout: "QUIET\n"},
		{name: "quoting", cmd: "printf '%s\\n' " + Quote("it's $HOME"), stdout: "it's $HOME\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in *strings.Reader
			if tt.stdin != "" {
				in = strings.NewReader(tt.stdin)
			}
			var res Result
			var err error
			if in != nil {
				res, err = c.Run(ctx, tt.cmd, in)
			} else {
				res, err = c.Run(ctx, tt.cmd, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Stdout) != tt.stdout || string(res.Stderr) != tt.stderr || res.ExitCode != tt.exit {
				t.Fatalf("got stdout %q stderr %q exit %d; want %q %q %d",
					res.Stdout, res.Stderr, res.ExitCode, tt.stdout, tt.stderr, tt.exit)
			}
		})
	}
	_, err := c.Output(ctx, "echo broken >&2; exit 4", nil)
	var exitErr *ExitError
	if !errors.As(err, &exitErr) || exitErr.Code != 4 || !strings.Contains(err.Error(), "h1: ") || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Output of a failing command: %v, want an *ExitError naming h1, code 4 and stderr", err)
	}
}

func TestRunContextEndKillsTheCommand(t *testing.T) {
	s := startSSHD(t)
	c := dial(t, s.target(t, "h1"), Options{})
	// sshd runs on this machine, so the test sees the remote processes.
	first, second := "sleep\x004321.5\x00", "sleep\x004321.6\x00"
	ctx, cancel := context.WithCancel(testContext(t))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, "sleep 4321.5 & sleep 4321.6; wait", nil)
		errc <- err
	}()
	waitFor(t, "the command to start", func() bool { return running(first) && running(second) })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "h1: ") {
		t.Fatalf("Run whose context ended: %v, want context.Canceled naming h1", err)
	}
	waitFor(t, "every process of the command to end", func() bool { return !running(first) && !running(second) })
	// The connection is still usable.
	if out, err := c.Output(testContext(t), "echo alive", nil); err != nil || string(out) != "alive\n" {
		t.Fatalf("after a killed command: %q, %v", out, err)
	}
}

func TestDialRefusesUnknownHost(t *testing.T) {
	s := startSSHD(t)
	tg := s.target(t, "h1")
	os.WriteFile(tg.SSH.KnownHostsFile, nil, 0o600)
	_, err := Dial(testContext(t), tg, Options{})
	var dialErr *DialError
	var unknown *UnknownHostError
	if !errors.As(err, &dialErr) || dialErr.Kind != FailureUnknownHost || !errors.As(err, &unknown) {
		t.Fatalf("Dial to an unknown host: %v, want a *DialError of kind %v", err, FailureUnknownHost)
	}
	msg := err.Error()
	for _, want := range []string{"h1", ssh.FingerprintSHA256(s.hostKey), "ssh-keyscan -p " + strconv.Itoa(s.port) + " 127.0.0.1", tg.SSH.KnownHostsFile} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if b, _ := os.ReadFile(tg.SSH.KnownHostsFile); len(b) != 0 {
		t.Errorf("known_hosts written without accept-new: %q", b)
	}
}

func TestAcceptNewRecordsTheKeyAsOpenSSHDoes(t *testing.T) {
	s := startSSHD(t)
	for _, hashed := range []bool{false, true} {
		t.Run("hashed="+strconv.FormatBool(hashed), func(t *testing.T) {
			// The default file, which accept-new creates (its directory
			// too) as OpenSSH does.
			home := t.TempDir()
			t.Setenv("HOME", home)
			kh := filepath.Join(home, ".ssh", "known_hosts")
			tg := s.target(t, "h1")
			tg.SSH.KnownHostsFile = ""
			opts := Options{AcceptNewHostKeys: true, HashNewHostKeys: hashed}
			// Parallel dials must leave one well-formed line.
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() {
					c, err := Dial(testContext(t), tg, opts)
					if err == nil {
						c.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(kh)
			if err != nil {
				t.Fatal(err)
			}
			if lines := strings.Count(string(b), "\n"); lines != 1 {
				t.Fatalf("known_hosts has %d lines, want 1:\n%s", lines, b)
			}
			if hashed != strings.HasPrefix(string(b), "|1|") {
				t.Fatalf("hashed=%v but known_hosts is %q", hashed, b)
			}
			out, err := exec.Command("ssh-keygen", "-F", "[127.0.0.1]:"+strconv.Itoa(s.port), "-f", kh).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ssh-ed25519") {
				t.Fatalf("ssh-keygen -F does not find the entry: %v\n%s", err, out)
			}
			// Known now: no opt-in needed.
			dial(t, tg, Options{KnownHostsFile: kh}).Close()
		})
	}
}

// A known_hosts file given by name that does not exist is a mistyped
// path, not an empty file: accept-new must not create it, nor any host
// look unknown because of it.
func TestDialRefusesAMissingKnownHostsFile(t *testing.T) {
	s := startSSHD(t)
	tg := s.target(t, "h1")
	typo := filepath.Join(t.TempDir(), "known_host")
	for _, tt := range []struct {
		name string
		tg   Target
		opts Options
	}{
		{"given to every target", tg, Options{KnownHostsFile: typo, AcceptNewHostKeys: true}},
		{"the target's own", func() Target { tg := tg; tg.SSH.KnownHostsFile = typo; return tg }(), Options{AcceptNewHostKeys: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dial(testContext(t), tt.tg, tt.opts)
			var dialErr *DialError
			if !errors.As(err, &dialErr) || dialErr.Kind != FailureKnownHosts || !strings.Contains(err.Error(), typo+" does not exist") {
				t.Fatalf("Dial with a missing known_hosts file: %v, want a *DialError of kind %v naming it", err, FailureKnownHosts)
			}
			if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the mistyped file was created: %v", err)
			}
		})
	}
}

func TestDialRefusesChangedHostKey(t *testing.T) {
	s := startSSHD(t)
	tg := s.target(t, "h1")
	impostor := newKey(t, t.TempDir(), "other", nil).signer.PublicKey()
	line := strings.Replace(s.knownHostsLine(), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.hostKey))),
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(impostor))), 1)
	os.WriteFile(tg.SSH.KnownHostsFile, []byte(line+"\n"), 0o600)
	_, err := Dial(testContext(t), tg, Options{AcceptNewHostKeys: true})
	var dialErr *DialError
	var mismatch *HostKeyMismatchError
	if !errors.As(err, &dialErr) || dialErr.Kind != FailureHostKeyMismatch || !errors.As(err, &mismatch) {
		t.Fatalf("Dial with a changed host key: %v, want a *DialError of kind %v", err, FailureHostKeyMismatch)
	}
	for _, want := range []string{"h1", "[127.0.0.1]:" + strconv.Itoa(s.port), ssh.FingerprintSHA256(s.hostKey), ssh.FingerprintSHA256(impostor)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if b, _ := os.ReadFile(tg.SSH.KnownHostsFile); string(b) != line+"\n" {
		t.Errorf("known_hosts changed: %q", b)
	}
}

func TestDialFailuresAreTyped(t *testing.T) {
	s := startSSHD(t)
	stranger := newKey(t, t.TempDir(), "stranger", nil)
	locked := newKey(t, t.TempDir(), "locked", []byte("secret"))
	// accepts connections, never speaks SSH
	silent := serve(t, "tcp", "127.0.0.1:0", func(conn net.Conn) { io.Copy(io.Discard, conn) })
	tests := []struct {
		name   string
		change func(*Target)
		opts   Options
		kind   FailureKind
		say    string
	}{
		{name: "wrong identity", change: func(tg *Target) { tg.SSH.IdentityFile = stranger.path }, kind: FailureAuth, say: stranger.path},
		{name: "encrypted identity without agent", change: func(tg *Target) { tg.SSH.IdentityFile = locked.path }, kind: FailureAuth, say: "ssh-add " + locked.path},
		{name: "connection refused", change: func(tg *Target) { tg.SSH.Port = freePort(t) }, kind: FailureRefused, say: "connection refused"},
		{name: "handshake timeout", change: func(tg *Target) {
			tg.SSH.Port = silent.Addr().(*net.TCPAddr).Port
			tg.SSH.ConnectTimeout = 300 * time.Millisecond
		}, kind: FailureTimeout, say: "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := s.target(t, "web-7")
			tt.change(&tg)
			_, err := Dial(testContext(t), tg, tt.opts)
			var dialErr *DialError
			if !errors.As(err, &dialErr) || dialErr.Kind != tt.kind {
				t.Fatalf("Dial: %v, want a *DialError of kind %v", err, tt.kind)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "web-7: ") || !strings.Contains(msg, tt.say) {
				t.Fatalf("message %q should start with the host and say %q", msg, tt.say)
			}
		})
	}
}

func TestDialAuthenticatesWithAgentAndDefaultKeys(t *testing.T) {
	s := startSSHD(t)
	t.Run("agent", func(t *testing.T) {
		keyring := agent.NewKeyring()
		priv, err := os.ReadFile(s.client.path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ssh.ParseRawPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(t.TempDir(), "agent.sock")
		serve(t, "unix", sock, func(conn net.Conn) { agent.ServeAgent(keyring, conn) })
		t.Setenv("SSH_AUTH_SOCK", sock)
		t.Setenv("HOME", t.TempDir()) // no default identity files
		tg := s.target(t, "h1")
		tg.SSH.IdentityFile = ""
		dial(t, tg, Options{})
	})
	t.Run("default identity file", func(t *testing.T) {
		home := t.TempDir()
		t.Setenv("HOME", home)
		os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
		b, _ := os.ReadFile(s.client.path)
		os.WriteFile(filepath.Join(home, ".ssh", "id_ecdsa"), b, 0o600) // any type under a default name
		tg := s.target(t, "h1")
		tg.SSH.IdentityFile = ""
		dial(t, tg, Options{})
	})
}

func TestDialThroughJumpHosts(t *testing.T) {
	bastion := startSSHD(t)
	inner := startSSHD(t)
	tg := inner.target(t, "inner")
	jump := "root@127.0.0.1:" + strconv.Itoa(bastion.port)
	os.WriteFile(tg.SSH.KnownHostsFile, []byte(bastion.knownHostsLine()+"\n"+inner.knownHostsLine()+"\n"), 0o600)
	// Both servers accept the same client key only if we tell them to.
	os.WriteFile(filepath.Join(inner.dir, "authorized_keys"), ssh.MarshalAuthorizedKey(bastion.client.signer.PublicKey()), 0o644)
	tg.SSH.IdentityFile = bastion.client.path

	for _, hops := range [][]string{{jump}, {jump, jump}} {
		t.Run(strconv.Itoa(len(hops))+" hops", func(t *testing.T) {
			tg.SSH.JumpHosts = hops
			c := dial(t, tg, Options{})
			out, err := c.Output(testContext(t), "echo $SSH_CONNECTION", nil)
			if err != nil {
				t.Fatal(err)
			}
			if f := strings.Fields(string(out)); len(f) != 4 || f[3] != strconv.Itoa(inner.port) {
				t.Fatalf("landed on %q, want the inner server's port %d", out, inner.port)
			}
		})
	}
	t.Run("jump host key checked", func(t *testing.T) {
		tg.SSH.JumpHosts = []string{jump}
		only := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(only, []byte(inner.knownHostsLine()+"\n"), 0o600)
		_, err := Dial(testContext(t), tg, Options{KnownHostsFile: only})
		var dialErr *DialError
		if !errors.As(err, &dialErr) || dialErr.Kind != FailureUnknownHost || !strings.Contains(err.Error(), "jump host "+jump) {
			t.Fatalf("Dial through an unknown jump host: %v, want an unknown-host error naming the jump host", err)
		}
	})
}

func TestKeepAliveClosesADeadConnection(t *testing.T) {
	s := startSSHD(t)
	// A proxy that can turn into a black hole, like a host that froze.
	var frozen atomic.Bool
	pass := func(dst io.Writer, src io.Reader) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			if !frozen.Load() {
				dst.Write(buf[:n])
			}
		}
	}
	proxy := serve(t, "tcp", "127.0.0.1:0", func(conn net.Conn) {
		up, err := net.Dial("tcp", s.addr)
		if err != nil {
			return
		}
		defer up.Close()
		go pass(up, conn)
		pass(conn, up)
	})
	tg := s.target(t, "h1")
	tg.SSH.Port = proxy.Addr().(*net.TCPAddr).Port
	line := strings.Replace(s.knownHostsLine(), strconv.Itoa(s.port), strconv.Itoa(tg.SSH.Port), 1)
	os.WriteFile(tg.SSH.KnownHostsFile, []byte(line+"\n"), 0o600)

	c := dial(t, tg, Options{KeepAliveInterval: 100 * time.Millisecond})
	if _, err := c.Output(testContext(t), "true", nil); err != nil {
		t.Fatal(err)
	}
	frozen.Store(true)
	// Without keepalives this would wait for the test's context.
	if _, err := c.Output(testContext(t), "sleep 1; true", nil); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("command on a frozen connection: %v, want the connection closed", err)
	}
}
