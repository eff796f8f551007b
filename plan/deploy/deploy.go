// Package deploy runs hactl's core loop against real hosts: it dials every
// node over SSH (package remote), observes it with the probe (package
// observe), compiles the desired specs (providers), computes the plan
// (package plan) and executes it (package apply) with per-host locks and a
// rolling order. The commands in cmd/hactl are thin views over it.
package deploy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/apply"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/observe"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/remote"
)

// Options are the operator's settings.
type Options struct {
	Remote       remote.Options
	Parallelism  int
	IdentityFile string // overrides every node's identity_file when set
	Agents       *apply.AgentSource
	LockTimeout  time.Duration
	HealthWait   time.Duration
	// Progress receives one line per step done on a host.
	Progress func(node, msg string)
}

// Session is one command's connections to the cluster's nodes.
type Session struct {
	cfg     *config.Result
	opts    Options
	mu      sync.Mutex
	clients map[string]*remote.Client
}

// New starts a session for a loaded configuration.
func New(cfg *config.Result, opts Options) *Session {
	if opts.Parallelism < 1 {
		opts.Parallelism = remote.DefaultParallelism
	}
	return &Session{cfg: cfg, opts: opts, clients: map[string]*remote.Client{}}
}

// Close closes every connection.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		c.Close()
	}
	s.clients = map[string]*remote.Client{}
}

func (s *Session) topology() *topology.Topology { return s.cfg.Topology }

// Targets are the nodes as remote targets, with the operator's overrides.
func (s *Session) Targets() []remote.Target {
	var out []remote.Target
	for _, n := range s.topology().Nodes {
		t := targetOf(n)
		if s.opts.IdentityFile != "" {
			t.SSH.IdentityFile = s.opts.IdentityFile
		}
		out = append(out, t)
	}
	return out
}

// targetOf is how remote reaches a node. Package remote keeps its own
// target type so that it does not depend on the topology. Settings that
// only hold the configuration's defaults are left unset, so that the
// operator's ssh_config comes before them (remote.SSHConfig); the default
// user is passed as such.
func targetOf(n *topology.Node) remote.Target {
	t := remote.Target{Name: n.Name, Address: n.Address, SSH: remote.SSH{
		User:           n.SSH.User,
		Port:           n.SSH.Port,
		IdentityFile:   n.SSH.IdentityFile,
		KnownHostsFile: n.SSH.KnownHostsFile,
		JumpHosts:      slices.Clone(n.SSH.JumpHosts),
		Become:         n.SSH.Become,
		BecomeMethod:   n.SSH.BecomeMethod,
		ConnectTimeout: n.SSH.ConnectTimeout,
	}}
	if n.SSH.Defaulted.User {
		t.SSH.User, t.SSH.DefaultUser = "", n.SSH.User
	}
	if n.SSH.Defaulted.Port {
		t.SSH.Port = 0
	}
	if n.SSH.Defaulted.KnownHostsFile {
		t.SSH.KnownHostsFile = ""
	}
	return t
}

func (s *Session) client(ctx context.Context, t remote.Target) (*remote.Client, error) {
	s.mu.Lock()
	c := s.clients[t.Name]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := remote.Dial(ctx, t, s.opts.Remote)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.clients[t.Name] = c
	s.mu.Unlock()
	return c, nil
}

// Observe probes every node in parallel. A host that cannot be reached or
// probed is an observation with Error set, never a missing one.
func (s *Session) Observe(ctx context.Context) map[string]*plan.Observed {
	key := s.digestKey()
	var mu sync.Mutex
	out := map[string]*plan.Observed{}
	results := remote.ForEach(ctx, s.Targets(), s.opts.Parallelism, func(ctx context.Context, t remote.Target) error {
		c, err := s.client(ctx, t)
		if err != nil {
			return err
		}
		raw, err := c.Output(ctx, observe.ScriptFor(s.topology()), nil)
		if err != nil {
			return fmt.Errorf("%s: probing: %w", t.Name, err)
		}
		o, err := observe.Parse(t.Name, raw)
		if err != nil {
			return err
		}
		o.KeySecretHashes(key)
		mu.Lock()
		out[t.Name] = o
		mu.Unlock()
		return nil
	})
	for name, err := range results {
		if err != nil {
			out[name] = &plan.Observed{Node: name, Error: err.Error()}
		}
	}
	return out
}

