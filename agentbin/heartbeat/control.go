package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hactl/hactl/agentbin/status"
)

// Request is an operator's command to the role, sent through the agent's
// control socket (hactl failover, standby, online, maintenance).
type Request struct {
	Op    string `json:"op"` // standby, online, maintenance, move
	On    bool   `json:"on,omitempty"`
	Group string `json:"group,omitempty"`
	To    string `json:"to,omitempty"`
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
		return e.move(c.req.Group, c.req.To)
	default:
		return fmt.Errorf("unknown operation %q", c.req.Op)
	}
	return nil
}

// move places a group on a node by hand: to the named node, or to the next
// node in preference after the one running it. The newest move of a group
// wins everywhere, as heartbeats carry it.
func (e *Engine) move(group, to string) error {
	g := e.groups[group]
	if g == nil {
		return fmt.Errorf("this node may not run group %q, or it does not exist", group)
	}
	v := e.view(time.Now())
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
	e.moves[group] = Move{To: to, Epoch: e.moves[group].Epoch + 1}
	e.emit(status.Move, to, group, "by the operator")
	return nil
}
