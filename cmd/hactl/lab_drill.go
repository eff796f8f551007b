//go:build linux

package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/e2e/drill"
)

func newLabDrillCommand(lf *labFlags) *cobra.Command {
	var path, faults string
	var duration, margin time.Duration
	var seed uint64
	var asJSON, replace bool
	cmd := &cobra.Command{
		Use:   "drill -f cluster.hcl [--duration 30m] [--seed N]",
		Short: "Put the cluster through random faults in a lab of its own and check it never misbehaves",
		Long: `drill builds a lab of its own (--name, default "drill", so it runs beside
other labs), applies the configuration to it, and asks every group's VIP from
the client every 20ms while it applies random faults one after another for
--duration: cut and dead switch ports, partitions, packet loss, killed nodes
and agents, agent restarts, frozen nodes, power off, applies of a changed
file and operator moves. After each fault and its heal it checks, from the
lab's switch and power switch rather than the agents' word: never two
holders of a VIP, every group running whenever a quorate side can run it,
no takeover from a node that was not fenced when fencing is configured,
every outage within deadtime plus --margin; and at the end that nothing of
the lab is left. See docs/drill.md.

The faults are drawn from --seed alone: the seed printed at the start
replays the run. It exits 2 when it found a violation, with the seed, the
sequence of faults and the agents' events. Needs root.`,
		Example: `  hactl lab drill -f examples/three-node/cluster.hcl --duration 30m
  hactl lab drill -f examples/two-node-web/cluster.hcl --duration 90s --seed 42
  hactl lab drill -f cluster.hcl --faults partition,power --json > drill.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := drill.Options{Config: path, Duration: duration, Seed: seed, Name: lf.name, Replace: replace, Margin: margin}
			if faults != "" {
				kinds, err := drill.ParseKinds(faults)
				if err != nil {
					return withExitCode(exitError, fmt.Errorf("--faults: %w", err))
				}
				o.Kinds = kinds
			}
			if !cmd.Flags().Changed("seed") {
				var b [8]byte
				_, _ = rand.Read(b[:])
				o.Seed = binary.LittleEndian.Uint64(b[:]) >> 1
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding hactl's own binary to run in the lab: %w", err)
			}
			o.Hactl = self
			out := cmd.OutOrStdout()
			o.Progress = out
			if asJSON {
				o.Progress = cmd.ErrOrStderr()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			report, err := drill.Run(ctx, o)
			if report != nil {
				if asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					if jerr := enc.Encode(report); jerr != nil {
						return jerr
					}
				} else {
					fmt.Fprintln(out)
					if werr := report.Write(out); werr != nil {
						return werr
					}
				}
			}
			if err != nil {
				return fmt.Errorf("drill (seed %d): %w", o.Seed, err)
			}
			if len(report.Violations) > 0 {
				return withExitCode(exitChanges, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "file", "f", "cluster.hcl", "configuration: a .hcl file or a directory of them (copied: the drill edits its copy)")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Minute, "how long faults follow one another")
	cmd.Flags().Uint64Var(&seed, "seed", 0, "the seed that draws the faults (default: a random one, printed)")
	cmd.Flags().StringVar(&faults, "faults", "", "the kinds of fault to draw from, comma-separated (default: every kind; see docs/drill.md)")
	cmd.Flags().DurationVar(&margin, "margin", 2*time.Second, "an outage's bound is the heartbeat's deadtime plus this")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON (progress goes to standard error)")
	cmd.Flags().BoolVar(&replace, "replace", false, "take down a lab of the same name first instead of refusing")
	return cmd
}
