package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set by the release build (-ldflags -X).
var (
	version = "dev"
	commit  = ""
)

func init() {
	subcommands = append(subcommands, func() *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Print hactl's version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				rev := commit
				if rev == "" {
					if info, ok := debug.ReadBuildInfo(); ok {
						for _, s := range info.Settings {
							if s.Key == "vcs.revision" {
								rev = s.Value
							}
						}
					}
				}
				if rev == "" {
					rev = "unknown"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "hactl %s (commit %s, %s, %s/%s)\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			},
		}
	})
}
