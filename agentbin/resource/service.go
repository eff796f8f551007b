package resource

import (
	"fmt"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// newService runs a systemd unit with `systemctl start|stop|is-active
// UNIT`; systemctl waits for the start or stop job to finish.
func newService(r spec.Resource) (Resource, error) {
	if r.Unit == "" || strings.ContainsAny(r.Unit, "/ \t\n") || strings.HasPrefix(r.Unit, "-") {
		return nil, fmt.Errorf("resource %q: %q is not a systemd unit name; name the unit, e.g. apache2.service", r.Name, r.Unit)
	}
	return &scripted{
		name:    r.Name,
		what:    "systemd unit " + r.Unit,
		timeout: timeoutOf(r.MonitorTimeoutMS),
		command: func(action string, timeout time.Duration) command {
			return command{path: "systemctl", args: []string{action, r.Unit}, timeout: timeout}
		},
		monitorAction: "is-active",
		running:       systemdRunning,
		// 5: the unit is not loaded, so it does not run.
		stoppedCodes: []int{5},
	}, nil
}

// systemdRunning maps `systemctl is-active`: exit status 0 is active (or
// reloading); otherwise the state it prints says whether the unit is
// simply not running. Anything else — systemctl failing to reach systemd,
// say — is not an answer.
func systemdRunning(code int, stdout string) (running, known bool) {
	if code == 0 {
		return true, true
	}
	switch firstWord(stdout) {
	case "inactive", "failed", "activating", "deactivating", "maintenance", "unknown":
		return false, true
	}
	return false, false
}
