package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/deploy"
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
				return runControl(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, groupNodes(&flags, group), []string{"heartbeat", "unmove", group},
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
			return runControl(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, groupNodes(&flags, group), words,
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
		done := "is in standby; its groups move to other nodes"
		if op == "online" {
			short = "Bring a node out of standby and clear its failed groups"
			done = "is online"
		}
		cmd := &cobra.Command{
			Use:   op + " NODE",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runControl(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, func() []string { return args[:1] }, []string{"heartbeat", op}, args[0]+" "+done)
			},
		}
		flags.register(cmd)
		return cmd
	}
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
			return runControl(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, func() []string { return args[:1] },
				[]string{"heartbeat", "maintenance", args[1]}, fmt.Sprintf("%s: maintenance %s", args[0], args[1]))
		},
	}
	flags.register(cmd)
	return cmd
}

// groupNodes lists the nodes that may run the group, in preference order,
// once the configuration is loaded.
func groupNodes(flags *remoteFlags, group string) func() []string {
	return func() []string {
		res, _, err := flags.load(io.Discard)
		if err != nil {
			return nil
		}
		for _, g := range res.Topology.Groups {
			if g.Name == group {
				var out []string
				for _, l := range g.Locations {
					out = append(out, l.Node.Name)
				}
				return out
			}
		}
		return nil
	}
}

// runControl sends `hactl-agent ctl ROLE OP ARGS…` (words) to the first of
// the nodes that answers.
func runControl(stdout, stderr io.Writer, flags remoteFlags, nodes func() []string, words []string, done string) error {
	return flags.withSession(stderr, nil, func(ctx context.Context, s *deploy.Session, _ *config.Result) error {
		return controlWith(ctx, stdout, s, nodes(), words, done)
	})
}

func controlWith(ctx context.Context, stdout io.Writer, s *deploy.Session, candidates []string, words []string, done string) error {
	if len(candidates) == 0 {
		return withExitCode(exitError, fmt.Errorf("no node of the configuration matches"))
	}
	var errs []string
	for _, n := range candidates {
		err := s.AgentControl(ctx, n, words...)
		if err == nil {
			fmt.Fprintln(stdout, done)
			return nil
		}
		errs = append(errs, err.Error())
	}
	return withExitCode(exitError, fmt.Errorf("%s", strings.Join(errs, "; ")))
}
