// Package agent is the agent's main loop: it watches the spec file, checks
// every new version before taking it (keeping the running spec, with the
// error in its status, when the new one is invalid), runs the roles the
// spec asks for, takes operators' requests on its control socket, runs the
// configuration's notify commands, and reports its status for hactl. The
// heartbeat role runs today; the spec already carries what the lvs, proxy,
// sync and monitor roles will run, and they plug in here (roles.go).
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
	// StateDir keeps what must survive a restart (standby).
	StateDir string
	// ControlPath is the Unix socket operators' commands arrive on.
	ControlPath string
}

// Agent runs one node's spec.
type Agent struct {
	cfg     Config
	current *spec.Spec
	st      status.Status
	roles   roleSet
	ctl     chan ctlCall
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
	return &Agent{cfg: cfg, st: status.Status{AgentVersion: cfg.Version, PID: os.Getpid(), Started: now}, ctl: make(chan ctlCall)}
}

// Run loops until ctx ends, reloading when reload receives.
func (a *Agent) Run(ctx context.Context, reload <-chan struct{}) error {
	tick := time.NewTicker(a.cfg.Poll)
	defer tick.Stop()
	if a.cfg.ControlPath != "" {
		stop, err := a.serveControl(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	defer a.roles.stopHeartbeat()
	lastWrite := time.Time{}
	for {
		changed := a.check()
		if a.roles.hb != nil {
			// Membership changes by the second: keep the report fresh.
			a.st.Heartbeat = a.roles.hb.Status()
			a.st.Drift = runtimeDrift(a.st.Heartbeat, time.Now())
			changed = true
		}
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
		case c := <-a.ctl:
			c.reply <- a.roles.control(ctx, c.req)
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
		a.roles.apply(a, s)
	}
	a.st.Healthy = a.st.SpecError == "" && a.current != nil && a.roles.hbError == ""
	if a.roles.hbError != "" {
		a.st.SpecError = "heartbeat role: " + a.roles.hbError
	}
	if a.st.SpecError != "" && a.st.SpecError != before.SpecError {
		a.cfg.Logger.Print(a.st.SpecError)
	}
	return a.st.SpecHash != before.SpecHash || a.st.SpecFileHash != before.SpecFileHash ||
		a.st.SpecError != before.SpecError || a.st.Healthy != before.Healthy
}

// driftMemory is how long a resource found stopped and restarted stays in
// the drift report: long enough for a CI drift job to see it.
const driftMemory = 10 * time.Minute

// runtimeDrift lists what the roles found on the host that differs from
// the spec: resources of a group running here that are not running, or
// that were recently found stopped (by hand, or by a crash) and restarted.
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
