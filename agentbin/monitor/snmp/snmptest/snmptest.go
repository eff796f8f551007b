// Package snmptest sets up a real Net-SNMP snmpd for tests: its
// configuration (a v2c community and v3 users at every security level,
// made by createUser lines, with a persistent directory of the test's
// own for the engine's state)
// and, on loopback, the daemon itself. The lab's e2e test runs the same
// configuration inside a lab node.
package snmptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The credentials the configuration grants, all read-only.
const (
	Community = "hactl-test-community"
	// PrivUser is authPriv with SHA-256 and AES.
	PrivUser = "hactlpriv"
	// AuthUser is authNoPriv with SHA.
	AuthUser = "hactlauth"
	// NoAuthUser is noAuthNoPriv.
	NoAuthUser = "hactlnoauth"
	AuthPass   = "hactl-auth-passphrase"
	PrivPass   = "hactl-priv-passphrase"
)

// Config is the snmpd.conf of an snmpd listening on listen (e.g.
// "udp:127.0.0.1:1161"). The createUser lines are in it rather than in
// the persistent directory's file: with -C (no configuration but ours)
// snmpd does not read createUser from there.
func Config(listen string) string {
	return fmt.Sprintf(`agentAddress %s
rocommunity %s default
rouser %s priv
rouser %s auth
rouser %s noauth
createUser %s SHA-256 %q AES %q
createUser %s SHA %q
createUser %s
`, listen, Community, PrivUser, AuthUser, NoAuthUser, PrivUser, AuthPass, PrivPass, AuthUser, AuthPass, NoAuthUser)
}

// Command runs snmpd in the foreground, logging to standard output, on
// dir/snmpd.conf and no other configuration, keeping its persistent
// state in dir/persist and loading no MIB files (it answers by number).
func Command(dir string) []string {
	return []string{"env", "SNMP_PERSISTENT_DIR=" + filepath.Join(dir, "persist"), "MIBS=",
		"snmpd", "-f", "-Lo", "-C", "-c", filepath.Join(dir, "snmpd.conf"), "-M", filepath.Join(dir, "no-mibs")}
}

// Start runs snmpd on a free loopback UDP port for the test's life and
// returns the port. It skips the test, saying so, when snmpd is not
// installed (CI installs it; apt-get install snmpd).
func Start(t testing.TB) int {
	t.Helper()
	if _, err := exec.LookPath("snmpd"); err != nil {
		t.Skip("snmpd is not installed (apt-get install snmpd): the test needs a real Net-SNMP agent")
	}
	port := freeUDPPort(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "snmpd.conf"), []byte(Config("udp:127.0.0.1:"+strconv.Itoa(port))), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := Command(dir)
	cmd := exec.Command(argv[0], argv[1:]...)
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("snmpd's output:\n%s", out.String())
		}
	})
	// snmpd is ready when it logs that it is; the first poll would
	// otherwise race its start.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "NET-SNMP version") {
		if time.Now().After(deadline) {
			t.Fatalf("snmpd did not start in 10 s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return port
}

// output is snmpd's log, written by exec's copying goroutine while the
// test reads it.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(b)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func freeUDPPort(t testing.TB) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
