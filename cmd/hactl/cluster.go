package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/deploy"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/remote"
)

// The operator's commands to the running cluster: they reach an agent over
// SSH and hand it the request; the agents agree among themselves through
// their heartbeats.

func init() {
	subcommands = append(subcommands, newFailoverCommand, newStandbyCommand("standby"), newStandbyCommand("online"), newMaintenanceCommand)
}

func newFailoverCommand() *cobra.Command {
	var flags remoteFlags
	var to string
	var hold time.Duration
	var clear bool
	cmd := &cobra.Command{
		Use:   "failover GROUP [--to NODE] [--for DURATION] [--clear]",
		Short: "Move a group to another node now (by default the next one in preference), or clear such a move",
		Long: `failover moves a running group: its current node stops its resources, in
reverse order, and announces it; the target starts them.

The move holds against the group's scores and failback until it ends, which
is when the first of these happens:
  - the operator clears it: hactl failover GROUP --clear;
  - its --for duration runs out;
  - another failover of the group replaces it;
  - its target can no longer run the group: it dies, goes into standby
    (hactl standby) or fails the group.
Then the group is placed as if there had been no move: with failback on it
returns to its preferred node (after failback_delay, counted from that node's
return), with failback off it stays where it runs. An ended move never comes
back: not when its target returns or is brought online, nor from a member that
was down or cut off when it ended.

hactl status shows each group's move while it holds. Moves live in the agents'
memory and travel in their heartbeats; a move ends too when every agent of
the cluster restarts.`,
		Example: `  hactl failover web                 # to the next node in preference
  hactl failover web --to c2g --for 2h
  hactl failover web --clear`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if clear {
				if to != "" || hold != 0 {
					return withExitCode(exitError, fmt.Errorf("failover %s --clear ends the group's move: give it without --to or --for", group))
				}
				return runControl(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, groupNodes(group), []string{"heartbeat", "unmove", group},
					fmt.Sprintf("group %s has no move now: its scores and failback place it", group))
			}
			if hold < 0 {
				return withExitCode(exitError, fmt.Errorf("failover %s --for %s: give a positive duration such as 30m or 2h", group, hold))
			}
			words := []string{"heartbeat", "move", group}
			done := "group " + group + " is moving"
			if to != "" {
				words = append(words, to)
				done += " to " + to
			}
			if hold > 0 {
				words = append(words, "for="+hold.String())
				done += " for " + hold.String()
			}
			return runControl(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, groupNodes(group), words,
				done+"; hactl failover "+group+" --clear ends the move")
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the node to move it to")
	cmd.Flags().DurationVar(&hold, "for", 0, "end the move after this long (e.g. 30m, 2h); by default it holds until cleared or its target can no longer run the group")
	cmd.Flags().BoolVar(&clear, "clear", false, "end the group's move (if it has one) and let its scores and failback place it")
	return cmd
}

func newStandbyCommand(op string) func() *cobra.Command {
	return func() *cobra.Command {
		var flags remoteFlags
		short := "Put a node in standby: its groups move away and it takes none"
		if op == "online" {
			short = "Bring a node out of standby and clear its failed groups"
		}
		cmd := &cobra.Command{
			Use:   op + " NODE",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				node := args[0]
				return flags.withSession(cmd.ErrOrStderr(), nil, func(ctx context.Context, s *deploy.Session, res *config.Result) error {
					nodes, err := namedNode(node)(res)
					if err != nil {
						return err
					}
					done := node + " is online"
					if op == "standby" {
						// Said before the request: once the node is in
						// standby, its groups no longer show where they
						// could have gone.
						done = standbyOutcome(node, res.Topology, clusterView(s.Observe(ctx)))
					}
					return controlWith(ctx, cmd.OutOrStdout(), s, nodes, []string{"heartbeat", op}, done)
				})
			},
		}
		flags.register(cmd)
		return cmd
	}
}

// standbyOutcome says what putting node in standby does to its groups,
// from the membership view (nil when no agent reports one): a group
// moves only if another of its nodes is alive and not in standby itself.
func standbyOutcome(node string, t *topology.Topology, view *plan.Observed) string {
	if view == nil || view.Status == nil || view.Status.Heartbeat == nil {
		return node + " is in standby; its groups move to any other of their nodes that is online (no agent reported the others' state: see hactl status)"
	}
	online := map[string]bool{}
	for _, m := range view.Status.Heartbeat.Members {
		online[m.Name] = m.Alive && !m.Standby
	}
	var stop []string
	var others []string
	for _, g := range t.Groups {
		member, movable := false, false
		var rest []string
		for _, l := range g.Locations {
			if l.Node.Name == node {
				member = true
				continue
			}
			rest = append(rest, l.Node.Name)
			movable = movable || online[l.Node.Name]
		}
		if member && !movable {
			stop = append(stop, g.Name)
			for _, n := range rest {
				if !slices.Contains(others, n) {
					others = append(others, n)
				}
			}
		}
	}
	if len(stop) == 0 {
		return node + " is in standby; its groups move to other nodes"
	}
	noun, verb := "group", "stops"
	if len(stop) > 1 {
		noun, verb = "groups", "stop"
	}
	why := "it has no other node"
	if len(others) > 0 {
		why = "its other nodes (" + strings.Join(others, ", ") + ") are down or in standby"
		if len(stop) > 1 {
			why = "their other nodes (" + strings.Join(others, ", ") + ") are down or in standby"
		}
	}
	return fmt.Sprintf("%s is in standby; %s %s %s: %s. Bring a node online with hactl online NODE, or %s back with hactl online %s.",
		node, noun, strings.Join(stop, ", "), verb, why, node, node)
}

