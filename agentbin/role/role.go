// Package role defines what an agent role is: one package that runs one
// section of the node's spec (the heartbeat and its groups, the L4 load
// balancer, the HTTP proxy, file sync, monitoring). The agent's loop
// (package agent) starts, reloads, restarts and stops roles as the spec
// changes, reports their status, routes operators' requests and group
// events to them; it knows roles only through the interfaces here.
//
// A role implements Kind and Role. What more it can do is an optional
// capability — an interface asserted where the agent uses it, as Caddy's
// modules and k0sctl's phases do: Controller (takes operators' requests),
// GroupFollower (wants to know where groups run, so that a virtual service
// or a proxy runs only where its VIP runs), DriftReporter (finds what
// differs from the spec on the host) and Reloader (takes a changed section
// without restarting). Adding a role is writing its package and one line
// in agentbin/roles.
package role

import (
	"context"
	"log"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Kind is a role as the agent registers it.
type Kind interface {
	// Name is the role's name: its section in spec.Sections, its entry
	// in status, the first word of its control requests.
	Name() string
	// New prepares the role for a spec that has its section. It checks
	// what it needs (keys, devices) and starts nothing.
	New(s *spec.Spec, env Env) (Role, error)
}

// Role is one role prepared for one spec.
type Role interface {
	// Run runs the role until ctx ends; it returns nil then. An error,
	// or a return before ctx ends, means the role failed: the agent
	// reports it and starts the role again after a backoff.
	Run(ctx context.Context) error
	// Report puts the role's typed section into the agent's status. The
	// agent calls it from its own goroutine while Run runs: it must be
	// safe for that and return at once.
	Report(st *status.Status)
}

// Env is what the agent gives its roles.
type Env struct {
	Logger *log.Logger
	// StateDir keeps what must survive an agent restart.
	StateDir string
	// Emit reports an event. It never blocks: the agent logs the event,
	// runs the notify commands that want it and passes group events to
	// the roles that follow them, in its own goroutine.
	Emit func(status.Event)
	// Status reads the agent's latest status, with every role's section
	// (the monitor role collects the others' figures from it). Nil where
	// no agent writes one (tests).
	Status func() (*status.Status, error)
}

// Request is an operator's request to a role (hactl failover, standby,
// online, maintenance), as it arrives on the agent's control socket.
type Request struct {
	Role string   `json:"role"`
	Op   string   `json:"op"`
	Args []string `json:"args,omitempty"`
}

// Controller is a role that takes operators' requests.
type Controller interface {
	// HandleRequest carries out a request and says whether it was done.
	// ctx ends when the role stops or the operator gives up.
	HandleRequest(ctx context.Context, req Request) error
}

// GroupChange says that a resource group started or stopped on this node.
type GroupChange struct {
	Group string
	// Here is true when the group (and so its VIPs) now runs on this
	// node, false when it stopped or failed here.
	Here bool
}

// GroupFollower is a role that runs only where some groups run: a virtual
// service or a proxy bound to a VIP. The agent tells it of every change
// here, and when it starts, of every group already running here.
type GroupFollower interface {
	// GroupChanged must return at once; slow work belongs in Run.
	GroupChanged(GroupChange)
}

// DriftReporter is a role that finds what differs on the host from its
// section of the spec (a resource stopped by hand, a rule removed).
type DriftReporter interface {
	// Drift lists the differences, as sentences for hactl drift.
	Drift(now time.Time) []string
}

// Reloader is a role that takes a changed section without restarting
// (keeping connections, sessions, health states).
type Reloader interface {
	// Reload switches the running role to the new spec; an error makes
	// the agent restart the role instead.
	Reload(s *spec.Spec) error
}
