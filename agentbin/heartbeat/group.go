package heartbeat

import (
	"context"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hactl/hactl/agentbin/resource"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// GroupState is where a group is on this node.
type GroupState string

// Group states.
const (
	Stopped  GroupState = "stopped"
	Starting GroupState = "starting"
	Running  GroupState = "running"
	Stopping GroupState = "stopping"
	// Failed: the group could not start, or failed beyond its restart
	// limit, here; this node will not run it again until the operator
	// clears it (hactl online) or the agent restarts.
	Failed GroupState = "failed"
	// StopFailed: a resource would not stop; the group may still partly
	// run here, so this node keeps announcing it and no other node takes
	// it without fencing this one.
	StopFailed GroupState = "stop-failed"
)

// groupEvent tells the engine that a group changed state here.
type groupEvent struct {
	group string
	state GroupState
	err   error
	// restarted, when set, says which resource was restarted in place and
	// why; the group's state is unchanged.
	restarted string
}

// ResourceStatus is one resource as the runner last saw it.
type ResourceStatus = status.Resource

// groupRunner starts, stops and monitors one group's resources, in its own
// goroutine, so that a slow resource never holds up heartbeats.
type groupRunner struct {
	spec   spec.Group
	res    []resource.Resource
	logger *log.Logger
	// rec notes each resource before it starts and drops it once it
	// stopped, so that an agent to come can release it when it leaves the
	// spec.
	rec    *resource.Record
	events chan<- groupEvent
	ending <-chan struct{} // run's ctx.Done(); only run's goroutine uses it
	cmds   chan bool       // true: start, false: stop

	// paused stops monitoring (maintenance mode): the operator works on
	// the resources and the agent keeps its hands off.
	paused atomic.Bool

	mu       sync.Mutex
	statuses []ResourceStatus
}

// resourceFactory makes a group's resources; tests replace resource.New.
type resourceFactory = resource.Factory

func newGroupRunner(g spec.Group, env resource.Env, newResource resourceFactory, rec *resource.Record, events chan<- groupEvent) (*groupRunner, error) {
	r := &groupRunner{spec: g, logger: env.Logger, rec: rec, events: events, cmds: make(chan bool, 4)}
	for _, rs := range g.Resources {
		res, err := newResource(rs, env)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", g.Name, err)
		}
		r.res = append(r.res, res)
		r.statuses = append(r.statuses, ResourceStatus{Name: rs.Name, Kind: rs.Kind})
	}
	return r, nil
}

// Statuses returns a copy of the resources' last seen states.
func (r *groupRunner) Statuses() []ResourceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ResourceStatus(nil), r.statuses...)
}

func (r *groupRunner) setStatus(i int, running bool, err error, restarted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses[i].Running = running
	r.statuses[i].LastError = ""
	if err != nil {
		r.statuses[i].LastError = err.Error()
	}
	if restarted {
		r.statuses[i].Restarts++
		r.statuses[i].LastRestart = time.Now().UTC()
	}
}

func (r *groupRunner) timeout(i int) time.Duration {
	if ms := r.spec.Resources[i].MonitorTimeoutMS; ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 20 * time.Second
}

// emit tells the engine; once the runner is told to end, the engine may
// no longer listen, and the event is dropped rather than waited on (the
// engine waits for its runners when it ends).
func (r *groupRunner) emit(state GroupState, err error) {
	select {
	case r.events <- groupEvent{group: r.spec.Name, state: state, err: err}:
	case <-r.ending:
	}
}

// run is the runner's goroutine; it ends when ctx does, leaving the
// resources as they are (the engine stops them first when it must).
func (r *groupRunner) run(ctx context.Context) {
	r.ending = ctx.Done()
	running := false
	next := make([]time.Time, len(r.res))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Hour
		if running {
			now := time.Now()
			for i := range next {
				wait = min(wait, max(next[i].Sub(now), 0))
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			for _, res := range r.res {
				if d, ok := res.(resource.Detacher); ok {
					d.Detach()
				}
			}
			return
		case start := <-r.cmds:
			switch {
			case start && !running:
				r.emit(Starting, nil)
				if err := r.start(ctx); err != nil {
					r.emit(r.stopAfterFailure(ctx, err))
					continue
				}
				running = true
				now := time.Now()
				for i := range next {
					next[i] = now.Add(r.interval(i))
				}
				r.emit(Running, nil)
			case !start && running:
				running = false
				r.emit(Stopping, nil)
				if err := r.stop(ctx, len(r.res)); err != nil {
					r.emit(StopFailed, err)
					continue
				}
				r.emit(Stopped, nil)
			case !start:
				// Stop of a group that is not running here: make sure
				// (after a crash, a VIP may still be configured).
				if err := r.stop(ctx, len(r.res)); err != nil {
					r.emit(StopFailed, err)
					continue
				}
				r.emit(Stopped, nil)
			}
		case <-timer.C:
			if !running || r.paused.Load() {
				continue
			}
			now := time.Now()
			for i := range r.res {
				if now.Before(next[i]) {
					continue
				}
				next[i] = now.Add(r.interval(i))
				if err := r.monitor(ctx, i); err != nil {
					running = false
					r.emit(r.stopAfterFailure(ctx, err))
					break
				}
			}
		}
	}
}

