package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/status"
)

// Request is an operator's command to the role, sent through the agent's
// control socket (hactl failover, standby, online, maintenance).
type Request struct {
	Op    string `json:"op"` // standby, online, maintenance, move, unmove
	On    bool   `json:"on,omitempty"`
	Group string `json:"group,omitempty"`
	To    string `json:"to,omitempty"`
	// For is how long a move holds at most; zero: until it ends otherwise.
	For time.Duration `json:"for,omitempty"`
}

type control struct {
	req   Request
	reply chan error
}

// Control hands a request to the engine and waits for its answer.
func (e *Engine) Control(ctx context.Context, req Request) error {
	c := control{req: req, reply: make(chan error, 1)}
	select {
	case e.controls <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) control(c control) error {
	switch c.req.Op {
	case "standby":
		if err := e.saveStandby(true); err != nil {
			return fmt.Errorf("recording standby: %w", err)
		}
		e.standby = true
		e.emit(status.Standby, e.self, "", "on")
	case "online":
		if err := e.saveStandby(false); err != nil {
			return fmt.Errorf("recording online: %w", err)
		}
		e.standby = false
		for _, g := range e.groups {
			if g.state == Failed {
				g.state, g.err = Stopped, nil
			}
		}
		e.emit(status.Online, e.self, "", "standby off, failures cleared")
	case "maintenance":
		e.maintenance = c.req.On
		for _, g := range e.groups {
			g.runner.paused.Store(c.req.On)
		}
		e.emit(status.Maintenance, e.self, "", fmt.Sprint(c.req.On))
	case "move":
		return e.move(c.req.Group, c.req.To, c.req.For)
	case "unmove":
		return e.unmove(c.req.Group)
	default:
		return fmt.Errorf("unknown operation %q", c.req.Op)
	}
	return nil
}

// move places a group on a node by hand: to the named node, or to the next
// node in preference after the one running it, for at most d when d is
// not zero. The newest move of a group wins everywhere, as heartbeats
// carry it; it holds until it ends (see Move).
func (e *Engine) move(group, to string, d time.Duration) error {
	g := e.groups[group]
	if g == nil {
		return fmt.Errorf("this node may not run group %q, or it does not exist", group)
	}
	if d < 0 {
		return fmt.Errorf("a move of group %q for %s: the duration must be positive", group, d)
	}
	now := time.Now()
	v := e.view(now)
	eligible := func(n string) bool {
		_, alive := v.AliveSince[n]
		return alive && !v.Standby[n] && !e.bannedFrom(group, n)
	}
	if to == "" {
		holders := v.Holders[group]
		for _, l := range g.spec.Locations {
			if !slices.Contains(holders, l.Node) && eligible(l.Node) {
				to = l.Node
				break
			}
		}
		if to == "" {
			return errors.New("no other alive, online node may run it")
		}
	}
	known := false
	for _, l := range g.spec.Locations {
		known = known || l.Node == to
	}
	switch {
	case !known:
		return fmt.Errorf("node %q may not run group %q", to, group)
	case !eligible(to):
		return fmt.Errorf("node %q is dead, in standby or failed the group", to)
	}
	m := Move{To: to, Epoch: NextEpoch(e.moves[group], now)}
	detail := "by the operator, until cleared or " + to + " can no longer run it"
	if d > 0 {
		m.Until = now.Add(d)
		detail = fmt.Sprintf("by the operator, for %s (until %s)", d, m.Until.UTC().Format(time.TimeOnly))
	}
	e.moves[group] = m
	e.emit(status.Move, to, group, detail)
	return nil
}

// unmove clears a group's move: placement goes back to the group's
// locations and failback. Clearing a group that has no move does nothing.
func (e *Engine) unmove(group string) error {
	if e.groups[group] == nil {
		return fmt.Errorf("this node may not run group %q, or it does not exist", group)
	}
	if m := e.moves[group]; m.Active(time.Now()) {
		e.moves[group] = m.Ended()
		e.emit(status.Move, m.To, group, "cleared by the operator")
	}
	return nil
}

// groupPlan is what placement needs of a group this node may run.
func (e *Engine) groupPlan(name string) GroupPlan {
	g := e.groups[name]
	plan := GroupPlan{Name: name, Failback: g.spec.Failback, FailbackDelay: ms(g.spec.FailbackDelayMS)}
	for _, l := range g.spec.Locations {
		if e.bannedFrom(name, l.Node) {
			continue
		}
		plan.Locations = append(plan.Locations, Location{Node: l.Node, Score: l.Score})
	}
	return plan
}

// endMoves records the end of every move that no longer holds (MoveEnd),
// so that it does not come back when its target does.
func (e *Engine) endMoves(v View) {
	for _, name := range e.groupNames {
		m := e.moves[name]
		if why := MoveEnd(e.groupPlan(name), v); why != "" {
			e.moves[name] = m.Ended()
			e.emit(status.Move, m.To, name, "ended: "+why)
		}
	}
}

// mergeMoves takes the moves a peer knows of the groups this node may
// run; it reports whether one of them replaced this node's. The moves of
// other groups are of no use here, as every member that may run a group
// hears the others directly: keeping them would only make this node's
// heartbeats longer, with no bound but the peers' configurations.
func (e *Engine) mergeMoves(moves []wire.Move) bool {
	changed := false
	for _, wm := range moves {
		if e.groups[wm.Group] == nil {
			continue
		}
		m := Move{To: wm.To, Epoch: wm.Epoch}
		if wm.UntilUnixNano != 0 {
			m.Until = time.Unix(0, wm.UntilUnixNano)
		}
		if m.Supersedes(e.moves[wm.Group]) {
			e.moves[wm.Group] = m
			changed = true
		}
	}
	return changed
}

// wireMoves are the moves this node tells its peers, ended ones included,
// the ones that hold first: when not all fit a packet, those go first.
func (e *Engine) wireMoves() []wire.Move {
	var out []wire.Move
	for g, m := range e.moves {
		wm := wire.Move{Group: g, To: m.To, Epoch: m.Epoch}
		if !m.Until.IsZero() {
			wm.UntilUnixNano = m.Until.UnixNano()
		}
		out = append(out, wm)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].To != "", out[j].To != ""; a != b {
			return a
		}
		return out[i].Group < out[j].Group
	})
	return out
}
