package agent

import (
	"context"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/heartbeat"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// fakeKind is a role for the agent loop's tests: it records what the loop
// asks of it. Its name must be a section of spec.Sections.
type fakeKind struct {
	name     string
	reloads  bool // its roles implement role.Reloader
	failRuns int  // the first failRuns roles fail at once
	mu       sync.Mutex
	built    []*fakeRole
	runErr   error // what failing roles return
}

func (k *fakeKind) Name() string { return k.name }

func (k *fakeKind) New(s *spec.Spec, env role.Env) (role.Role, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := &fakeRole{kind: k, env: env, fail: len(k.built) < k.failRuns, stopped: make(chan struct{})}
	k.built = append(k.built, r)
	if k.reloads {
		return &reloadingRole{r}, nil
	}
	return r, nil
}

func (k *fakeKind) roles() []*fakeRole {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.built)
}

type fakeRole struct {
	kind    *fakeKind
	env     role.Env
	fail    bool
	stopped chan struct{}

	mu      sync.Mutex
	reloads int
	groups  []role.GroupChange
}

func (r *fakeRole) Run(ctx context.Context) error {
	defer close(r.stopped)
	if r.fail {
		return r.kind.runErr
	}
	<-ctx.Done()
	return nil
}

func (r *fakeRole) Report(st *status.Status) {
	st.Drift = append(st.Drift, r.kind.name+" reported")
}

func (r *fakeRole) GroupChanged(c role.GroupChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups = append(r.groups, c)
}

func (r *fakeRole) HandleRequest(ctx context.Context, req role.Request) error {
	if req.Op == "wait" {
		<-ctx.Done()
		return ctx.Err()
	}
	if req.Op == "emit" {
		r.env.Emit(status.Event{Kind: status.EventKind(req.Args[0]), Node: req.Args[1], Group: req.Args[2]})
	}
	return nil
}

func (r *fakeRole) seen() []role.GroupChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.groups)
}

type reloadingRole struct{ *fakeRole }

func (r *reloadingRole) Reload(*spec.Spec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloads++
	return nil
}

// startAgent runs an agent with the given roles on a spec file in a temporary
// folder until the test ends.
func startAgent(t testing.TB, kinds ...role.Kind) (a *Agent, specPath, statusPath string) {
	t.Helper()
	dir := t.TempDir()
	specPath, statusPath = filepath.Join(dir, "spec.json"), filepath.Join(dir, "status.json")
	a = New(Config{Version: "test", SpecPath: specPath, StatusPath: statusPath, Poll: 5 * time.Millisecond,
		Logger: log.New(io.Discard, "", 0), StateDir: dir, ControlPath: filepath.Join(dir, "agent.sock"), Roles: kinds})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop")
		}
	})
	return a, specPath, statusPath
}

func baseSpec() *spec.Spec {
	return &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "c", Node: "n1"}
}

