package resource

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// newLSB runs an LSB init script: `SCRIPT start|stop|status`.
func newLSB(r spec.Resource) (Resource, error) {
	if !filepath.IsAbs(r.Script) {
		return nil, fmt.Errorf("resource %q: lsb script %q is not an absolute path; name the init script in full, e.g. /etc/init.d/apache2", r.Name, r.Script)
	}
	return &scripted{
		name:    r.Name,
		what:    "LSB script " + r.Script,
		timeout: timeoutOf(r.MonitorTimeoutMS),
		command: func(action string, timeout time.Duration) command {
			return command{path: r.Script, args: []string{action}, timeout: timeout}
		},
		monitorAction: "status",
		running:       lsbRunning,
		// LSB wants 0 for stopping a stopped service; 7 ("not running")
		// from older scripts says the same.
		stoppedCodes: []int{7},
	}, nil
}

// lsbRunning maps the exit status of an LSB script's status action:
// 0 running; 1 dead with a pid file left, 2 dead with a lock file left,
// 3 not running; 4 (unknown) and the rest say nothing.
func lsbRunning(code int, _ string) (running, known bool) {
	switch code {
	case 0:
		return true, true
	case 1, 2, 3:
		return false, true
	}
	return false, false
}
