//go:build linux

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newLabProbeCommand(lf *labFlags) *cobra.Command {
	var period, duration time.Duration
	cmd := &cobra.Command{
		Use:   "probe URL",
		Short: "Ask a URL from the client namespace every 10ms and report who answered and every outage",
		Long: `probe is the client of a failover drill: it requests URL (a VIP, say
http://192.168.0.33/) from the lab's client namespace every --every, each
request on a new connection, for --for, then prints who answered in turn
(the lab's web servers answer with their node's name) and every gap: how
long the client got no answer, and between which nodes. Run it in the
background while you cut, kill or freeze a node.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lf.open()
			if err != nil {
				return err
			}
			start := time.Now()
			p := l.StartProber(args[0], period)
			time.Sleep(duration)
			p.Stop()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "answers: %s\n", p.Timeline(start))
			gaps := p.Gaps(start)
			if len(gaps) == 0 {
				fmt.Fprintln(out, "no outage: every probe was answered")
			}
			for _, g := range gaps {
				fmt.Fprintf(out, "outage of %.3fs at %s (%s → %s)\n", g.Length.Seconds(), g.Start.Format("15:04:05.000"), orNone(g.From), orNone(g.To))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&period, "every", 10*time.Millisecond, "time between probes")
	cmd.Flags().DurationVar(&duration, "for", 10*time.Second, "how long to probe")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}
