package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/deploy"
)

func jsonUnmarshalStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type statusFlags struct {
	remoteFlags
	json  bool
	watch bool
}

// NodeStatus is one row of hactl status.
type NodeStatus struct {
	Node         string `json:"node"`
	Reachable    bool   `json:"reachable"`
	Error        string `json:"error,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
	AgentRunning bool   `json:"agent_running"`
	SpecApplied  bool   `json:"spec_applied"`
	Healthy      bool   `json:"healthy"`
	LastError    string `json:"last_error,omitempty"`
	// Roles are the agent's roles on the node, each with its state.
	Roles []status.Role `json:"roles,omitempty"`
	// Standby and Maintenance are the node's modes as it reports them.
	Standby     bool `json:"standby,omitempty"`
	Maintenance bool `json:"maintenance,omitempty"`
	// Failures are the node's failed groups and resources, as it reports
	// them; any makes the node unhealthy.
	Failures []string `json:"failures,omitempty"`
	// Syncs are the sync modules the node pushes, with their targets.
	Syncs []status.Sync `json:"syncs,omitempty"`
	// Proxies are the node's proxy role's proxies, with their backends'
	// health and counters.
	Proxies []status.Proxy `json:"proxies,omitempty"`
	// Metrics sums up the node's latest monitor collection.
	Metrics *status.Monitor `json:"metrics,omitempty"`
}

func newStatusCommand() *cobra.Command {
	var flags statusFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node: reachable, agent, spec applied, healthy, last error",
		Long: `status probes every node and shows its agent (version, running, spec of the
current configuration applied, healthy, last error) and, where nodes are
cluster members, the membership as the best-connected member sees it: who is
alive, each heartbeat link's loss and round-trip time, where each group runs
and each resource's state, dropped heartbeats by reason, recent events.

Each node's standby and maintenance modes are shown as the node itself
reports them, and so are its failures: a group that failed there (it will not
run there again until hactl online), a group whose resources would not stop
(stop-failed: it may still partly run there), a resource of a running group
in error. Each group's operator move is shown while it holds (hactl failover).

Exit status: 0 every node healthy; 1 error; 2 some node unreachable or
unhealthy, or something failed (for monitoring scripts).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags)
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&flags.json, "json", false, "print the status as JSON (format_version 1)")
	cmd.Flags().BoolVarP(&flags.watch, "watch", "w", false, "refresh every second until interrupted")
	return cmd
}

func runStatus(stdout, stderr io.Writer, flags statusFlags) error {
	return flags.withSession(stderr, nil, func(ctx context.Context, s *deploy.Session, _ *config.Result) error {
		return statusWith(ctx, stdout, s, flags)
	})
}

