package resource

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// step is one action on a resource and what it must give.
type step struct {
	action  string // start, stop, monitor, validate
	running bool   // for monitor
}

// walk runs steps on r, failing the test at the first that goes wrong.
func walk(t *testing.T, r Resource, steps ...step) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, s := range steps {
		running, err := act(ctx, r, s.action)
		if err != nil {
			t.Fatalf("step %d, %s: %v", i, s.action, err)
		}
		if s.action == "monitor" && running != s.running {
			t.Fatalf("step %d: monitor says running=%v, want %v", i, running, s.running)
		}
	}
}

var (
	start   = step{action: "start"}
	stop    = step{action: "stop"}
	up      = step{action: "monitor", running: true}
	down    = step{action: "monitor"}
	checked = step{action: "validate"}
)

func TestLSBScriptStartsStopsAndReportsItsDaemon(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LSB_DIR", dir)
	script, err := filepath.Abs("testdata/lsb-daemon")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(spec.Resource{Kind: "lsb", Name: "daemon", Script: script, MonitorTimeoutMS: 10000}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	begin := time.Now()
	walk(t, r, down, stop, start)
	// The daemon keeps the script's stdout open: start must not wait for it.
	if took := time.Since(begin); took > 8*time.Second {
		t.Fatalf("start took %v: it waited for the daemon", took)
	}
	walk(t, r, up, start, up)

	b, err := os.ReadFile(filepath.Join(dir, "daemon.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	walk(t, r, down, start, up, stop, down, stop, down)
}

// waitGone waits until process pid has exited (a zombie has).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d is still there", pid)
		}
	}
}

// debianOCF skips the test when Debian's resource-agents is not
// installed.
func debianOCF(t *testing.T, agent string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(DefaultOCFRoot, "resource.d", "heartbeat", agent)); err != nil {
		t.Skipf("OCF agent heartbeat:%s is not installed (apt-get install resource-agents): %v", agent, err)
	}
}

func TestOCFDummyAgent(t *testing.T) {
	debianOCF(t, "Dummy")
	state := filepath.Join(t.TempDir(), "dummy.state")
	r, err := New(spec.Resource{Kind: "ocf", Name: "dummy", OCFProvider: "heartbeat", OCFType: "Dummy",
		Params: map[string]string{"state": state}, MonitorIntervalMS: 1000, MonitorTimeoutMS: 20000}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	walk(t, r, checked, down, stop, start, up, start, up)
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("Dummy's state file after start: %v", err)
	}
	walk(t, r, stop, down, stop)
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("Dummy's state file after stop: %v", err)
	}

	bad, err := New(spec.Resource{Kind: "ocf", Name: "dummy", OCFProvider: "heartbeat", OCFType: "Dummy",
		Params: map[string]string{"state": "/nonexistent/dir/dummy.state"}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.(Validator).Validate(context.Background())
	if err == nil || !strings.Contains(err.Error(), `resource "dummy" (ocf:heartbeat:Dummy): validate-all failed: exit status 2 (invalid or excess arguments)`) ||
		!strings.Contains(err.Error(), "is not writable") {
		t.Fatalf("validate-all with a state file in a missing folder: %v", err)
	}
}

// alive reports whether process pid runs: it exists and is no zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces, the state follows its ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}
