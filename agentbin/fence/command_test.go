package fence

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

func TestCommandGetsNodeAndAction(t *testing.T) {
	for _, action := range []string{"off", "reboot"} {
		t.Run(action, func(t *testing.T) {
			record := writeFile(t, "record", "", 0o644)
			prog := writeFile(t, "pdu-off", "#!/bin/sh\necho \"$1 $HACTL_FENCE_ACTION\" > "+record+"\n", 0o755)
			logs, err := fenceWith(t, spec.Fence{Type: "command", Command: prog, Action: action}, Options{}, "h2g")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(record); string(got) != "h2g "+action+"\n" {
				t.Fatalf("the program saw %q", got)
			}
			if !strings.Contains(logs, "fence h2g: fenced ("+action+")") {
				t.Fatalf("log:\n%s", logs)
			}
		})
	}
}

func TestCommandFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  string // "" means the program does not exist
		timeout int
		want    []string
	}{
		{"non-zero exit", "#!/bin/sh\necho 'PDU port 3 unreachable' >&2\nexit 3\n", 0,
			[]string{"fencing h2g with command ", "exit status 3: PDU port 3 unreachable", "check that the program exists"}},
		{"missing program", "", 0, []string{"no such file or directory"}},
		{"hangs past the timeout", "#!/bin/sh\nsleep 60\n", 300, []string{"killed", "no result within the fence timeout of 300ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := "/nonexistent/pdu-off"
			if tc.script != "" {
				prog = writeFile(t, "pdu-off", tc.script, 0o755)
			}
			start := time.Now()
			_, err := fenceWith(t, spec.Fence{Type: "command", Command: prog, TimeoutMS: tc.timeout}, Options{}, "h2g")
			wantOutcome(t, err, tc.want)
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
}

func TestCommandTimeoutKillsTheWholeProcessGroup(t *testing.T) {
	pidFile := writeFile(t, "pid", "", 0o644)
	prog := writeFile(t, "pdu-off", "#!/bin/sh\nsleep 60 &\necho $! > "+pidFile+"\nwait\n", 0o755)
	if _, err := fenceWith(t, spec.Fence{Type: "command", Command: prog, TimeoutMS: 1500}, Options{}, "h2g"); err == nil {
		t.Fatal("fenced, want a timeout")
	}
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file: %q", b)
	}
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the program's child %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}
