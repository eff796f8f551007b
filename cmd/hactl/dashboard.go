package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/cmd/hactl/dashboard"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/deploy"
)

func init() {
	subcommands = append(subcommands, newDashboardCommand)
}

// DefaultDashboardPort is the port hactl dashboard listens on, one above
// the monitor's usual /metrics port.
const DefaultDashboardPort = 9695

type dashboardFlags struct {
	remoteFlags
	port    int
	refresh time.Duration
}

func newDashboardCommand() *cobra.Command {
	var flags dashboardFlags
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a local web page of the cluster: map, graphs and events",
		Long: `dashboard serves, on this machine only (127.0.0.1), a web page of the
cluster: a map of the nodes with their heartbeat links and health, where each
group and its VIPs run, the virtual services' real servers up or down; graphs
of every metric the monitor role keeps on every node and SNMP device, over a
day, a week, a month and a year; and a timeline of events (failovers, health
changes), refreshed live.

It reads each monitored node's monitor API, a Unix socket only root may open
on the node (` + layout.MonitorSocket + `), through the SSH connection hactl
makes to the node: nothing is exposed on the network, and the nodes' SSH user
must be root. The page is served from hactl itself (no CDN, nothing fetched
from the internet). It prints the page's URL, which carries a random token
(new at every run) so that other users of this machine cannot read the page,
and opens nothing by itself. It runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDashboard(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags)
		},
	}
	flags.register(cmd)
	cmd.Flags().IntVar(&flags.port, "port", DefaultDashboardPort, "port on 127.0.0.1 to serve the page on (0: any free port)")
	cmd.Flags().DurationVar(&flags.refresh, "refresh", 5*time.Second, "how often the nodes' status is read")
	return cmd
}

func runDashboard(stdout, stderr io.Writer, flags dashboardFlags) error {
	if flags.refresh < time.Second {
		return withExitCode(exitError, fmt.Errorf("--refresh %s is too short: give at least 1s", flags.refresh))
	}
	return flags.withSession(stderr, nil, func(ctx context.Context, s *deploy.Session, res *config.Result) error {
		t := res.Topology
		if t.Monitor == nil {
			return withExitCode(exitError, errors.New("the configuration has no monitor block, so no node serves the data the dashboard shows: add one (see docs/language.md) and apply"))
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(flags.port)))
		if err != nil {
			return withExitCode(exitError, fmt.Errorf("listening on 127.0.0.1:%d: %w (give another --port, or 0 for any free one)", flags.port, err))
		}
		d := dashboard.New(t, func(ctx context.Context, node string) (net.Conn, error) {
			return s.DialUnix(ctx, node, layout.MonitorSocket)
		}, flags.refresh, stderr)
		fmt.Fprintf(stdout, "Dashboard of %s: %s\n", t.Cluster.Name, d.URL(ln.Addr()))
		return d.Serve(ctx, ln)
	})
}
