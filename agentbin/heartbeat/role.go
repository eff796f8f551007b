package heartbeat

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/fence"
	"github.com/hactl/hactl/agentbin/resource"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Kind is the heartbeat role as the agent registers it.
type Kind struct{}

var (
	_ role.Kind          = Kind{}
	_ role.Role          = (*Engine)(nil)
	_ role.Controller    = (*Engine)(nil)
	_ role.DriftReporter = (*Engine)(nil)
)

// Name implements role.Kind.
func (Kind) Name() string { return "heartbeat" }

// New implements role.Kind.
func (Kind) New(s *spec.Spec, env role.Env) (role.Role, error) {
	e, err := New(Config{
		Spec:         s,
		Logger:       env.Logger,
		StateDir:     env.StateDir,
		Notify:       env.Emit,
		ResourceEnv:  resource.Env{Logger: env.Logger},
		FenceOptions: fence.Options{Logger: env.Logger},
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// ReleaseLeftovers stops everything the role started on this node: the
// agent calls it when the spec has no heartbeat section (any more).
func (Kind) ReleaseLeftovers(ctx context.Context, env role.Env) error {
	return ReleaseAll(ctx, env.StateDir, env.Logger)
}

// ReleaseAll stops every resource recorded as started under stateDir
// (layout.StateDir when empty), newest first: for destroy, with the agent
// stopped, and for a node that is no longer a member.
func ReleaseAll(ctx context.Context, stateDir string, logger *log.Logger) error {
	rec, err := resource.LoadRecord(recordPath(stateDir))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if err := rec.Release(ctx, nil, resource.New, resource.Env{Logger: logger}); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Report implements role.Role: the membership and groups as this member
// sees them.
func (e *Engine) Report(st *status.Status) { st.Heartbeat = e.Status() }

// Drift implements role.DriftReporter.
func (e *Engine) Drift(now time.Time) []string {
	return append(runtimeDrift(e.Status(), now), e.leftoverDrift()...)
}

// RequestUsage lists the requests the role takes, after
// `hactl-agent ctl heartbeat`.
const RequestUsage = "standby | online | maintenance on|off | move GROUP [NODE] [for=DURATION] | unmove GROUP"

// HandleRequest implements role.Controller.
func (e *Engine) HandleRequest(ctx context.Context, req role.Request) error {
	r, err := ParseRequest(req.Op, req.Args)
	if err != nil {
		return err
	}
	return e.Control(ctx, r)
}

// ParseRequest reads an operator's request: the operation and its words.
func ParseRequest(op string, args []string) (Request, error) {
	switch {
	case op == "standby" && len(args) == 0, op == "online" && len(args) == 0:
		return Request{Op: op}, nil
	case op == "maintenance" && len(args) == 1 && (args[0] == "on" || args[0] == "off"):
		return Request{Op: op, On: args[0] == "on"}, nil
	case op == "move" && len(args) >= 1 && len(args) <= 3:
		return parseMove(args)
	case op == "unmove" && len(args) == 1:
		return Request{Op: op, Group: args[0]}, nil
	}
	return Request{}, fmt.Errorf("the heartbeat role takes %s, not %q %q", RequestUsage, op, args)
}

// parseMove reads `move GROUP [NODE] [for=DURATION]`.
func parseMove(args []string) (Request, error) {
	req := Request{Op: "move", Group: args[0]}
	for _, a := range args[1:] {
		d, isFor := strings.CutPrefix(a, "for=")
		switch {
		case isFor && req.For == 0:
			dur, err := time.ParseDuration(d)
			if err != nil || dur <= 0 {
				return Request{}, fmt.Errorf("move %s: %q is not a positive duration such as 30m or 2h", req.Group, d)
			}
			req.For = dur
		case !isFor && req.To == "" && req.For == 0:
			req.To = a
		default:
			return Request{}, fmt.Errorf("the heartbeat role takes %s, not \"move\" %q", RequestUsage, args)
		}
	}
	return req, nil
}

// driftMemory is how long a resource found stopped and restarted stays in
// the drift report: long enough for a CI drift job to see it.
const driftMemory = 10 * time.Minute

// runtimeDrift lists what differs from the spec on the host: resources of
// a group running here that are not running, or that were recently found
// stopped (by hand, or by a crash) and restarted.
func runtimeDrift(hb *status.Heartbeat, now time.Time) []string {
	if hb == nil {
		return nil
	}
	var out []string
	for _, g := range hb.Groups {
		if g.State != "running" {
			continue
		}
		for _, r := range g.Resources {
			switch {
			case !r.Running:
				out = append(out, fmt.Sprintf("group %s: %s %s is not running", g.Name, r.Kind, r.Name))
			case r.Restarts > 0 && now.Sub(r.LastRestart) < driftMemory:
				out = append(out, fmt.Sprintf("group %s: %s %s was found stopped and restarted at %s", g.Name, r.Kind, r.Name, r.LastRestart.Format("15:04:05")))
			}
		}
	}
	return out
}
