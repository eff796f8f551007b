package agent

import (
	"context"
	"log"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// runNotifies starts the notify commands that want the event, each in its
// own goroutine.
func runNotifies(logger *log.Logger, notifies []spec.Notify, ev status.Event) {
	for _, n := range notifies {
		if len(n.Events) > 0 && !slices.Contains(n.Events, string(ev.Kind)) {
			continue
		}
		go runNotify(logger, n, ev)
	}
}

// runNotify runs one notify command, split on white space (no shell), with
// the event in its environment.
func runNotify(logger *log.Logger, n spec.Notify, ev status.Event) {
	argv := strings.Fields(n.Command)
	if len(argv) == 0 {
		return
	}
	timeout := time.Duration(n.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "HACTL_EVENT="+string(ev.Kind), "HACTL_NODE="+ev.Node, "HACTL_GROUP="+ev.Group,
		"HACTL_DETAIL="+ev.Detail, "HACTL_TIME="+ev.Time.Format(time.RFC3339Nano))
	if out, err := cmd.CombinedOutput(); err != nil {
		logger.Printf("notify %s for %s: %v: %s", n.Name, ev.Kind, err, strings.TrimSpace(string(out)))
	}
}
