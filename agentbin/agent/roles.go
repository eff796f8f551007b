package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Failed roles are started again after a backoff that doubles from
// minBackoff to maxBackoff, and starts over once a role has run for
// stableAfter.
const (
	minBackoff  = time.Second
	maxBackoff  = 30 * time.Second
	stableAfter = time.Minute
)

// roleRun is one role of the running spec, as the agent loop keeps it.
// Only the agent loop's goroutine touches it; the role's Run goroutine
// hands its result over through exit.
type roleRun struct {
	kind role.Kind
	key  string // spec.SectionKey the role was built or reloaded from

	inst    role.Role // nil while failed
	cancel  context.CancelFunc
	exit    chan error    // Run's result, buffered
	done    chan struct{} // closed when Run returned
	started time.Time

	state   status.RoleState
	err     string
	since   time.Time
	retryAt time.Time
	backoff time.Duration
}

// applyRoles starts, reloads, restarts or stops roles for a newly taken
// spec: only the roles whose section changed are touched.
func (a *Agent) applyRoles(s *spec.Spec) {
	var next []*roleRun
	for _, k := range a.cfg.Roles {
		key := s.SectionKey(k.Name())
		r := a.findRole(k.Name())
		switch {
		case key == "":
			if r != nil {
				a.stopRole(r)
				a.cfg.Logger.Printf("%s role stopped: the spec has nothing for it", k.Name())
			}
			a.releaseLeftovers(k)
			continue
		case r == nil:
			r = &roleRun{kind: k, key: key}
			a.startRole(r, s)
		case r.key == key:
		case r.inst != nil && reload(r.inst, s) == nil:
			r.key = key
			a.cfg.Logger.Printf("%s role reloaded", k.Name())
		default:
			a.stopRole(r)
			r.key, r.backoff = key, 0
			a.startRole(r, s)
		}
		next = append(next, r)
	}
	a.roles = next
}

// leftoverReleaser is a role kind whose role leaves what it started
// running when it stops (the heartbeat role's groups: an agent restart must
// not be a failover). When the spec gives the role nothing, or nothing
// more, the agent has it stop all of that.
type leftoverReleaser interface {
	ReleaseLeftovers(ctx context.Context, env role.Env) error
}

// releaseTimeout bounds the release of what a role left behind.
const releaseTimeout = 2 * time.Minute

func (a *Agent) releaseLeftovers(k role.Kind) {
	rl, ok := k.(leftoverReleaser)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := rl.ReleaseLeftovers(ctx, a.roleEnv()); err != nil {
		a.cfg.Logger.Printf("%s role: %v", k.Name(), err)
	}
}

// reload hands a changed spec to a role that can take it in place.
func reload(inst role.Role, s *spec.Spec) error {
	rl, ok := inst.(role.Reloader)
	if !ok {
		return errors.New("the role does not reload")
	}
	return rl.Reload(s)
}

func (a *Agent) findRole(name string) *roleRun {
	for _, r := range a.roles {
		if r.kind.Name() == name {
			return r
		}
	}
	return nil
}

// startRole builds the role for s and runs it in its own goroutine.
func (a *Agent) startRole(r *roleRun, s *spec.Spec) {
	now := time.Now()
	inst, err := r.kind.New(s, a.roleEnv())
	if err != nil {
		a.failRole(r, err, now)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	exit, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		err := inst.Run(ctx)
		if err == nil && ctx.Err() == nil {
			err = errors.New("it stopped by itself")
		}
		exit <- err
		a.wakeUp()
	}()
	recovered := r.state == status.RoleFailed
	r.inst, r.cancel, r.exit, r.done, r.started = inst, cancel, exit, done, now
	r.state, r.err, r.since = status.RoleRunning, "", now
	a.cfg.Logger.Printf("%s role running", r.kind.Name())
	if recovered {
		a.emit(status.Event{Time: now.UTC(), Kind: status.RoleRecovery, Node: s.Node, Detail: r.kind.Name()})
	}
	if f, ok := inst.(role.GroupFollower); ok {
		for _, g := range sortedTrue(a.groupsHere) {
			f.GroupChanged(role.GroupChange{Group: g, Here: true})
		}
	}
}

// stopRole ends a running role and waits for it.
func (a *Agent) stopRole(r *roleRun) {
	if r.inst == nil {
		return
	}
	r.cancel()
	<-r.done
	r.inst = nil
}

// failRole records why a role is not running and when it is tried again.
func (a *Agent) failRole(r *roleRun, err error, now time.Time) {
	if r.inst != nil {
		r.cancel()
		<-r.done
		r.inst = nil
	}
	if now.Sub(r.started) >= stableAfter {
		r.backoff = 0
	}
	r.backoff = min(max(2*r.backoff, minBackoff), maxBackoff)
	r.state, r.err, r.since, r.retryAt = status.RoleFailed, err.Error(), now, now.Add(r.backoff)
	msg := fmt.Sprintf("%s role failed: %v; starting it again in %s", r.kind.Name(), err, r.backoff)
	a.cfg.Logger.Print(msg)
	node := ""
	if a.current != nil {
		node = a.current.Node
	}
	a.emit(status.Event{Time: now.UTC(), Kind: status.RoleFailure, Node: node, Detail: msg})
}

// superviseRoles notices roles that stopped by themselves and starts
// failed roles again when their backoff has passed.
func (a *Agent) superviseRoles(now time.Time) {
	for _, r := range a.roles {
		if r.inst != nil {
			select {
			case err := <-r.exit:
				a.failRole(r, err, now)
			default:
			}
			continue
		}
		if r.state == status.RoleFailed && !now.Before(r.retryAt) && a.current != nil {
			a.startRole(r, a.current)
		}
	}
}

// stopRoles ends every role, when the agent stops.
func (a *Agent) stopRoles() {
	for _, r := range a.roles {
		a.stopRole(r)
	}
}

// reportRoles adds the roles' states and sections to a status, and the
// sections of the spec that no role of this agent runs.
func (a *Agent) reportRoles(st *status.Status, now time.Time) (allRunning bool) {
	allRunning = true
	for _, r := range a.roles {
		st.Roles = append(st.Roles, status.Role{Name: r.kind.Name(), State: r.state, Error: r.err, Since: r.since.UTC()})
		if r.inst == nil {
			allRunning = false
			continue
		}
		r.inst.Report(st)
		if d, ok := r.inst.(role.DriftReporter); ok {
			st.Drift = append(st.Drift, d.Drift(now)...)
		}
	}
	if a.current == nil {
		return allRunning
	}
	for _, sec := range spec.Sections {
		if !a.current.Has(sec.Role) || a.registered(sec.Role) {
			continue
		}
		st.Roles = append(st.Roles, status.Role{Name: sec.Role, State: status.RoleNotRun, Since: a.st.Started,
			Error: fmt.Sprintf("this agent (%s) has no %s role: the %s blocks are accepted and nothing runs them", a.cfg.Version, sec.Role, sec.Blocks)})
	}
	return allRunning
}

func (a *Agent) registered(name string) bool {
	for _, k := range a.cfg.Roles {
		if k.Name() == name {
			return true
		}
	}
	return false
}

// firstRoleError is the error of the first failed role, for the status's
// last error.
func (a *Agent) firstRoleError() string {
	for _, r := range a.roles {
		if r.state == status.RoleFailed {
			return r.kind.Name() + " role: " + r.err
		}
	}
	return ""
}
