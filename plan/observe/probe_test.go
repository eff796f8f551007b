package observe

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/internal/hostile"
	"github.com/hactl/hactl/plan/topology"
)

func TestProbeRunsUnderPOSIXShellAndParses(t *testing.T) {
	out, err := exec.Command("sh", "-c", Script).Output()
	if err != nil {
		t.Fatalf("probe failed under sh: %v\n%s", err, out)
	}
	o, err := Parse("local", out)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if o.Facts.Hostname != host || o.Facts.Kernel == "" || o.Facts.Arch == "" {
		t.Errorf("facts %+v, want hostname %q and kernel/arch set", o.Facts, host)
	}
	if _, err := os.Stat(layout.AgentLink); os.IsNotExist(err) && o.AgentInstalled {
		t.Errorf("agent reported installed on a machine without %s", layout.AgentLink)
	}
}

func TestParseReadsEveryKey(t *testing.T) {
	spec := `{"format_version":1,"cluster":"c","node":"n1"}`
	status := `{"agent_version":"v1","pid":42,"healthy":true,"spec_hash":"abc"}`
	out := strings.Join([]string{
		"motd noise without equals sign",
		probeMarker, "hostname=n1", "kernel=6.1", "arch=x86_64",
		"agent_sha256=ff", "agent_version=v1", "agent_running=1",
		"spec_sha256=abc", "spec_b64=" + base64.StdEncoding.EncodeToString([]byte(spec)),
		"secret=" + layout.SecretsDir + "/cluster-key 0123",
		"status_b64=" + base64.StdEncoding.EncodeToString([]byte(status)),
		"applied_b64=" + base64.StdEncoding.EncodeToString([]byte(`{"spec_hash":"abc","agent_sha256":"ff","secrets":{}}`)),
		"nftables=1", "flowtable=1", "rsync=1", "addr=eth0 192.168.0.31/24",
	}, "\n")
	o, err := Parse("n1", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if !o.AgentInstalled || o.AgentSHA256 != "ff" || o.AgentVersion != "v1" || !o.AgentRunning {
		t.Errorf("agent fields wrong: %+v", o)
	}
	if o.SpecHash != "abc" || o.Spec == nil || o.Spec.Node != "n1" {
		t.Errorf("spec not read: hash %q spec %+v", o.SpecHash, o.Spec)
	}
	if o.SecretHashes[layout.SecretsDir+"/cluster-key"] != "0123" {
		t.Errorf("secrets %v", o.SecretHashes)
	}
	if o.Status == nil || o.Status.PID != 42 || !o.Status.Healthy {
		t.Errorf("status %+v", o.Status)
	}
	if o.Applied == nil || o.Applied.SpecHash != "abc" {
		t.Errorf("applied record %+v", o.Applied)
	}
	if !o.Facts.NFTables || !o.Facts.Flowtable || !o.Facts.Rsync || o.Facts.IPVS || o.Facts.Systemd || len(o.Facts.Addrs) != 1 {
		t.Errorf("facts %+v", o.Facts)
	}
}

func TestParseRefusesOutputWithoutTheMarker(t *testing.T) {
	if _, err := Parse("n1", []byte("This account is currently not available.\n")); err == nil || !strings.Contains(err.Error(), "n1") {
		t.Fatalf("Parse of foreign output: err %v, want an error naming the host", err)
	}
}

// The probe says of each notify command's program whether the host can
// run it: an absolute path must be an executable file, a bare name must
// be in PATH.
func TestProbeChecksNotifyPrograms(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "page-oncall's") // quoted for the shell
	topo := &topology.Topology{Notifies: []*topology.Notify{
		{Name: "shell", Command: "/bin/sh -c true"},
		{Name: "again", Command: "/bin/sh -c false"},
		{Name: "bare", Command: "sh"},
		{Name: "typo", Command: "hactl-no-such-program --now"},
		{Name: "data", Command: "/etc/passwd"},
		{Name: "quoted", Command: missing},
	}}
	script := ScriptFor(topo)
	if strings.Count(script, "/bin/sh") != 1 {
		t.Errorf("a program of two notify blocks is probed more than once:\n%s", script)
	}
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("probe failed under sh: %v\n%s", err, out)
	}
	o, err := Parse("local", out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"/bin/sh": true, "sh": true, "hactl-no-such-program": false, "/etc/passwd": false, missing: false}
	if !reflect.DeepEqual(o.Facts.Programs, want) {
		t.Errorf("programs %v, want %v", o.Facts.Programs, want)
	}
	if ScriptFor(&topology.Topology{}) != Script {
		t.Error("without notify blocks the probe is not the plain one")
	}
}

// The probe marks the addresses the kernel made secondary (VIPs and what
// was added beside a host's own address), for drift.
func TestProbeMarksSecondaryAddresses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: adds addresses in a network namespace of its own")
	}
	setup := "ip link add d0 type veth peer name d1 && ip addr add 192.0.2.1/24 dev d0 && ip addr add 192.0.2.100/24 dev d0 && ip addr add 192.0.2.7/32 dev d0\n"
	out, err := exec.Command("unshare", "--net", "sh", "-c", setup+Script).CombinedOutput()
	if err != nil {
		t.Fatalf("probe in a network namespace: %v\n%s", err, out)
	}
	o, err := Parse("local", out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range o.Facts.Addrs {
		if strings.HasPrefix(a, "d0 ") {
			got = append(got, a)
		}
	}
	want := []string{"d0 192.0.2.1/24", "d0 192.0.2.7/32", "d0 192.0.2.100/24 secondary"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("addresses %q, want %q", got, want)
	}
}

// A notify program's name reaches the probe's shell only as a quoted word:
// the probe runs none of the hostile names and reports each as missing,
// under its own name.
func TestProbeTakesHostileProgramNamesLiterally(t *testing.T) {
	work := t.TempDir()
	topo := &topology.Topology{}
	want := map[string]bool{}
	for i, n := range hostile.Names {
		p := plan.NotifyProgram(n)
		if p == "" || p == "." || p == ".." || p == "~root" || p == "$HOME" || p == "a/b" || strings.HasPrefix(p, "/") {
			continue // programs that may exist where the test runs
		}
		topo.Notifies = append(topo.Notifies, &topology.Notify{Name: fmt.Sprint("n", i), Command: n})
		want[p] = false
	}
	cmd := exec.Command("sh", "-c", ScriptFor(topo))
	cmd.Dir = work
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe failed under sh: %v\n%s", err, out)
	}
	o, err := Parse("local", out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Facts.Programs, want) {
		t.Errorf("programs %v, want %v", o.Facts.Programs, want)
	}
	if _, err := os.Stat(filepath.Join(work, hostile.Marker)); err == nil {
		t.Error("a program name was run as a command")
	}
}

// With sync blocks the probe says whether the host has rsync and rrsync,
// looked up in PATH as the agent does: here a PATH holding rsync alone.
func TestProbeFindsRsyncAndRrsyncForSyncs(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "rsync"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	topo := &topology.Topology{SyncModules: []*topology.SyncModule{{Name: "docroot"}}}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-c", ScriptFor(topo))
	cmd.Env = []string{"PATH=" + bin}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe failed under sh: %v\n%s", err, out)
	}
	o, err := Parse("local", out)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"rsync": true, "rrsync": false}; !reflect.DeepEqual(o.Facts.Programs, want) {
		t.Errorf("programs %v, want %v", o.Facts.Programs, want)
	}
}
