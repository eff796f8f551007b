package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

func TestRunVersionPrintsVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "hactl-agent dev ") {
		t.Errorf("version output %q", out.String())
	}
}

func TestRunRefusesUnknownCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"apply"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "usage") {
		t.Errorf("stderr %q lacks usage", errOut.String())
	}
}

// TestAgentLeavesOutHeavyLibraries keeps the agent small: every page of
// its binary tends to end up resident on every node. protobuf came in
// once with the Prometheus encoder and made the binary 4 MB bigger.
func TestAgentLeavesOutHeavyLibraries(t *testing.T) {
	// go test puts its own go command first on PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the agent's packages: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, heavy := range []string{"google.golang.org/protobuf/", "github.com/prometheus/", "github.com/hashicorp/hcl", "github.com/charmbracelet/", "github.com/spf13/cobra"} {
			if strings.HasPrefix(pkg, heavy) {
				t.Errorf("the agent imports %s", pkg)
			}
		}
	}
}

// groupChildEnv makes the test binary, run as a child, raise its
// scheduling group as the agent does and print its autogroup.
const groupChildEnv = "HACTL_AGENT_TEST_FAVOUR_GROUP"

// TestAgentRaisesItsSchedulingGroup starts a child in a session of its
// own, as the supervisor starts the agent, and reads the nice value of the
// child's autogroup after favourGroup: without it, a mostly idle agent's
// group waited for busy ones and peers declared the node dead.
func TestAgentRaisesItsSchedulingGroup(t *testing.T) {
	if os.Getenv(groupChildEnv) != "" {
		var logged bytes.Buffer
		favourGroup(log.New(&logged, "", 0))
		b, err := os.ReadFile("/proc/self/autogroup")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("autogroup: %s", b)
		if logged.Len() > 0 {
			fmt.Printf("logged: %s", logged.String())
		}
		return
	}
	if _, err := os.Stat("/proc/self/autogroup"); err != nil {
		t.Skipf("this kernel has no autogroups (%v): favourGroup does nothing here", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: only root may lower a nice value")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentRaisesItsSchedulingGroup$", "-test.count=1")
	cmd.Env = append(os.Environ(), groupChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^autogroup: /autogroup-\d+ nice -10$`).Match(out) {
		t.Errorf("the child's autogroup is not at nice -10:\n%s", out)
	}
	if strings.Contains(string(out), "logged:") {
		t.Errorf("favourGroup complained:\n%s", out)
	}
}

// TestProcsFollowTheRoles: two Ps where the spec runs the heartbeat (a
// command starting must not hold up its engine), every CPU where it runs
// a proxy, one elsewhere.
func TestProcsFollowTheRoles(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // procsFor leaves a set one alone
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	procsFor(&spec.Spec{Heartbeat: &spec.Heartbeat{}})
	if got, want := runtime.GOMAXPROCS(0), min(2, runtime.NumCPU()); got != want {
		t.Errorf("with a heartbeat: %d Ps, want %d", got, want)
	}
	procsFor(&spec.Spec{Proxies: []spec.Proxy{{Name: "web"}}})
	if got, want := runtime.GOMAXPROCS(0), runtime.NumCPU(); got != want {
		t.Errorf("with a proxy: %d Ps, want %d", got, want)
	}
	procsFor(&spec.Spec{})
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("without a heartbeat or a proxy: %d Ps, want 1", got)
	}
}

// TestHeapFollowsTheRoles: the heap grows by half between collections,
// by twice where a proxy runs (it allocates with every request), unless
// GOGC is set.
func TestHeapFollowsTheRoles(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	heapFor(&spec.Spec{Proxies: []spec.Proxy{{Name: "web"}}})
	if got := debug.SetGCPercent(-1); got != 200 {
		t.Errorf("with a proxy: GC at %d%%, want 200%%", got)
	}
	heapFor(&spec.Spec{Heartbeat: &spec.Heartbeat{}})
	if got := debug.SetGCPercent(-1); got != 50 {
		t.Errorf("without a proxy: GC at %d%%, want 50%%", got)
	}
	t.Setenv("GOGC", "80")
	debug.SetGCPercent(80)
	heapFor(&spec.Spec{Proxies: []spec.Proxy{{Name: "web"}}})
	if got := debug.SetGCPercent(-1); got != 80 {
		t.Errorf("with GOGC=80 and a proxy: GC at %d%%, want GOGC's 80%%", got)
	}
}