func statusWith(ctx context.Context, stdout io.Writer, s *deploy.Session, flags statusFlags) error {
	// The specs the nodes should run depend on the configuration only (the
	// host's architecture picks the agent, not the spec): compile them once,
	// not at every refresh of --watch.
	desired, _, err := s.Specs()
	if err != nil {
		return withExitCode(exitError, err)
	}
	if !flags.watch {
		return statusOnce(ctx, stdout, s, desired, flags)
	}
	for {
		var buf bytes.Buffer
		err := statusOnce(ctx, &buf, s, desired, flags)
		if useColor(stdout) {
			fmt.Fprint(stdout, "\033[H\033[2J")
		}
		fmt.Fprintf(stdout, "%s\n%s", time.Now().Format("15:04:05.000"), buf.String())
		var ec *exitCodeError
		if err != nil && !errors.As(err, &ec) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func statusOnce(ctx context.Context, stdout io.Writer, s *deploy.Session, desired []*plan.Desired, flags statusFlags) error {
	report := newStatusReport(desired, s.Observe(ctx))
	var err error
	if flags.json {
		err = report.writeJSON(stdout)
	} else {
		err = report.writeText(stdout)
	}
	if err != nil {
		return err
	}
	if !report.healthy() {
		return withExitCode(exitChanges, nil)
	}
	return nil
}

// statusReport is what hactl status shows: a row per node, and the cluster
// as the member that sees the most members alive sees it, each group with
// its resources as the node running it reports them. It is built from the
// observations alone, so that its rendering can be tested without hosts.
type statusReport struct {
	Nodes []NodeStatus
	// SeenBy is the member whose view Cluster is; empty without heartbeat.
	SeenBy  string
	Cluster *status.Heartbeat
	// Holders maps a group to the reports of the nodes that run it, in
	// the order of the group's running_on. A member reports a group's
	// resources as they are on itself, so on a node that does not run the
	// group they are stopped by design: only the holders' reports say
	// whether the group's resources really run.
	Holders map[string][]groupOnNode
	// VirtualServices are the lvs role's services as the nodes report
	// them: where a service is live, that node's report; otherwise the
	// first node's that has it.
	VirtualServices []virtualServiceOn
}

// virtualServiceOn is a virtual service as one node reports it.
type virtualServiceOn struct {
	Node string `json:"node"`
	status.VirtualService
}

// groupOnNode is a group as one node that runs it reports it; Group is nil
// when that node's report could not be read.
type groupOnNode struct {
	Node  string
	Group *status.Group
}

func newStatusReport(desired []*plan.Desired, observed map[string]*plan.Observed) *statusReport {
	r := &statusReport{Nodes: make([]NodeStatus, 0, len(desired)), Holders: map[string][]groupOnNode{}}
	for _, d := range desired {
		o := observed[d.Node]
		if o == nil {
			o = &plan.Observed{Node: d.Node, Error: "not observed"}
		}
		row := NodeStatus{Node: d.Node, Reachable: o.Error == "", Error: plan.WithoutHost(d.Node, o.Error), AgentVersion: o.AgentVersion, AgentRunning: o.AgentRunning}
		if st := o.Status; st != nil && o.AgentRunning {
			row.SpecApplied = st.SpecHash == d.SpecHash
			row.Healthy = st.Healthy
			row.LastError = st.SpecError
			row.Roles = st.Roles
			// A part of the spec that no role of the agent runs is not
			// healthy, though the agent runs the rest without error.
			for _, role := range st.Roles {
				if role.State != status.RoleRunning {
					row.Healthy = false
					if row.LastError == "" {
						row.LastError = role.Error
					}
				}
			}
			row.Proxies = st.Proxies
			row.Metrics = st.Monitor
			if hb := st.Heartbeat; hb != nil {
				row.Standby, row.Maintenance = hb.Standby, hb.Maintenance
				row.Failures = groupFailures(hb.Groups)
			}
			row.Syncs = st.Syncs
			row.Failures = append(row.Failures, syncFailures(st.Syncs)...)
			if len(row.Failures) > 0 {
				row.Healthy = false
				if row.LastError == "" {
					row.LastError = row.Failures[0]
				}
			}
		}
		r.Nodes = append(r.Nodes, row)
	}
	r.VirtualServices = virtualServices(desired, observed)
	view := clusterView(observed)
	if view == nil {
		return r
	}
	r.SeenBy, r.Cluster = view.Node, view.Status.Heartbeat
	for _, g := range r.Cluster.Groups {
		for _, node := range g.RunningOn {
			r.Holders[g.Name] = append(r.Holders[g.Name], groupOnNode{Node: node, Group: reportedGroup(observed[node], g.Name)})
		}
	}
	return r
}

// virtualServices picks, for each virtual service, the report of the node
// where it is live (of the first node that has it, when it is live
// nowhere), in the order the nodes and their services come.
func virtualServices(desired []*plan.Desired, observed map[string]*plan.Observed) []virtualServiceOn {
	var out []virtualServiceOn
	index := map[string]int{}
	for _, d := range desired {
		o := observed[d.Node]
		if o == nil || !o.AgentRunning || o.Status == nil || o.Status.LVS == nil {
			continue
		}
		for _, vs := range o.Status.LVS.Services {
			i, seen := index[vs.Name]
			switch {
			case !seen:
				index[vs.Name] = len(out)
				out = append(out, virtualServiceOn{Node: d.Node, VirtualService: vs})
			case vs.Live && !out[i].Live:
				out[i] = virtualServiceOn{Node: d.Node, VirtualService: vs}
			}
		}
	}
	return out
}

// groupFailures lists what failed among a node's own groups: a group that
// failed or would not stop there, a resource of a group it runs in error.
func groupFailures(groups []status.Group) []string {
	var out []string
	for _, g := range groups {
		switch g.State {
		case "failed", "stop-failed":
			text := "group " + g.Name + " " + g.State
			if g.Error != "" {
				text += ": " + g.Error
			}
			out = append(out, text)
		case "running":
			for _, r := range g.Resources {
				if r.LastError != "" {
					out = append(out, fmt.Sprintf("group %s: %s %s: %s", g.Name, r.Kind, r.Name, r.LastError))
				}
			}
		}
	}
	return out
}

// reportedGroup is the group as the node itself reports it, or nil.
func reportedGroup(o *plan.Observed, name string) *status.Group {
	if o == nil || !o.AgentRunning || o.Status == nil || o.Status.Heartbeat == nil {
		return nil
	}
	for i, g := range o.Status.Heartbeat.Groups {
		if g.Name == name {
			return &o.Status.Heartbeat.Groups[i]
		}
	}
	return nil
}

func (r *statusReport) healthy() bool {
	for _, n := range r.Nodes {
		if !n.Healthy {
			return false
		}
	}
	return true
}

func (r *statusReport) writeJSON(w io.Writer) error {
	doc := struct {
		FormatVersion string             `json:"format_version"`
		Nodes         []NodeStatus       `json:"nodes"`
		Cluster       *status.Heartbeat  `json:"cluster,omitempty"`
		SeenBy        string             `json:"cluster_seen_by,omitempty"`
		LVS           []virtualServiceOn `json:"virtual_services,omitempty"`
	}{plan.JSONFormatVersion, r.Nodes, r.Cluster, r.SeenBy, r.VirtualServices}
	return plan.WriteJSON(w, doc)
}

func (r *statusReport) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREACHABLE\tAGENT\tRUNNING\tSPEC APPLIED\tROLES\tHEALTHY\tLAST ERROR")
	for _, n := range r.Nodes {
		last := n.LastError
		if n.Error != "" {
			last = n.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Node, yesNo(n.Reachable), dash(n.AgentVersion), yesNo(n.AgentRunning), yesNo(n.SpecApplied), dash(rolesSummary(n.Roles)), yesNo(n.Healthy), dash(last))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Cluster != nil {
		r.writeCluster(w)
	}
	if err := r.writeVirtualServices(w); err != nil {
		return err
	}
	r.writeFailures(w)
	r.writeSyncs(w)
	r.writeProxies(w)
	r.writeMetrics(w)
	return nil
}

// writeProxies shows each proxy where it serves, a line per backend.
func (r *statusReport) writeProxies(w io.Writer) {
	for _, n := range r.Nodes {
		for _, p := range n.Proxies {
			if !p.Serving {
				continue
			}
			fmt.Fprintf(w, "\nProxy %s on %s (%d requests relayed):\n", p.Name, n.Node, p.Requests)
			for _, s := range p.Services {
				for _, b := range s.Backends {
					fmt.Fprintf(w, "  %s / %s (%s %s): %s, %d requests, %d errors, %.1fms mean\n", s.Name, b.Name, b.Kind, b.Address, b.State, b.Requests, b.Errors, b.MeanLatencyMS)
				}
			}
		}
	}
}

// writeVirtualServices shows each virtual service where it runs, with its
// real servers' health, weights and counters.
func (r *statusReport) writeVirtualServices(w io.Writer) error {
	if len(r.VirtualServices) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nVirtual services:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SERVICE\tLIVE ON\tDATAPATH\tSCHEDULER\tREAL SERVER\tHEALTH\tWEIGHT\tACTIVE\tCONNS\tBYTES")
	for _, vs := range r.VirtualServices {
		where := "nowhere"
		if vs.Live {
			where = vs.Node
		}
		if vs.Sorry {
			where += ", to the sorry server"
		}
		head := fmt.Sprintf("  %s %s %s:%d\t%s\t%s\t%s", vs.Name, vs.Protocol, vs.Address, vs.Port, where, vs.Datapath, vs.Scheduler)
		if vs.FWMark != 0 {
			head = fmt.Sprintf("  %s fwmark %d (%s)\t%s\t%s\t%s", vs.Name, vs.FWMark, vs.Address, where, vs.Datapath, vs.Scheduler)
		}
		blank := "  \t\t\t"
		for i, rs := range vs.RealServers {
			lead := blank
			if i == 0 {
				lead = head
			}
			health := rs.Health
			if rs.Reason != "" && rs.Health != "up" {
				health += " (" + rs.Reason + ")"
			}
			fmt.Fprintf(tw, "%s\t%s %s:%d\t%s\t%s\t%s\t%s\t%s\n", lead, rs.Name, rs.Address, rs.Port, health,
				weight(rs), counter(rs.ActiveConns), counter(rs.Conns), counter(rs.Bytes))
		}
		if len(vs.RealServers) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\n", head)
		}
	}
	return tw.Flush()
}

// weight shows the weight in the kernel, and the configured one when they
// differ (a server out of service, or quiescent).
func weight(rs status.RealServer) string {
	switch {
	case rs.Effective == rs.Weight:
		return strconv.Itoa(rs.Weight)
	case rs.Effective < 0:
		return fmt.Sprintf("out (%d)", rs.Weight)
	}
	return fmt.Sprintf("%d (%d)", rs.Effective, rs.Weight)
}

func counter(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// writeFailures lists every node's failures, which the table shows only
// the first of.
func (r *statusReport) writeFailures(w io.Writer) {
	var lines []string
	for _, n := range r.Nodes {
		for _, f := range n.Failures {
			lines = append(lines, fmt.Sprintf("  %s: %s", n.Node, f))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nFailures (as each node reports them; hactl online NODE clears its failed groups once fixed):\n%s\n", strings.Join(lines, "\n"))
	}
}

// modes are a node's standby and maintenance, as it reports them when it
// could be read, else as the viewing member sees it.
func (r *statusReport) modes(m status.Member) string {
	standby, maintenance := m.Standby, false
	for _, n := range r.Nodes {
		if n.Node == m.Name && n.AgentRunning && n.Reachable {
			standby, maintenance = n.Standby, n.Maintenance
		}
	}
	var out []string
	if standby {
		out = append(out, "standby")
	}
	if maintenance {
		out = append(out, "MAINTENANCE (groups not managed)")
	}
	if len(m.CannotServe) > 0 {
		out = append(out, "CANNOT SERVE "+strings.Join(m.CannotServe, ", "))
	}
	return strings.Join(out, ", ")
}

// clusterView picks the membership view to show: the member that sees the
// most members alive (a partitioned node sees fewer).
func clusterView(observed map[string]*plan.Observed) *plan.Observed {
	var best *plan.Observed
	bestAlive := -1
	for _, name := range sortedNames(observed) {
		o := observed[name]
		if o.Status == nil || o.Status.Heartbeat == nil || !o.AgentRunning {
			continue
		}
		alive := 0
		for _, m := range o.Status.Heartbeat.Members {
			if m.Alive {
				alive++
			}
		}
		if alive > bestAlive {
			best, bestAlive = o, alive
		}
	}
	return best
}

func sortedNames(m map[string]*plan.Observed) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *statusReport) writeCluster(w io.Writer) {
	hb, seenBy := r.Cluster, r.SeenBy
	quorum := "quorate"
	if !hb.Quorate {
		quorum = "NO QUORUM"
	}
	fmt.Fprintf(w, "\nMembership (as %s sees it, %s):\n", seenBy, quorum)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, m := range hb.Members {
		state := "dead"
		if m.Alive {
			state = "alive"
		}
		if modes := r.modes(m); modes != "" {
			state += ", " + modes
		}
		var links []string
		for _, l := range m.Links {
			if l.Up {
				links = append(links, fmt.Sprintf("%s up (loss %.1f%%, rtt %.2fms)", l.Name, l.LossPct, l.RTTMS))
			} else {
				links = append(links, l.Name+" DOWN")
			}
		}
		if m.Self {
			links = []string{"(this node)"}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Name, state, strings.Join(links, ", "))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nGroups (resources as the node running each group reports them):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, g := range hb.Groups {
		where := r.groupPlace(g)
		if g.MovedTo != "" {
			where += ", moved to " + g.MovedTo
			if !g.MoveUntil.IsZero() {
				where += " until " + g.MoveUntil.UTC().Format("2006-01-02 15:04:05Z")
			}
		}
		if g.Waiting != "" {
			where += " — " + g.Waiting
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", g.Name, where, r.groupResources(g))
	}
	_ = tw.Flush()
	if len(hb.Dropped) > 0 {
		// Per link where the agent counts so: a flood shows on its link.
		byLink := map[string]map[string]uint64{"": hb.Dropped}
		if len(hb.DroppedByLink) > 0 {
			byLink = hb.DroppedByLink
		}
		var links []string
		for _, l := range slices.Sorted(maps.Keys(byLink)) {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(byLink[l])) {
				parts = append(parts, fmt.Sprintf("%s %d", k, byLink[l][k]))
			}
			if l != "" {
				l = "on " + l + ": "
			}
			links = append(links, l+strings.Join(parts, ", "))
		}
		fmt.Fprintf(w, "\nHeartbeats dropped: %s (accepted %d)\n", strings.Join(links, "; "), hb.Accepted)
	}
	if hb.TrimmedStates > 0 {
		fmt.Fprintf(w, "\nHeartbeats %s sent with its groups cut short, as they did not fit a packet: %d (run hactl validate)\n", seenBy, hb.TrimmedStates)
	}
	if len(hb.SendDrops) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(hb.SendDrops)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, hb.SendDrops[k]))
		}
		fmt.Fprintf(w, "\nHeartbeats %s's links refused to send (a dead link): %s\n", seenBy, strings.Join(parts, ", "))
	}
	if hb.SplitBrains > 0 {
		fmt.Fprintf(w, "\nSplit brains resolved by %s: %d (a group found running twice after a partition)\n", seenBy, hb.SplitBrains)
	}
	if n := len(hb.Events); n > 0 {
		fmt.Fprintln(w, "\nRecent events:")
		for _, ev := range hb.Events[max(0, n-5):] {
			words := []string{ev.Time.Format("15:04:05.000"), string(ev.Kind)}
			for _, s := range []string{ev.Node, ev.Group, ev.Detail} {
				if s != "" {
					words = append(words, s)
				}
			}
			fmt.Fprintf(w, "  %s\n", strings.Join(words, " "))
		}
	}
}

