package deploy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/apply"
	"github.com/hactl/hactl/remote"
)

// takeOver applies p as a takeover from the daemon the cluster's
// takes_over names, while that daemon still runs on some node (package
// apply's takeover.go says why in this order): it asks every node what
// runs there and refuses, changing nothing, unless the hosts are a
// healthy active/passive pair of the daemon; then it stops the daemon on
// the nodes without the VIPs, applies the holder's plan, waits until the
// holder's agent runs the groups, kills the daemon there, and applies the
// other nodes in their rolling order. done is false when there is no
// takeover to make (no takes_over, nothing starts an agent, the daemon
// runs nowhere): the ordinary apply goes on.
func (s *Session) takeOver(ctx context.Context, chains [][]string, hostPlans map[string]plan.HostPlan, byNode map[string]*plan.Desired, targets map[string]remote.Target, operation string) (results []Result, done bool) {
	name := s.topology().Cluster.TakesOver
	var nodes []string
	starts := false
	for _, chain := range chains {
		nodes = append(nodes, chain...)
		for _, n := range chain {
			starts = starts || startsAgent(hostPlans[n])
		}
	}
	if name == "" || !starts {
		return nil, false
	}
	// A refusal is told once, on the first node; the others say they
	// were left alone.
	refuse := func(err error) ([]Result, bool) {
		sorted := slices.Sorted(slices.Values(nodes))
		for i, n := range sorted {
			if i == 0 {
				results = append(results, Result{Node: n, Err: err})
			} else {
				results = append(results, Result{Node: n, Skipped: "not applied: the takeover was refused (above)"})
			}
		}
		return results, true
	}
	inspect, err := apply.InspectCmd(name)
	if err != nil {
		return refuse(err)
	}
	states := map[string]apply.HostState{}
	vips := map[string]map[string][]netip.Prefix{}
	for _, n := range nodes {
		c, err := s.client(ctx, targets[n])
		if err != nil {
			return refuse(fmt.Errorf("asking %s whether %s runs there: %w", n, name, err))
		}
		out, err := c.Output(ctx, inspect, nil)
		if err != nil {
			return refuse(fmt.Errorf("asking %s whether %s runs there: %w", n, name, err))
		}
		st, err := apply.ParseInspect(out)
		if err != nil {
			return refuse(fmt.Errorf("%s: %w", n, err))
		}
		st.AgentRuns = !startsAgent(hostPlans[n])
		states[n] = st
		vips[n] = groupVIPs(byNode[n])
	}
	t, err := apply.PlanTakeover(name, nodes, states, vips)
	if err != nil {
		return refuse(err)
	}
	if t == nil {
		return nil, false
	}

	failed := ""
	recorded := map[string]bool{}
	record := func(node string, err error) {
		results = append(results, Result{Node: node, Applied: err == nil, Err: err})
		recorded[node] = true
		if err != nil {
			failed = node
		}
	}
	hostStep := func(node, title, cmd string) error {
		return s.locked(ctx, targets[node], operation, func(c *remote.Client) error {
			if _, err := c.Output(ctx, cmd, nil); err != nil {
				return fmt.Errorf("%s: %s: %w", node, title, err)
			}
			s.progress(node, title)
			return nil
		})
	}
	stop, err := apply.StopCmd(name)
	if err != nil {
		return refuse(err)
	}
	kill, err := apply.KillCmd(name)
	if err != nil {
		return refuse(err)
	}
	for _, n := range t.Stop {
		if err := hostStep(n, "stop and disable "+name+" (this node holds no VIP)", stop); err != nil {
			record(n, err)
			break
		}
	}
	if failed == "" {
		err := s.applyIfChanged(ctx, targets[t.Holder], hostPlans[t.Holder], byNode[t.Holder], operation)
		if err == nil {
			err = s.locked(ctx, targets[t.Holder], operation, func(c *remote.Client) error {
				if err := apply.WaitRunning(ctx, hostAdapter{c}, t.Holder, t.Groups, s.takeoverWait()); err != nil {
					return fmt.Errorf("%s: %w; %s still runs there and holds the VIPs", t.Holder, err, name)
				}
				s.progress(t.Holder, "the agent runs "+fmt.Sprint(t.Groups))
				return nil
			})
		}
		if err == nil {
			err = hostStep(t.Holder, "kill and disable "+name+" (SIGKILL: a clean stop would remove the VIPs the agent now holds)", kill)
		}
		record(t.Holder, err)
	}
	for _, n := range nodes {
		if recorded[n] {
			continue
		}
		if failed != "" {
			if len(hostPlans[n].Changes) > 0 || slices.Contains(t.Stop, n) || n == t.Holder {
				results = append(results, Result{Node: n, Skipped: fmt.Sprintf("not applied: the takeover from %s failed on %s", name, failed)})
			}
			continue
		}
		if len(hostPlans[n].Changes) == 0 {
			continue
		}
		record(n, s.applyIfChanged(ctx, targets[n], hostPlans[n], byNode[n], operation))
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Node < results[j].Node })
	return results, true
}

// applyIfChanged applies a host's plan when it has changes.
func (s *Session) applyIfChanged(ctx context.Context, t remote.Target, hp plan.HostPlan, d *plan.Desired, operation string) error {
	if len(hp.Changes) == 0 {
		return nil
	}
	return s.applyHost(ctx, t, hp, d, operation)
}

// takeoverWait bounds the wait for the holder's agent to run the groups:
// alone, it starts them once initdead has passed without word from its
// peers, whose agents start later.
func (s *Session) takeoverWait() time.Duration {
	wait := time.Minute
	if hb := s.topology().Heartbeat; hb != nil {
		wait += hb.Initdead + hb.Deadtime
	}
	return wait
}

// startsAgent says whether a host's plan starts its agent: the agent does
// not run there yet.
func startsAgent(hp plan.HostPlan) bool {
	for _, c := range hp.Changes {
		if c.Action == plan.InstallAgent || c.Action == plan.StartAgent {
			return true
		}
	}
	return false
}

// groupVIPs maps each group that a node's spec may run there to its VIPs.
func groupVIPs(d *plan.Desired) map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	if d == nil || d.Spec == nil {
		return out
	}
	for _, g := range d.Spec.Groups {
		if !slices.ContainsFunc(g.Locations, func(l spec.Location) bool { return l.Node == d.Node }) {
			continue
		}
		for _, r := range g.Resources {
			if p, err := netip.ParsePrefix(r.Address); r.Kind == "vip" && err == nil {
				out[g.Name] = append(out[g.Name], p)
			}
		}
	}
	return out
}
