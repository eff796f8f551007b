// Package agent is the agent's main loop: it watches the spec file, checks
// every new version before taking it (keeping the running spec, with the
// error in its status, when the new one is invalid), and reports its status
// for hactl. Roles (heartbeat, lvs, proxy, sync, monitor) plug in here as
// they arrive (issues #5 onward); this loop is what they share.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Config says where the agent's files are.
type Config struct {
	Version    string
	SpecPath   string
	StatusPath string
	// Poll is how often the spec file is checked; a reload signal checks at
	// once.
	Poll time.Duration
	// Heartbeat is how often the status is rewritten when nothing changed,
	// so that readers can tell a live agent from a stale file.
	Heartbeat time.Duration
	Logger    *log.Logger
}

// Agent runs one node's spec.
type Agent struct {
	cfg     Config
	current *spec.Spec
	st      status.Status
}

// New returns an agent that has not loaded a spec yet.
func New(cfg Config) *Agent {
	if cfg.Poll == 0 {
		cfg.Poll = time.Second
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	now := time.Now().UTC()
	return &Agent{cfg: cfg, st: status.Status{AgentVersion: cfg.Version, PID: os.Getpid(), Started: now}}
}

// Run loops until ctx ends, reloading when reload receives.
func (a *Agent) Run(ctx context.Context, reload <-chan struct{}) error {
	tick := time.NewTicker(a.cfg.Poll)
	defer tick.Stop()
	lastWrite := time.Time{}
	for {
		changed := a.check()
		if changed || time.Since(lastWrite) >= a.cfg.Heartbeat {
			a.st.Updated = time.Now().UTC()
			if err := status.Write(a.cfg.StatusPath, &a.st); err != nil {
				a.cfg.Logger.Printf("status: %v", err)
			}
			lastWrite = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-reload:
		}
	}
}

// check looks at the spec file and takes a new valid one. It reports
// whether the status changed.
func (a *Agent) check() bool {
	before := a.st
	data, err := os.ReadFile(a.cfg.SpecPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		a.st.SpecFileHash = ""
		a.st.SpecError = fmt.Sprintf("spec file %s is missing", a.cfg.SpecPath)
	case err != nil:
		a.st.SpecFileHash = ""
		a.st.SpecError = fmt.Sprintf("reading spec: %v", err)
	default:
		hash := spec.HashBytes(data)
		a.st.SpecFileHash = hash
		if hash == a.st.SpecHash {
			a.st.SpecError = ""
			break
		}
		s, err := spec.Parse(data)
		if err != nil {
			a.st.SpecError = fmt.Sprintf("spec %s refused, still running the previous one: %v", a.cfg.SpecPath, err)
			break
		}
		a.current = s
		a.st.SpecHash = hash
		a.st.SpecError = ""
		a.cfg.Logger.Printf("running spec %s of node %s (cluster %s)", hash[:12], s.Node, s.Cluster)
	}
	a.st.Healthy = a.st.SpecError == "" && a.current != nil
	if a.st.SpecError != "" && a.st.SpecError != before.SpecError {
		a.cfg.Logger.Print(a.st.SpecError)
	}
	return a.st.SpecHash != before.SpecHash || a.st.SpecFileHash != before.SpecFileHash ||
		a.st.SpecError != before.SpecError || a.st.Healthy != before.Healthy
}