// groupPlace says where a group runs, with the state of each node that
// holds it but does not report it running there (stop-failed, stopping).
func (r *statusReport) groupPlace(g status.Group) string {
	if len(g.RunningOn) == 0 {
		return "not running"
	}
	var running, other []string
	for _, node := range g.RunningOn {
		state := "running"
		for _, h := range r.Holders[g.Name] {
			if h.Node == node && h.Group != nil {
				state = h.Group.State
			}
		}
		if state == "running" {
			running = append(running, node)
		} else {
			other = append(other, fmt.Sprintf("%s on %s", strings.ToUpper(state), node))
		}
	}
	if len(running) > 0 {
		other = append([]string{"running on " + strings.Join(running, ", ")}, other...)
	}
	return strings.Join(other, ", ")
}

// groupResources describes a group's resources where they matter: on the
// nodes that run it. A group that runs nowhere has its resources stopped
// everywhere; the viewing member's report says why, if one failed.
func (r *statusReport) groupResources(g status.Group) string {
	holders := r.Holders[g.Name]
	if len(holders) == 0 {
		return resourceList(g.Resources)
	}
	var parts []string
	for _, h := range holders {
		text := fmt.Sprintf("(%s did not report)", h.Node)
		if h.Group != nil {
			text = resourceList(h.Group.Resources)
		}
		if len(holders) > 1 {
			text = h.Node + ": " + text
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, " | ")
}

func resourceList(resources []status.Resource) string {
	var res []string
	for _, r := range resources {
		st := "stopped"
		if r.Running {
			st = "running"
		}
		if r.LastError != "" {
			st += " (" + r.LastError + ")"
		}
		res = append(res, fmt.Sprintf("%s %s %s", r.Kind, r.Name, st))
	}
	return strings.Join(res, "; ")
}

// rolesSummary names a node's roles, with the state of those not running:
// "heartbeat, lvs (not run)".
func rolesSummary(roles []status.Role) string {
	parts := make([]string, len(roles))
	for i, r := range roles {
		parts[i] = r.Name
		switch r.State {
		case status.RoleFailed:
			parts[i] += " (FAILED)"
		case status.RoleNotRun:
			parts[i] += " (not run)"
		}
	}
	return strings.Join(parts, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