func (r *groupRunner) interval(i int) time.Duration {
	if ms := r.spec.Resources[i].MonitorIntervalMS; ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 10 * time.Second
}

// start starts the resources in order; on a failure it stops the ones
// already started, in reverse.
func (r *groupRunner) start(ctx context.Context) error {
	for i, res := range r.res {
		if err := r.rec.Add(r.spec.Name, r.spec.Resources[i]); err != nil {
			// Not a reason to fail over: the resource runs as well
			// without; only a later spec change may then not stop it.
			r.logger.Printf("group %s: %v; if %s leaves the spec, stop it by hand", r.spec.Name, err, res.Name())
		}
		cctx, cancel := context.WithTimeout(ctx, r.timeout(i))
		err := res.Start(cctx)
		cancel()
		r.setStatus(i, err == nil, err, false)
		if err != nil {
			return fmt.Errorf("starting %s %s: %w", r.spec.Resources[i].Kind, res.Name(), err)
		}
	}
	return nil
}

// stop stops the first n resources in reverse order. It goes on past a
// failure, so that as much as possible is stopped, and reports the first.
func (r *groupRunner) stop(ctx context.Context, n int) error {
	var first error
	for i := n - 1; i >= 0; i-- {
		cctx, cancel := context.WithTimeout(ctx, r.timeout(i))
		err := r.res[i].Stop(cctx)
		cancel()
		r.setStatus(i, err != nil, err, false)
		if err != nil && first == nil {
			first = fmt.Errorf("stopping %s %s: %w", r.spec.Resources[i].Kind, r.res[i].Name(), err)
		}
		if err == nil {
			if rerr := r.rec.Remove(r.spec.Resources[i]); rerr != nil {
				r.logger.Printf("group %s: %v", r.spec.Name, rerr)
			}
		}
	}
	return first
}

func (r *groupRunner) stopAfterFailure(ctx context.Context, cause error) (GroupState, error) {
	if err := r.stop(ctx, len(r.res)); err != nil {
		return StopFailed, fmt.Errorf("%v; then %w", cause, err)
	}
	return Failed, cause
}

// monitor checks resource i and applies its on_fail policy. A non-nil
// error means the group must leave this node.
func (r *groupRunner) monitor(ctx context.Context, i int) error {
	rs, res := r.spec.Resources[i], r.res[i]
	cctx, cancel := context.WithTimeout(ctx, r.timeout(i))
	ok, err := res.Monitor(cctx)
	cancel()
	if err == nil && ok {
		r.setStatus(i, true, nil, false)
		return nil
	}
	if err == nil {
		err = fmt.Errorf("%s %s is not running", rs.Kind, rs.Name)
	}
	r.setStatus(i, false, err, false)
	switch rs.OnFail {
	case "ignore":
		r.logger.Printf("group %s: %v (on_fail ignore)", r.spec.Name, err)
		return nil
	case "restart", "":
		if st := r.Statuses()[i]; st.Restarts < rs.MaxRestarts {
			r.logger.Printf("group %s: %v; restarting it in place (%d of %d)", r.spec.Name, err, st.Restarts+1, rs.MaxRestarts)
			cctx, cancel := context.WithTimeout(ctx, r.timeout(i))
			defer cancel()
			_ = res.Stop(cctx)
			serr := res.Start(cctx)
			r.setStatus(i, serr == nil, serr, true)
			if serr == nil {
				r.events <- groupEvent{group: r.spec.Name, state: Running,
					restarted: fmt.Sprintf("%s %s restarted in place (%d of %d): %v", rs.Kind, rs.Name, st.Restarts+1, rs.MaxRestarts, err)}
				return nil
			}
			err = serr
		}
		return fmt.Errorf("%s %s failed %d times: %w", rs.Kind, rs.Name, rs.MaxRestarts+1, err)
	}
	return fmt.Errorf("%s %s failed (on_fail %s): %w", rs.Kind, rs.Name, rs.OnFail, err)
}
