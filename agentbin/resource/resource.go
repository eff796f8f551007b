package resource

import (
	"context"
	"fmt"
	"log"

	"github.com/hactl/hactl/agentbin/spec"
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

// Validator is a resource that can check its configuration without
// starting: OCF agents, through their validate-all action. The heartbeat
// role may run it before a group first starts, to fail early and clearly.
type Validator interface {
	Validate(ctx context.Context) error
}

// New builds the resource r describes. It checks r but touches nothing on
// the host.
func New(r spec.Resource, env Env) (Resource, error) {
	if r.Name == "" {
		return nil, fmt.Errorf("a %s resource has no name; every resource needs one", r.Kind)
	}
	switch r.Kind {
	case "vip":
		return newVIP(r, env, netlinkKernel{})
	case "service":
		return newService(r)
	case "lsb":
		return newLSB(r)
	case "ocf":
		return newOCF(r, env.OCFRoot)
	}
	return nil, fmt.Errorf("resource %q: unknown kind %q; this agent knows vip, service, lsb and ocf: upgrade it with hactl apply", r.Name, r.Kind)
}

// Detacher is a resource with background work of its own (a VIP's
// repeated announcements). Detach ends that work and leaves the host as it
// is: the agent calls it when it hands the resource over to a new engine of
// its own (after a spec change), which takes the running resource over.
type Detacher interface {
	Detach()
}