func newMaintenanceCommand() *cobra.Command {
	var flags remoteFlags
	cmd := &cobra.Command{
		Use:   "maintenance NODE on|off",
		Short: "Make a node's agent keep its hands off its groups (on) or manage them again (off)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] != "on" && args[1] != "off" {
				return withExitCode(exitError, fmt.Errorf("maintenance %s %s: say on or off", args[0], args[1]))
			}
			return runControl(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, namedNode(args[0]),
				[]string{"heartbeat", "maintenance", args[1]}, fmt.Sprintf("%s: maintenance %s", args[0], args[1]))
		},
	}
	flags.register(cmd)
	return cmd
}

// groupNodes lists the nodes that may run the group, in preference order.
func groupNodes(group string) func(*config.Result) ([]string, error) {
	return func(res *config.Result) ([]string, error) {
		var names []string
		for _, g := range res.Topology.Groups {
			if g.Name == group {
				var out []string
				for _, l := range g.Locations {
					out = append(out, l.Node.Name)
				}
				return out, nil
			}
			names = append(names, g.Name)
		}
		return nil, withExitCode(exitError, notDeclared("group", group, names))
	}
}

// namedNode checks that the configuration has the node.
func namedNode(node string) func(*config.Result) ([]string, error) {
	return func(res *config.Result) ([]string, error) {
		var names []string
		for _, n := range res.Topology.Nodes {
			if n.Name == node {
				return []string{node}, nil
			}
			names = append(names, n.Name)
		}
		return nil, withExitCode(exitError, notDeclared("node", node, names))
	}
}

// notDeclared is the error for a name the configuration does not declare.
func notDeclared(kind, name string, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("%s %q does not exist: the configuration declares no %s", kind, name, kind)
	}
	hint := ""
	if near := providers.Suggest(name, names); near != "" {
		hint = fmt.Sprintf(" Did you mean %q?", near)
	}
	return fmt.Errorf("%s %q does not exist in the configuration (%ss: %s).%s", kind, name, kind, strings.Join(names, ", "), hint)
}

// runControl sends `hactl-agent ctl ROLE OP ARGS…` (words) to the first of
// the nodes that answers.
func runControl(stdout, stderr io.Writer, flags remoteFlags, nodes func(*config.Result) ([]string, error), words []string, done string) error {
	return flags.withSession(stderr, nil, func(ctx context.Context, s *deploy.Session, res *config.Result) error {
		candidates, err := nodes(res)
		if err != nil {
			return err
		}
		return controlWith(ctx, stdout, s, candidates, words, done)
	})
}

// controlWith hands the request to the candidates' agents in turn until
// one takes it. When none does, each node's reason is said once, on a
// line of its own.
func controlWith(ctx context.Context, stdout io.Writer, s *deploy.Session, candidates []string, words []string, done string) error {
	var failures []string
	for _, n := range candidates {
		err := s.AgentControl(ctx, n, words...)
		if err == nil {
			fmt.Fprintln(stdout, done)
			return nil
		}
		failures = append(failures, n+": "+controlFailure(n, err))
	}
	if len(failures) == 1 {
		return withExitCode(exitError, errors.New(failures[0]))
	}
	return withExitCode(exitError, fmt.Errorf("no node took the request:\n  %s", strings.Join(failures, "\n  ")))
}

// controlFailure words why node did not take a request: the agent's own
// answer when it gave one, without the command line and exit status that
// the operator did not type, or the connection's error without the node's
// name, which the caller puts in front.
func controlFailure(node string, err error) string {
	var exit *remote.ExitError
	if errors.As(err, &exit) {
		if msg := strings.TrimSpace(exit.Stderr); msg != "" {
			return strings.TrimPrefix(msg, "hactl-agent: ")
		}
	}
	msg := err.Error()
	for strings.HasPrefix(msg, node+": ") { // AgentControl's prefix, then the error's own
		msg = strings.TrimPrefix(msg, node+": ")
	}
	return plan.WithoutHost(node, msg)
}
