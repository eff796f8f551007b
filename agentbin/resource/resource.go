// Package resource runs the members of a resource group on this node:
// virtual IPs (netlink, with gratuitous ARP / unsolicited neighbour
// advertisements), systemd services, LSB init scripts and OCF resource
// agents. The heartbeat role starts a group's resources in order, stops
// them in reverse, and monitors each at its interval.
package resource

import (
	"context"
	"log"
)

// Resource is one resource of a group on this node. Every method is
// idempotent: starting a running resource or stopping a stopped one
// succeeds without doing anything.
type Resource interface {
	// Name is the resource's name in the configuration.
	Name() string
	// Start makes it run.
	Start(ctx context.Context) error
	// Stop makes it stop; a resource that cannot be stopped is an error
	// (the group must then not start elsewhere without fencing).
	Stop(ctx context.Context) error
	// Monitor reports whether it runs. An error means the check itself
	// could not be made.
	Monitor(ctx context.Context) (running bool, err error)
}

// Env is what resources need from the agent.
type Env struct {
	Logger *log.Logger
	// OCFRoot is where OCF resource agents live; default
	// /usr/lib/ocf.
	OCFRoot string
}
