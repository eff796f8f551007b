package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Started is one resource the agent started and has not stopped since.
type Started struct {
	Group    string        `json:"group"`
	Resource spec.Resource `json:"resource"`
}

// String names the resource as an operator finds it on the host.
func (s Started) String() string {
	r := s.Resource
	what := r.Kind + " " + r.Name
	switch r.Kind {
	case "vip":
		what = fmt.Sprintf("vip %s on %s", r.Address, r.Interface)
	case "service":
		what = "service " + r.Unit
	case "lsb":
		what = "lsb script " + r.Script
	case "ocf":
		what = fmt.Sprintf("ocf agent %s:%s %s", r.OCFProvider, r.OCFType, r.Name)
	}
	return fmt.Sprintf("%s (group %s)", what, s.Group)
}

// Record is the agent's list, on disk, of the resources it started. An
// agent restart keeps groups running (a restart must not be a failover), so
// what runs on a host outlives the agent that started it; the record lets
// the next agent — after a spec change, a crash, or for destroy — stop
// what no longer belongs to the spec. An entry is written before its
// resource starts and dropped once it stopped, so that a crash between the
// two leaves a resource the record still names (stopping a stopped
// resource is harmless), never one it forgot.
//
// A Record is shared by the goroutines of one agent role that start and
// stop resources; the role that follows it (after a spec change) loads it
// again once the first one ended.
type Record struct {
	path string

	mu      sync.Mutex
	entries []Started
}

// LoadRecord reads the record kept at path. A missing file is an empty
// record. A damaged one is an error and reads as empty: what it named can
// then no longer be cleaned up by the agent.
func LoadRecord(path string) (*Record, error) {
	rec := &Record{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return rec, nil
	case err != nil:
		return rec, fmt.Errorf("reading the record of started resources: %w", err)
	}
	if err := json.Unmarshal(data, &rec.entries); err != nil {
		return rec, fmt.Errorf("the record of started resources %s is damaged (%v); stop by hand what a former spec ran here, then delete it", path, err)
	}
	return rec, nil
}

// identity is what makes two resources the same thing on the host: the
// address on the interface, the unit, the script, the agent with its
// parameters. Names, monitoring and announcements may change without the
// resource becoming another one.
func identity(r spec.Resource) string {
	id := struct {
		Kind, Address, Interface, Unit, Script, OCFProvider, OCFType string
		Params                                                       map[string]string
	}{r.Kind, r.Address, r.Interface, r.Unit, r.Script, r.OCFProvider, r.OCFType, r.Params}
	if r.Kind != "ocf" {
		id.Params = nil
	}
	b, _ := json.Marshal(id)
	return string(b)
}

// Add notes that the group starts r; a resource already noted is not
// written again.
func (rec *Record) Add(group string, r spec.Resource) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	id := identity(r)
	if slices.ContainsFunc(rec.entries, func(s Started) bool { return identity(s.Resource) == id }) {
		return nil
	}
	next := append(slices.Clip(rec.entries), Started{Group: group, Resource: r})
	if err := rec.save(next); err != nil {
		return err
	}
	rec.entries = next
	return nil
}

// Remove notes that r stopped.
func (rec *Record) Remove(r spec.Resource) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	id := identity(r)
	next := slices.DeleteFunc(slices.Clone(rec.entries), func(s Started) bool { return identity(s.Resource) == id })
	if len(next) == len(rec.entries) {
		return nil
	}
	if err := rec.save(next); err != nil {
		return err
	}
	rec.entries = next
	return nil
}

// Entries lists the started resources, oldest first.
func (rec *Record) Entries() []Started {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.entries)
}

// save writes entries atomically. rec.mu is held.
func (rec *Record) save(entries []Started) error {
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the record of started resources: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(rec.path), 0o755); err != nil {
		return fmt.Errorf("recording started resources: %w", err)
	}
	if err := status.WriteFileAtomic(rec.path, data, 0o600); err != nil {
		return fmt.Errorf("recording started resources: %w", err)
	}
	return nil
}

// Leftovers lists the entries that no resource of groups accounts for,
// newest first (the order to stop them in).
func (rec *Record) Leftovers(groups []spec.Group) []Started {
	wanted := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Resources {
			wanted[identity(r)] = true
		}
	}
	var out []Started
	for _, s := range slices.Backward(rec.Entries()) {
		if !wanted[identity(s.Resource)] {
			out = append(out, s)
		}
	}
	return out
}

// Factory builds a resource; New is the real one.
type Factory func(spec.Resource, Env) (Resource, error)

// Release stops every recorded resource that groups no longer account
// for, newest first, and drops each from the record once stopped; given
// kinds, only resources of those kinds. It goes on past a failure and
// returns them all; what failed stays recorded, for the next attempt and
// for drift.
func (rec *Record) Release(ctx context.Context, groups []spec.Group, newResource Factory, env Env, kinds ...string) error {
	var errs []error
	for _, s := range rec.Leftovers(groups) {
		if len(kinds) > 0 && !slices.Contains(kinds, s.Resource.Kind) {
			continue
		}
		if err := release(ctx, s, newResource, env); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := rec.Remove(s.Resource); err != nil {
			errs = append(errs, err)
			continue
		}
		if env.Logger != nil {
			env.Logger.Printf("released %s: the spec no longer has it here", s)
		}
	}
	return errors.Join(errs...)
}

func release(ctx context.Context, s Started, newResource Factory, env Env) error {
	res, err := newResource(s.Resource, env)
	if err != nil {
		return fmt.Errorf("releasing %s: %w", s, err)
	}
	cctx, cancel := context.WithTimeout(ctx, timeoutOf(s.Resource.MonitorTimeoutMS))
	defer cancel()
	if err := res.Stop(cctx); err != nil {
		return fmt.Errorf("releasing %s: %w", s, err)
	}
	return nil
}
