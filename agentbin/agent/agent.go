// Package agent is the agent's main loop: it watches the spec file, checks
// every new version before taking it (keeping the running spec, with the
// error in its status, when the new one is invalid), runs the roles the
// spec asks for (package role; the list is agentbin/roles), restarts a
// role that fails, takes operators' requests on its control socket and
// hands each to its role, runs the configuration's notify commands on the
// roles' events, passes group events to the roles that follow groups, and
// reports its status — one typed section per role — for hactl.
//
// Everything the loop keeps is touched by the loop's goroutine only; roles
// run in their own goroutines and reach the loop through channels and
// the event queue, which never blocks them.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Config says where the agent's files are and which roles it has.
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
	// Roles are the roles the agent can run (agentbin/roles.All), in
	// start order.
	Roles []role.Kind
	// OnSpec, when set, is told of each new spec before its roles start.
	OnSpec func(*spec.Spec)
}

// Agent runs one node's spec.
type Agent struct {
	cfg     Config
	current *spec.Spec
	st      status.Status // the agent's own part; roles add theirs at each report
	roles   []*roleRun
	ctl     chan ctlCall
	wake    chan struct{}
	// groupsHere are the groups running on this node, from the heartbeat
	// role's events, for the roles that follow groups.
	groupsHere map[string]bool
	// specSeen is the spec file as it was when last read, at specReadAt.
	specSeen   fileID
	specReadAt time.Time

	mu     sync.Mutex
	queued []status.Event // events from the roles, for the loop
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
	return &Agent{cfg: cfg, st: status.Status{AgentVersion: cfg.Version, PID: os.Getpid(), Started: now},
		ctl: make(chan ctlCall), wake: make(chan struct{}, 1), groupsHere: map[string]bool{}}
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
	defer a.stopRoles()
	var lastWrite time.Time
	var last []byte
	for {
		now := time.Now()
		a.check(now)
		a.superviseRoles(now)
		a.handleEvents()
		st := a.report(now)
		// The status is rewritten when it changed (roles report live
		// state: membership changes by the second) or is due; a turn
		// that changed nothing writes nothing.
		data, _ := json.Marshal(st)
		write := !slices.Equal(data, last) || now.Sub(lastWrite) >= a.cfg.Heartbeat
		last = data
		if write {
			st.Updated = now.UTC()
			if err := status.Write(a.cfg.StatusPath, st); err != nil {
				a.cfg.Logger.Printf("status: %v", err)
			}
			lastWrite = now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-reload:
			// Read the spec whatever its file looks like.
			a.specSeen = fileID{}
		case <-a.wake:
		case c := <-a.ctl:
			a.control(ctx, c)
		}
	}
}

// check looks at the spec file and takes a new valid one. A file that
// looks as it did when last read (same inode, size and times) is read
// again only once a Heartbeat: the poll then costs one stat.
func (a *Agent) check(now time.Time) {
	info, statErr := os.Stat(a.cfg.SpecPath)
	seen, known := identify(info, statErr)
	if known && seen == a.specSeen && now.Sub(a.specReadAt) < a.cfg.Heartbeat {
		return
	}
	a.specSeen, a.specReadAt = fileID{}, time.Time{}
	before := a.st.SpecError
	data, err := os.ReadFile(a.cfg.SpecPath)
	if err == nil && known {
		// Stat came before the read: a change between the two shows
		// as a different file at the next turn.
		a.specSeen, a.specReadAt = seen, now
	}
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
		if a.cfg.OnSpec != nil {
			a.cfg.OnSpec(s)
		}
		a.applyRoles(s)
	}
	if a.st.SpecError != "" && a.st.SpecError != before {
		a.cfg.Logger.Print(a.st.SpecError)
	}
}

// fileID is what tells a file changed without reading it.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

// identify is the file's ID; known is false when there is none to trust.
func identify(info os.FileInfo, statErr error) (id fileID, known bool) {
	if statErr != nil {
		return fileID{}, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, true
}

// report is the status to write: the agent's own part and every role's.
func (a *Agent) report(now time.Time) *status.Status {
	st := a.st
	allRunning := a.reportRoles(&st, now)
	st.Healthy = st.SpecError == "" && a.current != nil && allRunning
	if st.SpecError == "" {
		st.SpecError = a.firstRoleError()
	}
	return &st
}

func (a *Agent) roleEnv() role.Env {
	return role.Env{Logger: a.cfg.Logger, StateDir: a.cfg.StateDir, Emit: a.emit,
		Status: func() (*status.Status, error) { return status.Read(a.cfg.StatusPath) }}
}

// emit queues a role's event for the loop; it never blocks the role.
func (a *Agent) emit(ev status.Event) {
	a.mu.Lock()
	a.queued = append(a.queued, ev)
	a.mu.Unlock()
	a.wakeUp()
}

func (a *Agent) wakeUp() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// handleEvents logs the queued events, runs the notify commands that want
// them, and tells the roles that follow groups where groups now run.
func (a *Agent) handleEvents() {
	a.mu.Lock()
	events := a.queued
	a.queued = nil
	a.mu.Unlock()
	for _, ev := range events {
		a.cfg.Logger.Printf("event %s node=%s group=%s %s", ev.Kind, ev.Node, ev.Group, ev.Detail)
		if a.current == nil {
			continue
		}
		runNotifies(a.cfg.Logger, a.current.Notifies, ev)
		if ev.Node != a.current.Node || ev.Group == "" {
			continue
		}
		switch ev.Kind {
		case status.GroupStarted:
			a.groupsHere[ev.Group] = true
			a.tellFollowers(role.GroupChange{Group: ev.Group, Here: true})
		case status.GroupStopped, status.GroupFailed:
			if a.groupsHere[ev.Group] {
				delete(a.groupsHere, ev.Group)
				a.tellFollowers(role.GroupChange{Group: ev.Group})
			}
		}
	}
}

func (a *Agent) tellFollowers(c role.GroupChange) {
	for _, r := range a.roles {
		if f, ok := r.inst.(role.GroupFollower); ok {
			f.GroupChanged(c)
		}
	}
}

func sortedTrue(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
