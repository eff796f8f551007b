package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/fence"
	"github.com/hactl/hactl/agentbin/heartbeat"
	"github.com/hactl/hactl/agentbin/resource"
	"github.com/hactl/hactl/agentbin/spec"
)

// roleSet runs the roles a spec asks for. Today: heartbeat.
type roleSet struct {
	hb      *heartbeat.Engine
	hbKey   string // the spec sections the engine was built from
	cancel  context.CancelFunc
	done    chan struct{}
	hbError string
}

// heartbeatKey is what, in a spec, the heartbeat role depends on: a change
// elsewhere (a proxy, a sync) leaves it running undisturbed.
func heartbeatKey(s *spec.Spec) string {
	b, _ := json.Marshal(struct {
		H *spec.Heartbeat
		Q *spec.Quorum
		G []spec.Group
		N []spec.Notify
		S []spec.Secret
	}{s.Heartbeat, s.Quorum, s.Groups, s.Notifies, s.Secrets})
	return string(b)
}

// apply starts, restarts or stops roles for a newly taken spec.
func (r *roleSet) apply(a *Agent, s *spec.Spec) {
	key := heartbeatKey(s)
	if r.hb != nil && key == r.hbKey {
		return
	}
	r.stopHeartbeat()
	r.hbError = ""
	if s.Heartbeat == nil {
		return
	}
	eng, err := heartbeat.New(heartbeat.Config{
		Spec:         s,
		Logger:       a.cfg.Logger,
		StateDir:     a.cfg.StateDir,
		Notify:       func(ev heartbeat.Event) { a.event(s, ev) },
		ResourceEnv:  resource.Env{Logger: a.cfg.Logger},
		FenceOptions: fence.Options{Logger: a.cfg.Logger},
	})
	if err != nil {
		r.hbError = err.Error()
		a.cfg.Logger.Print(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.hb, r.hbKey, r.cancel, r.done = eng, key, cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		if err := eng.Run(ctx); err != nil {
			a.cfg.Logger.Print(err)
			r.hbError = err.Error()
		}
	}(r.done)
}

func (r *roleSet) stopHeartbeat() {
	if r.hb == nil {
		return
	}
	r.cancel()
	<-r.done
	r.hb = nil
}

// event logs a role's event and runs the notify commands that want it.
func (a *Agent) event(s *spec.Spec, ev heartbeat.Event) {
	a.cfg.Logger.Printf("event %s node=%s group=%s %s", ev.Kind, ev.Node, ev.Group, ev.Detail)
	for _, n := range s.Notifies {
		if len(n.Events) > 0 && !slices.Contains(n.Events, ev.Kind) {
			continue
		}
		go runNotify(a, n, ev)
	}
}

// runNotify runs one notify command, split on white space (no shell), with
// the event in its environment.
func runNotify(a *Agent, n spec.Notify, ev heartbeat.Event) {
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
	cmd.Env = append(os.Environ(), "HACTL_EVENT="+ev.Kind, "HACTL_NODE="+ev.Node, "HACTL_GROUP="+ev.Group,
		"HACTL_DETAIL="+ev.Detail, "HACTL_TIME="+ev.Time.Format(time.RFC3339Nano))
	if out, err := cmd.CombinedOutput(); err != nil {
		a.cfg.Logger.Printf("notify %s for %s: %v: %s", n.Name, ev.Kind, err, strings.TrimSpace(string(out)))
	}
}

// control forwards an operator's request to the heartbeat role.
func (r *roleSet) control(ctx context.Context, req heartbeat.Request) error {
	if r.hb == nil {
		if r.hbError != "" {
			return fmt.Errorf("the heartbeat role is not running: %s", r.hbError)
		}
		return fmt.Errorf("this node is not a member of any group, so it has no heartbeat role")
	}
	return r.hb.Control(ctx, req)
}
