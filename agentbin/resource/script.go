package resource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// scripted is a resource driven by an external program that is given the
// action as its argument: an LSB init script, systemctl, or an OCF
// resource agent. The three differ only in the command line, in which exit
// statuses mean "running" and "stopped", and in their advice.
type scripted struct {
	name    string
	what    string // the program, for messages: `LSB script /etc/init.d/x`
	timeout time.Duration
	// command builds the command line of an action; timeout is what the
	// action is allowed (OCF agents are told it).
	command func(action string, timeout time.Duration) command
	// monitorAction is the action that reports whether it runs.
	monitorAction string
	// running maps the monitor action's exit status (and output) to
	// running or not; known is false for a status that means neither.
	running func(code int, stdout string) (running, known bool)
	// stoppedCodes are the exit statuses of stop, besides 0, that mean it
	// is stopped.
	stoppedCodes []int
}

func (s *scripted) Name() string { return s.name }

// Start runs the start action; only exit status 0 is success.
func (s *scripted) Start(ctx context.Context) error {
	r, err := s.do(ctx, "start")
	if err != nil {
		return err
	}
	if r.code != 0 {
		return s.failure("start", r)
	}
	return nil
}

// Stop runs the stop action.
func (s *scripted) Stop(ctx context.Context) error {
	r, err := s.do(ctx, "stop")
	if err != nil {
		return err
	}
	if r.code != 0 && !slices.Contains(s.stoppedCodes, r.code) {
		return s.failure("stop", r)
	}
	return nil
}

// Monitor runs the monitor action and maps its exit status.
func (s *scripted) Monitor(ctx context.Context) (bool, error) {
	r, err := s.do(ctx, s.monitorAction)
	if err != nil {
		return false, err
	}
	running, known := s.running(r.code, r.stdout)
	if !known {
		return false, s.failure(s.monitorAction, r)
	}
	return running, nil
}

// do runs one action within the resource's timeout (or ctx's deadline,
// when that comes first).
func (s *scripted) do(ctx context.Context, action string) (result, error) {
	timeout := s.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	r, err := run(ctx, s.command(action, timeout))
	if err != nil {
		hint := "check that it is installed and executable"
		if errors.Is(err, context.DeadlineExceeded) {
			hint = "find out why it hangs, or raise the resource's monitor_timeout"
		}
		return r, fmt.Errorf("resource %q (%s): %s: %w; %s", s.name, s.what, action, err, hint)
	}
	return r, nil
}

// failure is the error of an action that ended with an unexpected exit
// status.
func (s *scripted) failure(action string, r result) error {
	msg := fmt.Sprintf("resource %q (%s): %s failed: exit status %d (%s)", s.name, s.what, action, r.code, exitName(action, r.code))
	return fmt.Errorf("%s; %s", withOutput(msg, r), exitHint(r.code))
}

// exitName is what an action's exit status means to LSB init scripts,
// OCF resource agents (which share 0-7) and systemctl (which follows LSB).
func exitName(action string, code int) string {
	if action == "status" && code == 4 { // LSB's status action
		return "status unknown"
	}
	switch code {
	case 0:
		return "success"
	case 1:
		return "generic error"
	case 2:
		return "invalid or excess arguments"
	case 3:
		return "unimplemented feature"
	case 4:
		return "insufficient privileges"
	case 5:
		return "not installed"
	case 6:
		return "not configured"
	case 7:
		return "not running"
	case 8:
		return "running as master"
	case 9:
		return "failed as master"
	}
	return "unknown status"
}

// exitHint says what to do about a failed action's exit status.
func exitHint(code int) string {
	switch code {
	case 2, 6:
		return "check the resource's parameters in the configuration and the program's own configuration on this node"
	case 3:
		return "the program does not implement this action: use another agent or resource kind"
	case 4:
		return "run hactl-agent as root, or fix the permissions the program needs"
	case 5:
		return "install the program (and what it manages) on this node"
	}
	return "see the output above and the program's logs on this node"
}

// firstWord is the first word of s, lowercased.
func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return strings.ToLower(f[0])
	}
	return ""
}
