package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// unreachableCluster writes a two-node configuration whose nodes are
// 127.0.0.1 on a port nothing listens on, so that every observation fails
// at once and without leaving the machine.
func unreachableCluster(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	writeFile(t, dir, "cluster.key", []byte(testKey))
	writeFile(t, dir, "cluster.hcl", fmt.Appendf(nil, `
cluster "web" {
  key_file = "cluster.key"
  ssh {
    port = %d
  }
}
network "lan" {
  cidr = "192.168.0.0/24"
}
node "a" {
  address = "127.0.0.1"
  interface "eth0" {
    network = network.lan
    address = "192.168.0.1"
  }
}
node "b" {
  address = "127.0.0.1"
  interface "eth0" {
    network = network.lan
    address = "192.168.0.2"
  }
}
heartbeat {
  link "lan" {
    network = network.lan
  }
}
`, port))
	return dir
}

// fakeAgent writes a file that passes for a Linux agent of this machine's
// architecture (an ELF header is all hactl reads of it before installing).
func fakeAgent(t *testing.T) string {
	t.Helper()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if machine == 0 {
		t.Skipf("no agent is built for %s", runtime.GOARCH)
	}
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "agent", buf.Bytes())
}

func TestOnlyPlanNeedsAnAgent(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(exe), "hactl-agent-linux-"+runtime.GOARCH)); err == nil {
		t.Skip("an agent lies beside the test binary")
	}
	dir := unreachableCluster(t)
	agent := fakeAgent(t)
	tests := []struct {
		name       string
		env        string // HACTL_AGENT_BINARY
		args       []string
		code       int
		stdout     string // a part of stdout
		stderr     string // a part of stderr
		notInError string
	}{
		{name: "plan without an agent says how to get one", args: []string{"plan"}, code: exitError,
			stderr: "this hactl carries no agent for " + runtime.GOARCH + " hosts; give --agent-binary FILE or set HACTL_AGENT_BINARY=FILE"},
		{name: "plan takes the agent from HACTL_AGENT_BINARY", env: agent, args: []string{"plan"}, code: exitError,
			stdout: "cannot be observed", notInError: "agent"},
		{name: "plan refuses a missing agent file named by HACTL_AGENT_BINARY", env: filepath.Join(dir, "absent"), args: []string{"plan"}, code: exitError,
			stderr: "reading the agent given by --agent-binary or HACTL_AGENT_BINARY"},
		{name: "status needs no agent", args: []string{"status"}, code: exitChanges,
			stdout: "127.0.0.1", notInError: "agent"},
		{name: "drift needs no agent, and says what it leaves out", args: []string{"drift"}, code: exitError,
			stdout: "unreachable", stderr: "Note: pending agent upgrades are not shown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HACTL_AGENT_BINARY", tt.env)
			code, stdout, stderr := hactl(t, append(tt.args, "-f", dir, "--connect-timeout", "5s")...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout does not say %q:\n%s", tt.stdout, stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr does not say %q:\n%s", tt.stderr, stderr)
			}
			if tt.notInError != "" && strings.Contains(stderr, tt.notInError) {
				t.Errorf("stderr speaks of %q:\n%s", tt.notInError, stderr)
			}
		})
	}
}