// digestKey keys the digests of the hosts' secrets as the specs' are
// keyed. Without a readable cluster key no spec can be compiled (nothing
// is applied); the observations then get a key of their own, so that they
// still never hold a plain hash of a secret.
func (s *Session) digestKey() []byte {
	if key, err := providers.DigestKey(s.topology(), s.baseDir()); err == nil {
		return key
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24)
	return key
}

func (s *Session) baseDir() string {
	if len(s.cfg.Paths) > 0 {
		return filepath.Dir(s.cfg.Paths[0])
	}
	return "."
}

// Specs compiles every node's spec, without its agent: the spec and its
// hash depend on the configuration only, so status and drift need neither
// an agent binary nor a Go toolchain.
func (s *Session) Specs() ([]*plan.Desired, hcl.Diagnostics, error) {
	base := s.baseDir()
	var out []*plan.Desired
	var diags hcl.Diagnostics
	for _, n := range s.topology().Nodes {
		sp, files, d := providers.CompileNode(s.topology(), n, base)
		diags = append(diags, d...)
		data, err := sp.Marshal()
		if err != nil {
			return nil, diags, err
		}
		out = append(out, &plan.Desired{Node: n.Name, Spec: sp, SpecJSON: data, SpecHash: spec.HashBytes(data), Secrets: files, TakesOver: s.topology().Cluster.TakesOver})
	}
	return out, diags, nil
}

// Desired compiles every node's spec and picks the agent for its
// architecture: what plan and apply need.
func (s *Session) Desired(observed map[string]*plan.Observed) ([]*plan.Desired, hcl.Diagnostics, error) {
	desired, diags, err := s.Specs()
	if err != nil {
		return nil, diags, err
	}
	return desired, diags, s.AddAgents(desired, observed)
}

// AddAgents sets the agent of each desired state, for its node's
// architecture (known from the observation; amd64 when unknown). It stops at
// the first node whose agent cannot be had.
func (s *Session) AddAgents(desired []*plan.Desired, observed map[string]*plan.Observed) error {
	for _, d := range desired {
		arch := "x86_64"
		if o := observed[d.Node]; o != nil && o.Facts.Arch != "" {
			arch = o.Facts.Arch
		}
		agent, err := s.opts.Agents.For(arch)
		switch {
		case errors.Is(err, apply.ErrNoAgent):
			return err // about hactl, not about the node
		case err != nil:
			return fmt.Errorf("%s: %w", d.Node, err)
		}
		d.AgentBinary, d.AgentSHA256, d.AgentVersion = agent.Binary, agent.SHA256, agent.Version
	}
	return nil
}

// hostAdapter gives apply what it needs of a remote client.
type hostAdapter struct{ c *remote.Client }

func (h hostAdapter) Run(ctx context.Context, cmd string) ([]byte, error) {
	return h.c.Output(ctx, cmd, nil)
}

func (h hostAdapter) Upload(ctx context.Context, data []byte, dest string, mode fs.FileMode) error {
	return h.c.WriteFile(ctx, dest, data, mode)
}

// Result is what happened to each host of an apply.
type Result struct {
	Node string
	// Applied is true when every step of the host's plan ran.
	Applied bool
	// Skipped says why a host was not touched (an earlier node of its
	// failover chain failed).
	Skipped string
	Err     error
}

// Apply executes p: chains of nodes sharing a failover group one node at a
// time (standbys first, preferred node last), chains in parallel. Within a
// chain it stops at the first failure. Each host is locked while it is
// changed. While the daemon the cluster takes over from still runs, the
// order is the takeover's instead (takeOver).
func (s *Session) Apply(ctx context.Context, p *plan.Plan, desired []*plan.Desired, operation string) []Result {
	byNode := map[string]*plan.Desired{}
	for _, d := range desired {
		byNode[d.Node] = d
	}
	hostPlans := map[string]plan.HostPlan{}
	var nodes []string
	for _, h := range p.Hosts {
		hostPlans[h.Node] = h
		nodes = append(nodes, h.Node)
	}
	var groups [][]string
	for _, g := range s.topology().Groups {
		var chain []string
		for _, l := range g.Locations {
			chain = append(chain, l.Node.Name)
		}
		groups = append(groups, chain)
	}
	targets := map[string]remote.Target{}
	for _, t := range s.Targets() {
		targets[t.Name] = t
	}
	chains := apply.Order(nodes, groups)
	if results, done := s.takeOver(ctx, chains, hostPlans, byNode, targets, operation); done {
		return results
	}
	var mu sync.Mutex
	var results []Result
	record := func(r Result) { mu.Lock(); results = append(results, r); mu.Unlock() }
	slots := make(chan struct{}, s.opts.Parallelism)
	var wg sync.WaitGroup
	for _, chain := range chains {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			failed := ""
			for _, node := range chain {
				hp := hostPlans[node]
				switch {
				case failed != "":
					record(Result{Node: node, Skipped: fmt.Sprintf("not applied: %s, earlier in its failover group, failed", failed)})
					continue
				case len(hp.Changes) == 0:
					continue
				}
				err := s.applyHost(ctx, targets[node], hp, byNode[node], operation)
				record(Result{Node: node, Applied: err == nil, Err: err})
				if err != nil {
					failed = node
				}
			}
		})
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].Node < results[j].Node })
	return results
}

