package fence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// acceptedMarker is what the remote shell prints before it powers the
// host off: proof that ssh logged in and the command runs.
const acceptedMarker = "hactl-fence: accepted"

// sshMethod powers a node off over ssh (the OpenSSH client, so that the
// agent needs no SSH library), then watches its SSH port go quiet.
type sshMethod struct {
	host, port string
	user       string
	identity   string
	knownHosts string
}

func newSSH(f spec.Fence, opts Options) *sshMethod {
	host, port, err := net.SplitHostPort(f.Address)
	if err != nil {
		host, port = f.Address, "22"
	}
	return &sshMethod{host: host, port: port, user: f.User, identity: opts.SSHIdentity, knownHosts: opts.SSHKnownHosts}
}

// remoteCommand is what runs on the node: power off (or reset) at once,
// without stopping services, through systemd or the classic commands.
func remoteCommand(action string) string {
	if action == "reboot" {
		return "echo '" + acceptedMarker + "'; systemctl reboot -f -f || reboot -f || poweroff -f"
	}
	return "echo '" + acceptedMarker + "'; systemctl poweroff -f -f || poweroff -f"
}

// args is ssh's command line. Host keys are always checked and ssh never
// asks for anything (BatchMode).
func (s *sshMethod) args(action string, timeout time.Duration) []string {
	connect := min(max(timeout/3, time.Second), 10*time.Second)
	a := []string{
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "ConnectTimeout=" + strconv.Itoa(int(connect.Seconds())),
		"-o", "ServerAliveInterval=1",
		"-o", "ServerAliveCountMax=3",
		"-p", s.port,
	}
	if s.identity != "" {
		a = append(a, "-i", s.identity, "-o", "IdentitiesOnly=yes")
	}
	if s.knownHosts != "" {
		a = append(a, "-o", "UserKnownHostsFile="+s.knownHosts)
	}
	return append(a, "--", s.target(), remoteCommand(action))
}

// target is USER@HOST, or HOST when no user is set (ssh's default user).
func (s *sshMethod) target() string {
	if s.user != "" {
		return s.user + "@" + s.host
	}
	return s.host
}

func (s *sshMethod) fence(ctx context.Context, a *attempt) error {
	cmdCtx, kill := context.WithCancel(ctx)
	defer kill()
	cmd := program(cmdCtx, os.Environ(), "ssh", s.args(a.fc.action, a.fc.timeout)...)
	stdout := &markerWriter{accepted: make(chan struct{})}
	stderr := &tail{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return a.fail("starting ssh", err, "that the OpenSSH client (ssh) is installed on this node")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		kill()
		<-exited
	}()
	withOutput := func(err error) error {
		if out := stderr.String(); out != "" {
			return fmt.Errorf("%w: %s", err, out)
		}
		return err
	}
	login := "the ssh user, key and known_hosts entry for " + s.host + " (ssh runs with BatchMode and StrictHostKeyChecking)"

	select {
	case <-stdout.accepted:
	case err := <-exited:
		exited <- err
		if err == nil {
			err = errors.New("ssh ended before the node accepted the command")
		}
		return a.fail("logging in over ssh", withOutput(err), login)
	case <-ctx.Done():
		return a.fail("logging in over ssh", withOutput(ctx.Err()), login)
	}

	// The node runs the command. A refusal shows as the remote status
	// (1…254); a connection that drops as the host dies shows as 255.
	addr := net.JoinHostPort(s.host, s.port)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	quiet := 0
	watch := exited
	for {
		select {
		case err := <-watch:
			exited <- err // for the deferred wait
			if code := exitCode(err); code > 0 && code < 255 {
				return a.fail("powering off over ssh", withOutput(err), "that "+s.target()+" may power the host off (log in as root)")
			}
			watch = nil
		case <-ctx.Done():
			return a.fail("waiting for the host to stop answering", fmt.Errorf("%s still answered when the fence timeout of %s ran out", addr, a.fc.timeout), "whether the host powered off; a host that keeps answering on its SSH port cannot be proven off over ssh")
		case <-tick.C:
			if answers(ctx, addr) {
				quiet = 0
			} else if ctx.Err() == nil {
				quiet++
				if quiet == 2 {
					return nil
				}
			}
		}
	}
}

// answers reports whether a TCP connection to addr opens within a second.
func answers(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// markerWriter takes ssh's stdout and closes accepted once it has seen
// acceptedMarker.
type markerWriter struct {
	mu       sync.Mutex
	buf      []byte
	accepted chan struct{}
	seen     bool
}

func (m *markerWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen {
		return len(p), nil
	}
	m.buf = append(m.buf, p...)
	if bytes.Contains(m.buf, []byte(acceptedMarker)) {
		m.seen = true
		close(m.accepted)
	} else if len(m.buf) > 4*len(acceptedMarker) {
		m.buf = m.buf[len(m.buf)-len(acceptedMarker):]
	}
	return len(p), nil
}
