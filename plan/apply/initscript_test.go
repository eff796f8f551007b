package apply

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// initFixture is the init script installed in a temporary directory with
// a stand-in for the agent's program, run as a host without systemd runs
// it.
type initFixture struct {
	dir, script, pidFile, log string
}

// newInitFixture installs the script; agent is the stand-in's shell body,
// run for "agent run" with $dir the fixture's directory.
func newInitFixture(t *testing.T, agent string) *initFixture {
	t.Helper()
	dir := t.TempDir()
	f := &initFixture{dir: dir, script: filepath.Join(dir, "hactl-agent.init"), pidFile: filepath.Join(dir, "run", "supervisor.pid"),
		log: filepath.Join(dir, "agent.log")}
	agentPath := filepath.Join(dir, "agent")
	if err := os.WriteFile(agentPath, []byte("#!/bin/sh\ndir="+dir+"\n[ \"$1\" = run ] || exit 2\n"+agent), 0o755); err != nil {
		t.Fatal(err)
	}
	script := initScriptFor(f.script, agentPath, f.pidFile, f.log, filepath.Join(dir, "run")+" "+filepath.Join(dir, "state"))
	if err := os.WriteFile(f.script, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A test that failed half-way must not leave a supervisor behind.
		if pid, err := f.pid(); err == nil {
			_ = exec.Command("kill", "-KILL", "--", "-"+strconv.Itoa(pid)).Run()
		}
	})
	return f
}

func (f *initFixture) run(t *testing.T, cmd string) (string, error) {
	t.Helper()
	out, err := exec.Command(f.script, cmd).CombinedOutput()
	return string(out), err
}

// agentPid waits for the fixture's agent, which writes its pid to
// agent.pid, and returns the pid.
func (f *initFixture) agentPid(t *testing.T) int {
	t.Helper()
	var agent int
	waitFor(t, 5*time.Second, "the agent runs", func() bool {
		data, err := os.ReadFile(filepath.Join(f.dir, "agent.pid"))
		agent, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && agent > 0
	})
	return agent
}

func (f *initFixture) pid() (int, error) {
	data, err := os.ReadFile(f.pidFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool {
	// A zombie (exited, not reaped yet) is gone for this purpose.
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	return err == nil && !strings.Contains(string(status), "\nState:\tZ")
}

func TestInitScriptRestartsAnAgentThatExitsBackingOff(t *testing.T) {
	f := newInitFixture(t, "date +%s%N >> $dir/starts\nexit 3\n")
	if out, err := f.run(t, "start"); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	// Each start's time, in ns.
	starts := func() []int64 {
		data, _ := os.ReadFile(filepath.Join(f.dir, "starts"))
		var at []int64
		for _, l := range strings.Fields(string(data)) {
			ns, _ := strconv.ParseInt(l, 10, 64)
			at = append(at, ns)
		}
		return at
	}
	waitFor(t, 10*time.Second, "the agent started 4 times", func() bool { return len(starts()) >= 4 })
	// 100 + 200 + 400 ms of back-off at least between the first start
	// and the fourth.
	if at := starts(); at[3]-at[0] < int64(700*time.Millisecond) {
		t.Errorf("4 starts in %v: no back-off", time.Duration(at[3]-at[0]))
	}
	log, _ := os.ReadFile(f.log)
	for _, want := range []string{"agent exited (exit status 3); restarting in 100ms", "restarting in 200ms", "restarting in 400ms"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if out, err := f.run(t, "stop"); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	n := len(starts())
	time.Sleep(time.Second)
	if len(starts()) != n {
		t.Error("the agent was started again after stop")
	}
}

func TestInitScriptStopsTheAgentWithTERM(t *testing.T) {
	f := newInitFixture(t, "echo $$ > $dir/agent.pid\ntrap 'echo term > $dir/stopped; exit 0' TERM\nwhile :; do sleep 0.05; done\n")
	if out, err := f.run(t, "start"); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	if out, err := f.run(t, "status"); err != nil || strings.TrimSpace(out) != "running" {
		t.Errorf("status after start: %q, %v", out, err)
	}
	agent := f.agentPid(t)
	supervisor, err := f.pid()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if out, err := f.run(t, "stop"); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("stop took %v", took)
	}
	if data, _ := os.ReadFile(filepath.Join(f.dir, "stopped")); string(data) != "term\n" {
		t.Errorf("the agent was not stopped with TERM (it wrote %q)", data)
	}
	if alive(agent) || alive(supervisor) {
		t.Errorf("after stop: agent alive %v, supervisor alive %v", alive(agent), alive(supervisor))
	}
	if _, err := os.Stat(f.pidFile); !os.IsNotExist(err) {
		t.Errorf("the pid file is left: %v", err)
	}
	if out, err := f.run(t, "status"); err == nil || strings.TrimSpace(out) != "stopped" {
		t.Errorf("status after stop: %q, %v", out, err)
	}
	// Started again, it runs again.
	if out, err := f.run(t, "restart"); err != nil {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	if out, err := f.run(t, "stop"); err != nil {
		t.Fatalf("stop after restart: %v\n%s", err, out)
	}
}

// An agent that does not stop on TERM is killed 10 s later, and the
// supervisor exits then: a stop never hangs for ever.
func TestInitScriptKillsAnAgentThatIgnoresTERM(t *testing.T) {
	f := newInitFixture(t, "echo $$ > $dir/agent.pid\ntrap '' TERM\nwhile :; do sleep 0.05; done\n")
	if out, err := f.run(t, "start"); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	agent := f.agentPid(t)
	supervisor, err := f.pid()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := exec.Command("kill", strconv.Itoa(supervisor)).Run(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if !alive(agent) {
		t.Fatal("the agent that ignores TERM was killed before its 10 s")
	}
	waitFor(t, 10*time.Second, "the agent and its supervisor are gone", func() bool { return !alive(agent) && !alive(supervisor) })
	if took := time.Since(begin); took < 10*time.Second {
		t.Errorf("killed after %v, before its 10 s", took)
	}
}