func (s *Session) applyHost(ctx context.Context, t remote.Target, hp plan.HostPlan, d *plan.Desired, operation string) error {
	return s.locked(ctx, t, operation, func(c *remote.Client) error {
		opts := apply.Options{HealthTimeout: s.opts.HealthWait, Progress: s.opts.Progress}
		if err := apply.Converge(ctx, hostAdapter{c}, hp, d, opts); err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		return nil
	})
}

// locked runs fn with the host's apply lock held.
func (s *Session) locked(ctx context.Context, t remote.Target, operation string, fn func(*remote.Client) error) error {
	c, err := s.client(ctx, t)
	if err != nil {
		return err
	}
	info := remote.NewLockInfo(operation)
	lock, err := c.Lock(ctx, layout.LockPath, info, s.opts.LockTimeout)
	var locked *remote.LockedError
	if errors.As(err, &locked) && deadHolder(locked.Holder, info) {
		// A run of this machine that no longer exists (killed mid-apply)
		// left the lock: every step is idempotent, so take it over.
		s.progress(t.Name, fmt.Sprintf("taking over the lock left by %s, which is no longer running", locked.Holder))
		if _, err := c.ForceUnlock(ctx, layout.LockPath); err != nil {
			return err
		}
		lock, err = c.Lock(ctx, layout.LockPath, info, s.opts.LockTimeout)
	}
	if err != nil {
		return err
	}
	defer func() {
		// The lock is released even when ctx was cancelled mid-apply.
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = lock.Unlock(unlockCtx)
	}()
	return fn(c)
}

// ForceUnlock removes a node's apply lock and says who held it.
func (s *Session) ForceUnlock(ctx context.Context, node string) (remote.LockInfo, error) {
	for _, t := range s.Targets() {
		if t.Name != node {
			continue
		}
		c, err := s.client(ctx, t)
		if err != nil {
			return remote.LockInfo{}, err
		}
		return c.ForceUnlock(ctx, layout.LockPath)
	}
	return remote.LockInfo{}, fmt.Errorf("no node named %q in the configuration", node)
}

// deadHolder says whether a lock was left by a process of this machine that
// has exited.
func deadHolder(holder, me remote.LockInfo) bool {
	if holder.ID == "" || holder.Host != me.Host || holder.PID <= 0 || holder.PID == me.PID {
		return false
	}
	err := syscall.Kill(holder.PID, 0)
	return errors.Is(err, syscall.ESRCH)
}

func (s *Session) progress(node, msg string) {
	if s.opts.Progress != nil {
		s.opts.Progress(node, msg)
	}
}

// AgentControl runs `hactl-agent ctl WORDS…` on a node: an operator's
// request to the running agent.
func (s *Session) AgentControl(ctx context.Context, node string, words ...string) error {
	for _, t := range s.Targets() {
		if t.Name != node {
			continue
		}
		c, err := s.client(ctx, t)
		if err != nil {
			return err
		}
		if _, err := c.Output(ctx, commandLine(layout.AgentBin, append([]string{"ctl"}, words...)...), nil); err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		return nil
	}
	return fmt.Errorf("no node named %q in the configuration", node)
}

// commandLine is a command for a host's shell: the program and each
// argument quoted, so that the shell takes every word literally, whatever
// the operator typed (a group or node name).
func commandLine(program string, args ...string) string {
	words := make([]string, 0, 1+len(args))
	for _, w := range append([]string{program}, args...) {
		words = append(words, remote.Quote(w))
	}
	return strings.Join(words, " ")
}
