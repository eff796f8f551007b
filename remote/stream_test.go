package remote

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// echoSocket serves a Unix socket that answers each line with the line, in
// a directory every user may enter, with the socket's mode as given.
func echoSocket(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hactl-stream-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "echo.sock")
	serve(t, "unix", path, func(c net.Conn) { io.Copy(c, c) })
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDialUnixReachesASocketOfTheHost(t *testing.T) {
	s := startSSHD(t)
	c := dial(t, s.target(t, "n1"), Options{})
	conn, err := c.DialUnix(testContext(t), echoSocket(t, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "hello\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Errorf("read %q, %v", line, err)
	}
}

func TestDialUnixToARootSocketAsAnotherUserSaysWhy(t *testing.T) {
	s := startSSHD(t)
	ensureBecomeUser(t)
	tg := s.target(t, "n1")
	tg.SSH.User, tg.SSH.Become = becomeUser, true
	c := dial(t, tg, Options{})
	path := echoSocket(t, 0o600)
	_, err := c.DialUnix(testContext(t), path)
	if err == nil {
		t.Fatal("a root-only socket was opened by " + becomeUser)
	}
	for _, want := range []string{"n1", path, "as " + becomeUser + ", not as root", "log in as root"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestDialUnixToAMissingSocketSaysSo(t *testing.T) {
	s := startSSHD(t)
	c := dial(t, s.target(t, "n1"), Options{})
	_, err := c.DialUnix(testContext(t), "/nonexistent/monitor.sock")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/monitor.sock") || !strings.Contains(err.Error(), "running") {
		t.Errorf("error %v", err)
	}
}
