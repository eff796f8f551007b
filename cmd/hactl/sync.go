package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/deploy"
	syncprov "github.com/hactl/hactl/providers/sync"
)

func init() { subcommands = append(subcommands, newSyncCommand) }

func newSyncCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Act on file syncs (sync blocks)",
	}
	var flags remoteFlags
	confirm := &cobra.Command{
		Use:   "confirm NAME",
		Short: "Let a sync stopped by its delete guard delete on its targets",
		Long: `A sync with delete = true stops a run that would delete more than max_delete
percent of a target's files, and hactl status shows it as blocked. When the
deletions on the source are meant, confirm lets the next run of each blocked
target go ahead; it is checked again from then on.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return flags.withSession(cmd.ErrOrStderr(), nil, func(ctx context.Context, s *deploy.Session, res *config.Result) error {
				for _, m := range res.Topology.SyncModules {
					// A group's sync is confirmed on whichever node runs it.
					if sources := syncprov.Sources(m); m.Name == name && len(sources) > 0 {
						var names []string
						for _, n := range sources {
							names = append(names, n.Name)
						}
						done := fmt.Sprintf("sync %s: the next run of each blocked target deletes what the source no longer has", name)
						return controlWith(ctx, cmd.OutOrStdout(), s, names, []string{"sync", "confirm", name}, done)
					}
				}
				return withExitCode(exitError, fmt.Errorf("no sync named %q in the configuration", name))
			})
		},
	}
	flags.register(confirm)
	cmd.AddCommand(confirm)
	return cmd
}