func roleState(st *status.Status, name string) status.Role {
	for _, r := range st.Roles {
		if r.Name == name {
			return r
		}
	}
	return status.Role{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOnlyTheRoleWhoseSectionChangedIsReloadedOrRestarted(t *testing.T) {
	proxy := &fakeKind{name: "proxy", reloads: true}
	sync := &fakeKind{name: "sync"}
	_, specPath, statusPath := startAgent(t, proxy, sync)

	s := baseSpec()
	s.Proxies = []spec.Proxy{{Name: "p1"}}
	s.Syncs = []spec.Sync{{Name: "s1", Path: "/srv"}}
	h := writeSpec(t, specPath, s)
	st := waitStatus(t, statusPath, "both roles running", func(st *status.Status) bool {
		return st.SpecHash == h && roleState(st, "proxy").State == status.RoleRunning && roleState(st, "sync").State == status.RoleRunning
	})
	if !st.Healthy || !slices.Contains(st.Drift, "proxy reported") || !slices.Contains(st.Drift, "sync reported") {
		t.Errorf("status with both roles running: healthy=%v drift=%q; want healthy and both roles' reports", st.Healthy, st.Drift)
	}

	s.Proxies[0].Name = "p2"
	h = writeSpec(t, specPath, s)
	waitStatus(t, statusPath, "the proxy change taken", func(st *status.Status) bool { return st.SpecHash == h })
	if n, r := len(proxy.roles()), proxy.roles()[0]; n != 1 || r.reloads != 1 {
		t.Errorf("after a proxy change: proxy built %d times, reloaded %d times; want built once, reloaded once", n, r.reloads)
	}
	if n := len(sync.roles()); n != 1 {
		t.Errorf("after a proxy change the sync role was built %d times, want 1 (untouched)", n)
	}

	s.Syncs[0].Path = "/srv2"
	h = writeSpec(t, specPath, s)
	waitStatus(t, statusPath, "the sync change taken", func(st *status.Status) bool { return st.SpecHash == h })
	built := sync.roles()
	if len(built) != 2 {
		t.Fatalf("after a sync change the sync role was built %d times, want 2 (it cannot reload: restarted)", len(built))
	}
	select {
	case <-built[0].stopped:
	default:
		t.Error("the first sync role still runs after its restart")
	}

	s.Syncs = nil
	h = writeSpec(t, specPath, s)
	st = waitStatus(t, statusPath, "the sync role gone", func(st *status.Status) bool { return st.SpecHash == h })
	if len(st.Roles) != 1 || st.Roles[0].Name != "proxy" {
		t.Errorf("roles after removing the sync section: %+v; want only proxy", st.Roles)
	}
	select {
	case <-built[1].stopped:
	default:
		t.Error("the sync role still runs after its section was removed")
	}
}

func TestAFailedRoleIsReportedAndStartedAgainAndItsEventsReachNotify(t *testing.T) {
	sync := &fakeKind{name: "sync", failRuns: 1, runErr: errors.New("rsync: not installed")}
	_, specPath, statusPath := startAgent(t, sync)
	out := filepath.Join(t.TempDir(), "events")
	script := filepath.Join(t.TempDir(), "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$HACTL_EVENT $HACTL_DETAIL\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := baseSpec()
	s.Syncs = []spec.Sync{{Name: "s1", Path: "/srv"}}
	s.Notifies = []spec.Notify{{Name: "log", Command: script, Events: []string{"role_failed", "role_recovered"}}}
	writeSpec(t, specPath, s)

	st := waitStatus(t, statusPath, "the sync role failed", func(st *status.Status) bool {
		return roleState(st, "sync").State == status.RoleFailed
	})
	if st.Healthy || !strings.Contains(roleState(st, "sync").Error, "rsync: not installed") || !strings.Contains(st.SpecError, "sync role: rsync: not installed") {
		t.Errorf("with a failed role: healthy=%v role=%+v last error=%q; want unhealthy, the role's error in both", st.Healthy, roleState(st, "sync"), st.SpecError)
	}
	waitStatus(t, statusPath, "the sync role running again", func(st *status.Status) bool {
		return roleState(st, "sync").State == status.RoleRunning && st.Healthy
	})
	waitFor(t, "role_failed and role_recovered notified", func() bool {
		data, _ := os.ReadFile(out)
		return strings.Contains(string(data), "role_failed sync role failed: rsync: not installed") &&
			strings.Contains(string(data), "role_recovered sync")
	})
}

func TestGroupEventsReachFollowersAndARestartedFollowerLearnsWhereGroupsRun(t *testing.T) {
	hb := &fakeKind{name: "heartbeat"}
	proxy := &fakeKind{name: "proxy"}
	a, specPath, statusPath := startAgent(t, hb, proxy)
	s := baseSpec()
	s.Heartbeat = &spec.Heartbeat{IntervalMS: 100, DeadtimeMS: 300, Port: 694, KeyPath: "/k", Links: []spec.Link{{Name: "lan"}}}
	s.Proxies = []spec.Proxy{{Name: "p1"}}
	h := writeSpec(t, specPath, s)
	waitStatus(t, statusPath, "both roles running", func(st *status.Status) bool {
		return st.SpecHash == h && roleState(st, "proxy").State == status.RoleRunning
	})
	ctx := context.Background()
	emit := func(kind status.EventKind, node, group string) {
		t.Helper()
		if err := a.Control(ctx, role.Request{Role: "heartbeat", Op: "emit", Args: []string{string(kind), node, group}}); err != nil {
			t.Fatal(err)
		}
	}
	emit(status.GroupStarted, "n1", "web")
	emit(status.GroupStarted, "n2", "db") // elsewhere: not for this node's followers
	emit(status.GroupStarted, "n1", "mail")
	emit(status.GroupFailed, "n1", "mail")
	first := proxy.roles()[0]
	want := []role.GroupChange{{Group: "web", Here: true}, {Group: "mail", Here: true}, {Group: "mail"}}
	waitFor(t, "the group changes at the follower", func() bool { return len(first.seen()) >= len(want) })
	if got := first.seen(); !slices.Equal(got, want) {
		t.Errorf("follower saw %+v, want %+v", got, want)
	}

	s.Proxies[0].Name = "p2"
	writeSpec(t, specPath, s)
	waitFor(t, "the proxy role restarted", func() bool { return len(proxy.roles()) == 2 })
	if got := proxy.roles()[1].seen(); !slices.Equal(got, []role.GroupChange{{Group: "web", Here: true}}) {
		t.Errorf("a restarted follower learnt %+v, want that web runs here", got)
	}
}

func TestControlRequestsAreRoutedAndNeverHoldTheLoop(t *testing.T) {
	proxy := &fakeKind{name: "proxy"}
	a, specPath, statusPath := startAgent(t, proxy)
	s := baseSpec()
	s.Proxies = []spec.Proxy{{Name: "p1"}}
	h := writeSpec(t, specPath, s)
	waitStatus(t, statusPath, "proxy running", func(st *status.Status) bool { return st.SpecHash == h && st.Healthy })

	sock := a.cfg.ControlPath
	for _, tc := range []struct {
		req  role.Request
		want string
	}{
		{role.Request{Role: "proxy", Op: "noop"}, ""},
		{role.Request{Role: "nosuch", Op: "x"}, `there is no "nosuch" role`},
		{role.Request{Role: "heartbeat", Op: "standby"}, "node n1 has no heartbeat role: its spec has no heartbeat, quorum and group blocks for it"},
	} {
		err := SendControl(sock, tc.req)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("request %+v: %v, want %q", tc.req, err, tc.want)
		}
	}

	// A request the role sits on: the loop goes on taking specs, and the
	// request ends when the role is stopped.
	answer := make(chan error, 1)
	go func() { answer <- SendControl(sock, role.Request{Role: "proxy", Op: "wait"}) }()
	time.Sleep(50 * time.Millisecond)
	s.Proxies = nil
	h = writeSpec(t, specPath, s)
	waitStatus(t, statusPath, "the spec without proxy taken while a request waits", func(st *status.Status) bool { return st.SpecHash == h })
	select {
	case err := <-answer:
		if err == nil || !strings.Contains(err.Error(), "stopped before it answered") {
			t.Errorf("a request to a role that was stopped: %v, want 'stopped before it answered'", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a request to a stopped role never returned")
	}
}

// The defect: the heartbeat role failed to start (here: its link's device
// does not exist), and an operator's request hung the agent loop forever:
// its status stopped and new specs were no longer taken.
func TestARequestToAHeartbeatRoleThatFailedAnswersAtOnce(t *testing.T) {
	a, specPath, statusPath := startAgent(t, heartbeat.Kind{})
	key := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(key, []byte("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := baseSpec()
	s.Heartbeat = &spec.Heartbeat{IntervalMS: 100, WarntimeMS: 200, DeadtimeMS: 300, InitdeadMS: 300, Port: 1, KeyPath: key,
		Links:   []spec.Link{{Name: "lan", Interface: "hactl-nodev0", Local: "127.0.0.1", Mode: "unicast"}},
		Members: []string{"n1"}}
	writeSpec(t, specPath, s)
	waitStatus(t, statusPath, "the heartbeat role failed", func(st *status.Status) bool {
		return roleState(st, "heartbeat").State == status.RoleFailed
	})
	start := time.Now()
	err := SendControl(a.cfg.ControlPath, role.Request{Role: "heartbeat", Op: "standby"})
	// Between two retries the role is not running; during one it fails
	// again before it reads requests: either way the answer comes at once.
	if err == nil || !strings.Contains(err.Error(), "the heartbeat role is not running") && !strings.Contains(err.Error(), "the heartbeat role stopped before it answered") {
		t.Errorf("standby on a failed heartbeat role: %v; want 'the heartbeat role is not running'", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the request took %s", d)
	}
	s.Heartbeat = nil
	h := writeSpec(t, specPath, s)
	waitStatus(t, statusPath, "a new spec taken after the request", func(st *status.Status) bool { return st.SpecHash == h && st.Healthy })
}

func TestSectionsWithoutARoleAreReportedNotRun(t *testing.T) {
	_, specPath, statusPath := startAgent(t, &fakeKind{name: "proxy"})
	s := baseSpec()
	s.VirtualServices = []spec.VirtualService{{Name: "http"}}
	s.Proxies = []spec.Proxy{{Name: "p1"}}
	h := writeSpec(t, specPath, s)
	st := waitStatus(t, statusPath, "the spec taken", func(st *status.Status) bool { return st.SpecHash == h && len(st.Roles) == 2 })
	lvs := roleState(st, "lvs")
	if lvs.State != status.RoleNotRun || !strings.Contains(lvs.Error, "no lvs role: the lvs blocks are accepted and nothing runs them") {
		t.Errorf("lvs section without a role: %+v; want not_run saying so", lvs)
	}
	if roleState(st, "proxy").State != status.RoleRunning {
		t.Errorf("proxy: %+v, want running", roleState(st, "proxy"))
	}
}
