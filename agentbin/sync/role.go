package sync

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Kind is the sync role as the agent registers it.
type Kind struct{}

var (
	_ role.Kind          = Kind{}
	_ role.Role          = (*Role)(nil)
	_ role.Controller    = (*Role)(nil)
	_ role.DriftReporter = (*Role)(nil)
	_ role.GroupFollower = (*Role)(nil)
)

// Name implements role.Kind.
func (Kind) Name() string { return "sync" }

// New implements role.Kind.
func (Kind) New(s *spec.Spec, env role.Env) (role.Role, error) {
	r := &Role{receives: s.SyncReceives, logger: env.Logger}
	if r.logger == nil {
		r.logger = log.Default()
	}
	emit := env.Emit
	if emit == nil {
		emit = func(status.Event) {}
	}
	for i := range s.Syncs {
		r.modules = append(r.modules, newModule(&s.Syncs[i], env.StateDir, r.logger, emit))
	}
	return r, nil
}

// ReleaseLeftovers removes the role's authorized_keys lines when the spec
// has no sync for this node any more.
func (Kind) ReleaseLeftovers(context.Context, role.Env) error {
	file, err := authorizedKeysFile()
	if err != nil {
		return err
	}
	return installAuthorized(file, nil)
}

// Role runs the syncs this node pushes and accepts those it receives.
type Role struct {
	receives []spec.SyncReceive
	modules  []*module
	logger   *log.Logger
}

// authorizedKeysFile is root's: the sources log in as root, restricted to
// rrsync, so that files keep their owners.
func authorizedKeysFile() (string, error) {
	u, err := user.Lookup("root")
	if err != nil {
		return "", fmt.Errorf("sync: finding root's home: %w", err)
	}
	return filepath.Join(u.HomeDir, ".ssh", "authorized_keys"), nil
}

// Run implements role.Role.
func (r *Role) Run(ctx context.Context) error {
	file, err := authorizedKeysFile()
	if err != nil {
		return err
	}
	var lines []string
	if len(r.receives) > 0 {
		rrsync, err := findRrsync()
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		lines = authorizedLines(rrsync, r.receives)
	}
	if err := installAuthorized(file, lines); err != nil {
		return fmt.Errorf("sync: installing the sources' keys: %w", err)
	}
	errs := make(chan error, len(r.modules))
	for _, m := range r.modules {
		if m.s.Group != "" {
			go func() { errs <- m.follow(ctx) }()
		} else {
			go func() { errs <- m.run(ctx) }()
		}
	}
	for range r.modules {
		if err := <-errs; err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// GroupChanged implements role.GroupFollower: a sync whose source is the
// group pushes from here while the group runs here.
func (r *Role) GroupChanged(c role.GroupChange) {
	for _, m := range r.modules {
		if m.s.Group == c.Group {
			m.setActive(c.Here)
		}
	}
}

// Report implements role.Role.
func (r *Role) Report(st *status.Status) {
	now := time.Now()
	st.Syncs = nil
	for _, m := range r.modules {
		st.Syncs = append(st.Syncs, m.report(now))
	}
}

// RequestUsage lists the requests the role takes, after
// `hactl-agent ctl sync`.
const RequestUsage = "confirm NAME"

// HandleRequest implements role.Controller: confirm lets a sync's runs
// stopped by the delete guard go ahead.
func (r *Role) HandleRequest(_ context.Context, req role.Request) error {
	if req.Op != "confirm" || len(req.Args) != 1 {
		return fmt.Errorf("sync: unknown request %q: the sync role takes %s", req.Op, RequestUsage)
	}
	for _, m := range r.modules {
		if m.s.Name == req.Args[0] {
			if !m.isActive() {
				return fmt.Errorf("sync %s: group %s does not run on this node, which is not the source now", m.s.Name, m.s.Group)
			}
			if !m.confirmDeletes() {
				return fmt.Errorf("sync %s: no target is stopped by the delete guard; nothing to confirm", m.s.Name)
			}
			return nil
		}
	}
	return errors.New("sync " + req.Args[0] + ": this node is not the source of such a sync")
}

// Drift implements role.DriftReporter: a target that differs from the
// source beyond the changes in flight.
func (r *Role) Drift(now time.Time) []string {
	var out []string
	for _, m := range r.modules {
		s := m.report(now)
		for _, t := range s.Targets {
			switch t.State {
			case "blocked":
				out = append(out, fmt.Sprintf("sync %s: %s:%s differs from the source: %s", s.Name, t.Node, t.Path, t.Blocked))
			case "failing":
				out = append(out, fmt.Sprintf("sync %s: %s:%s differs from the source, %d changes pending: %s", s.Name, t.Node, t.Path, max(t.Pending, 0), t.LastError))
			case "in_sync":
				if len(t.Differs) > 0 {
					out = append(out, fmt.Sprintf("sync %s: %s:%s differs from the source (read-only rsync comparison; the next full run repairs it): %s", s.Name, t.Node, t.Path, strings.Join(t.Differs, ", ")))
				}
			}
		}
	}
	return out
}
