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
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan"
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

Exit status: 0 every node healthy; 1 error; 2 some node unreachable or
unhealthy (for monitoring scripts).`,
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
	return flags.withSession(stderr, nil, func(ctx context.Context, s *deploy.Session) error {
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
	observed := s.Observe(ctx)
	rows := make([]NodeStatus, 0, len(desired))
	unhealthy := false
	for _, d := range desired {
		o := observed[d.Node]
		r := NodeStatus{Node: d.Node, Reachable: o.Error == "", Error: o.Error, AgentVersion: o.AgentVersion, AgentRunning: o.AgentRunning}
		if st := o.Status; st != nil && o.AgentRunning {
			r.SpecApplied = st.SpecHash == d.SpecHash
			r.Healthy = st.Healthy
			r.LastError = st.SpecError
		}
		unhealthy = unhealthy || !r.Healthy
		rows = append(rows, r)
	}
	view := clusterView(observed)
	if flags.json {
		doc := struct {
			FormatVersion string            `json:"format_version"`
			Nodes         []NodeStatus      `json:"nodes"`
			Cluster       *status.Heartbeat `json:"cluster,omitempty"`
			SeenBy        string            `json:"cluster_seen_by,omitempty"`
		}{plan.JSONFormatVersion, rows, nil, ""}
		if view != nil {
			doc.Cluster, doc.SeenBy = view.Status.Heartbeat, view.Node
		}
		if err := plan.WriteJSON(stdout, doc); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tREACHABLE\tAGENT\tRUNNING\tSPEC APPLIED\tHEALTHY\tLAST ERROR")
		for _, r := range rows {
			last := r.LastError
			if r.Error != "" {
				last = r.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Node, yesNo(r.Reachable), dash(r.AgentVersion), yesNo(r.AgentRunning), yesNo(r.SpecApplied), yesNo(r.Healthy), dash(last))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if view != nil {
			writeClusterView(stdout, view.Node, view.Status.Heartbeat)
		}
	}
	if unhealthy {
		return withExitCode(exitChanges, nil)
	}
	return nil
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

func writeClusterView(w io.Writer, seenBy string, hb *status.Heartbeat) {
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
		if m.Standby {
			state += ", standby"
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
	fmt.Fprintln(w, "\nGroups:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, g := range hb.Groups {
		where := "not running"
		if len(g.RunningOn) > 0 {
			where = "running on " + strings.Join(g.RunningOn, ", ")
		}
		var res []string
		for _, r := range g.Resources {
			st := "stopped"
			if r.Running {
				st = "running"
			}
			if r.LastError != "" {
				st += " (" + r.LastError + ")"
			}
			res = append(res, fmt.Sprintf("%s %s %s", r.Kind, r.Name, st))
		}
		extra := ""
		if g.Waiting != "" {
			extra = " — " + g.Waiting
		}
		fmt.Fprintf(tw, "  %s\t%s%s\t%s\n", g.Name, where, extra, strings.Join(res, "; "))
	}
	_ = tw.Flush()
	if len(hb.Dropped) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(hb.Dropped)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, hb.Dropped[k]))
		}
		fmt.Fprintf(w, "\nHeartbeats dropped: %s (accepted %d)\n", strings.Join(parts, ", "), hb.Accepted)
	}
	if hb.SplitBrains > 0 {
		fmt.Fprintf(w, "\nSplit brains resolved by %s: %d (a group found running twice after a partition)\n", seenBy, hb.SplitBrains)
	}
	if n := len(hb.Events); n > 0 {
		fmt.Fprintln(w, "\nRecent events:")
		for _, ev := range hb.Events[max(0, n-5):] {
			fmt.Fprintf(w, "  %s %s %s %s %s\n", ev.Time.Format("15:04:05.000"), ev.Kind, ev.Node, ev.Group, ev.Detail)
		}
	}
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
