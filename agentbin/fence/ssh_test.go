package fence

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// fakeSSH stands for the OpenSSH client talking to a host that powers
// itself off, which a test cannot have. It records its arguments, and
// acts as $FAKE_SSH_MODE says; "poweroff" creates $FAKE_SSH_DIR/poweroff,
// on which the test's host stops answering.
const fakeSSH = `#!/bin/sh
printf '%s\n' "$@" > "$FAKE_SSH_DIR/args"
case $FAKE_SSH_MODE in
poweroff)
	echo 'hactl-fence: accepted'
	touch "$FAKE_SSH_DIR/poweroff"
	sleep 30 # the connection hangs as the host dies
	;;
denied)
	echo 'root@127.0.0.1: Permission denied (publickey).' >&2
	exit 255
	;;
refused)
	echo 'hactl-fence: accepted'
	echo 'Failed to power off system via logind: Access denied' >&2
	echo 'poweroff: must be superuser.' >&2
	exit 1
	;;
alive)
	echo 'hactl-fence: accepted'
	sleep 30 # the command was accepted but the host lives on
	;;
esac
`

// sshHost is a TCP port standing for the node's sshd; it stops answering
// once the fake ssh has "powered the host off".
func sshHost(t *testing.T, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	stop := make(chan struct{})
	go func() {
		defer ln.Close()
		for {
			if _, err := os.Stat(filepath.Join(dir, "poweroff")); err == nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop) })
	return ln.Addr().String()
}

func TestSSH(t *testing.T) {
	onPath(t, "ssh", fakeSSH)
	for _, tc := range []struct {
		mode, action string
		timeoutMS    int
		want         []string // in the error; none means fenced
	}{
		{mode: "poweroff", action: "off", timeoutMS: 5000},
		{mode: "poweroff", action: "reboot", timeoutMS: 5000},
		{mode: "denied", action: "off", want: []string{"logging in over ssh", "Permission denied (publickey)", "known_hosts entry for 127.0.0.1"}},
		{mode: "refused", action: "off", want: []string{"powering off over ssh", "exit status 1", "must be superuser", "may power the host off"}},
		{mode: "alive", action: "off", timeoutMS: 2000, want: []string{"waiting for the host to stop answering", "still answered when the fence timeout of 2s ran out"}},
	} {
		t.Run(tc.mode+" "+tc.action, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("FAKE_SSH_DIR", dir)
			t.Setenv("FAKE_SSH_MODE", tc.mode)
			addr := sshHost(t, dir)
			f := spec.Fence{Type: "ssh", Address: addr, User: "root", Action: tc.action, TimeoutMS: tc.timeoutMS}
			opts := Options{SSHIdentity: "/etc/hactl/fence_key", SSHKnownHosts: "/etc/hactl/known_hosts"}
			start := time.Now()
			_, err := fenceWith(t, f, opts, "h2g")
			if took := time.Since(start); took > 6*time.Second {
				t.Fatalf("took %s: ssh was not stopped", took)
			}
			wantOutcome(t, err, tc.want)
			b, _ := os.ReadFile(filepath.Join(dir, "args"))
			args := strings.Join(strings.Split(strings.TrimSpace(string(b)), "\n"), " ")
			_, port, _ := net.SplitHostPort(addr)
			for _, w := range []string{
				"-o BatchMode=yes", "-o StrictHostKeyChecking=yes", "-o ConnectTimeout=1", "-p " + port,
				"-i /etc/hactl/fence_key -o IdentitiesOnly=yes", "-o UserKnownHostsFile=/etc/hactl/known_hosts",
				"-- root@127.0.0.1 " + remoteCommand(tc.action),
			} {
				if !strings.Contains(args, w) {
					t.Errorf("ssh %s\nlacks %q", args, w)
				}
			}
		})
	}
}

func TestSSHArgsFromAddress(t *testing.T) {
	for _, tc := range []struct{ address, user, want string }{
		{"10.0.0.2", "", "-p 22 -- 10.0.0.2 "},
		{"10.0.0.2:2222", "root", "-p 2222 -- root@10.0.0.2 "},
		{"[fd00::2]:22", "admin", "-p 22 -- admin@fd00::2 "},
		{"fd00::2", "", "-p 22 -- fd00::2 "},
	} {
		m := newSSH(spec.Fence{Address: tc.address, User: tc.user}, Options{})
		if got := strings.Join(m.args("off", 30*time.Second), " "); !strings.Contains(got, tc.want) {
			t.Errorf("%s: ssh %s\nlacks %q", tc.address, got, tc.want)
		}
	}
}

func TestRemoteCommandFallsBack(t *testing.T) {
	for action, want := range map[string]string{
		"off":    "systemctl poweroff -f -f || poweroff -f",
		"reboot": "systemctl reboot -f -f || reboot -f || poweroff -f",
	} {
		if got := remoteCommand(action); !strings.HasPrefix(got, "echo '"+acceptedMarker+"'; ") || !strings.HasSuffix(got, want) {
			t.Errorf("%s: %q", action, got)
		}
	}
}
