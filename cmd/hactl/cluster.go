package main

import (
	"context"
	"fmt"
	"io"
	"strings"

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
	cmd := &cobra.Command{
		Use:   "failover GROUP [--to NODE]",
		Short: "Move a group to another node now (by default the next one in preference)",
		Long: `failover moves a running group: its current node stops its resources, in
reverse order, and announces it; the target starts them. The move holds until
the target dies or another move is made (failback does not undo it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			words := []string{"heartbeat", "move", group}
			if to != "" {
				words = append(words, to)
			}
			return runControl(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, groupNodes(&flags, group), words,
				fmt.Sprintf("group %s is moving%s", group, map[bool]string{true: " to " + to, false: ""}[to != ""]))
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the node to move it to")
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
