//go:build linux

// The lab needs Linux network namespaces: on other systems hactl has no
// lab command.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/e2e/lab"
)

// labFlags are the flags every `hactl lab` command shares.
type labFlags struct {
	name string
}

func init() {
	subcommands = append(subcommands, newLabCommand)
}

func newLabCommand() *cobra.Command {
	var flags labFlags
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run the cluster as real hosts in network namespaces on this machine",
		Long: `lab builds the cluster of a configuration on this Linux machine: one network
namespace per node with the file's interfaces and addresses, one bridge per
network, a real OpenSSH sshd in every node (its own hostname, /etc and /var),
web servers on real servers, a ctl namespace for the operator and a client
namespace for traffic. Nothing in the lab is linked to the outside world.

Then plan and apply against it from "hactl lab shell", and test failover
with cut, partition, loss, kill, freeze, restart and power (the lab's power
switch, which the "lab" fence type asks to fence a node). Needs root.`,
	}
	cmd.PersistentFlags().StringVarP(&flags.name, "name", "n", "", "the lab to act on (default: the only lab that is up; for up: the cluster's name)")
	cmd.AddCommand(newLabUpCommand(&flags), newLabDownCommand(&flags), newLabStatusCommand(&flags),
		newLabExecCommand(&flags), newLabShellCommand(&flags), newLabProbeCommand(&flags), newLabDrillCommand(&flags))
	cmd.AddCommand(newLabFaultCommands(&flags)...)
	return cmd
}

// open opens the lab the flags name, or the only one that is up.
func (f *labFlags) open() (*lab.Lab, error) {
	name, err := f.resolve()
	if err != nil {
		return nil, err
	}
	return lab.Open(name)
}

// resolve returns the name of the lab to act on.
func (f *labFlags) resolve() (string, error) {
	if f.name != "" {
		return f.name, nil
	}
	names, err := lab.List()
	if err != nil {
		return "", err
	}
	switch len(names) {
	case 0:
		return "", errors.New("no lab is up; start one with `hactl lab up -f cluster.hcl`")
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("several labs are up (%s): choose one with --name", strings.Join(names, ", "))
}

func newLabUpCommand(lf *labFlags) *cobra.Command {
	var cf configFlags
	var replace bool
	cmd := &cobra.Command{
		Use:   "up [-f PATH]",
		Short: "Build a lab from the configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, _, err := cf.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			l, err := lab.Up(ctx, res.Topology, lab.Options{Name: lf.name, Replace: replace})
			if err != nil {
				return err
			}
			l.Describe(cmd.OutOrStdout())
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&replace, "replace", false, "take down a lab of the same name first instead of refusing")
	return cmd
}

func newLabDownCommand(lf *labFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the lab: its processes, namespaces, mounts and files",
		Long: `down removes everything the lab made, from its state directory alone: it
works after a crash or an interrupted "lab up", and does nothing when the lab
is already gone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, err := lf.resolve()
			if err != nil && lf.name == "" {
				fmt.Fprintln(cmd.OutOrStdout(), "No lab is up.")
				return nil
			}
			if err := lab.Down(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Lab %s is down.\n", name)
			return nil
		},
	}
}

func newLabStatusCommand(lf *labFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the lab's nodes, their processes and their links",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lf.open()
			if err != nil {
				return err
			}
			st, err := l.Status()
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return st.Write(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func newLabExecCommand(lf *labFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "exec NODE|ctl|client -- COMMAND [ARG...]",
		Short: "Run a command in a node (its network, mount and host name) or in ctl or client",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lf.open()
			if err != nil {
				return err
			}
			c, err := l.Command(cmd.Context(), args[0], args[1:]...)
			if err != nil {
				return err
			}
			return runAttached(cmd, c)
		},
	}
}

func newLabShellCommand(lf *labFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "shell",
		Short: "Open a shell in ctl, set up so that ssh and hactl reach the lab's nodes",
		Long: `shell opens bash in the ctl namespace with HACTL_SSH_IDENTITY,
HACTL_KNOWN_HOSTS and HACTL_SSH_CONFIG pointing at the lab's key, known_hosts
and ssh_config, and ssh aliased to use them: "ssh h2g" logs in, and hactl plan
and apply reach the nodes as real hosts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lf.open()
			if err != nil {
				return err
			}
			c, err := l.Shell(cmd.Context())
			if err != nil {
				return err
			}
			return runAttached(cmd, c)
		},
	}
}

// runAttached runs a command on the terminal and ends with its exit code.
func runAttached(cmd *cobra.Command, c *exec.Cmd) error {
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return withExitCode(ee.ExitCode(), nil)
	}
	return err
}

// newLabFaultCommands are the commands that inject and end faults.
func newLabFaultCommands(lf *labFlags) []*cobra.Command {
	// onLab wraps a fault's work with opening the lab and a result line.
	onLab := func(fn func(ctx context.Context, l *lab.Lab, out io.Writer, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			l, err := lf.open()
			if err != nil {
				return err
			}
			return fn(cmd.Context(), l, cmd.OutOrStdout(), args)
		}
	}
	nodeCommand := func(use, short string, fn func(ctx context.Context, l *lab.Lab, node string) error, done string) *cobra.Command {
		return &cobra.Command{
			Use: use + " NODE", Short: short, Args: cobra.ExactArgs(1),
			RunE: onLab(func(ctx context.Context, l *lab.Lab, out io.Writer, args []string) error {
				if err := fn(ctx, l, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s %s.\n", args[0], done)
				return nil
			}),
		}
	}
	var port bool
	cut := &cobra.Command{
		Use: "cut NODE[:IFACE]", Short: "Pull a node's network cable (every one without :IFACE), or kill its switch port", Args: cobra.ExactArgs(1),
		RunE: onLab(func(ctx context.Context, l *lab.Lab, out io.Writer, args []string) error {
			node, iface, _ := strings.Cut(args[0], ":")
			if port {
				if err := l.CutPort(ctx, node, iface); err != nil {
					return err
				}
				fmt.Fprintf(out, "Killed the switch port of %s (its carrier stays up).\n", args[0])
				return nil
			}
			if err := l.Cut(node, iface); err != nil {
				return err
			}
			fmt.Fprintf(out, "Cut %s.\n", args[0])
			return nil
		}),
	}
	cut.Flags().BoolVar(&port, "port", false, "kill the switch port instead of pulling the cable: frames are dropped both ways and the node keeps its carrier, as a dead switch port looks")
	return []*cobra.Command{
		cut,
		{
			Use: "heal [NODE[:IFACE]]", Short: "Plug a cable back, or end every network fault (cuts, partition, loss)", Args: cobra.MaximumNArgs(1),
			RunE: onLab(func(ctx context.Context, l *lab.Lab, out io.Writer, args []string) error {
				if len(args) == 0 {
					if err := l.HealAll(ctx); err != nil {
						return err
					}
					fmt.Fprintln(out, "Every link is healed.")
					return nil
				}
				node, iface, _ := strings.Cut(args[0], ":")
				if err := l.Heal(node, iface); err != nil {
					return err
				}
				fmt.Fprintf(out, "Healed %s.\n", args[0])
				return nil
			}),
		},
		{
			Use: "partition A,B / C", Short: "Split the nodes into groups that cannot reach each other (heal ends it)", Args: cobra.MinimumNArgs(1),
			RunE: onLab(func(ctx context.Context, l *lab.Lab, out io.Writer, args []string) error {
				groups := parsePartition(strings.Join(args, " "))
				if err := l.Partition(ctx, groups); err != nil {
					return err
				}
				fmt.Fprintf(out, "Partitioned: %s.\n", strings.Join(args, " "))
				return nil
			}),
		},
		{
			Use: "loss NODE[:IFACE] PERCENT", Short: "Drop a share of a node's packets each way (0 ends it)", Args: cobra.ExactArgs(2),
			RunE: onLab(func(ctx context.Context, l *lab.Lab, out io.Writer, args []string) error {
				node, iface, _ := strings.Cut(args[0], ":")
				pct, err := strconv.Atoi(strings.TrimSuffix(args[1], "%"))
				if err != nil {
					return fmt.Errorf("loss %q: give a whole percentage, e.g. 20", args[1])
				}
				how, err := l.Loss(ctx, node, iface, pct)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "Loss on %s: %d%% (%s).\n", args[0], pct, how)
				return nil
			}),
		},
		{
			Use: "power NODE off|on|reboot", Short: "Work a node's power switch: off kills it and takes its links down, on boots it",
			Long: `power works the lab's power switch, the one the "lab" fence type asks:
off SIGKILLs every process of the node and takes its links down, so that its
addresses (a VIP it held among them) vanish from the networks; on boots it
again (as restart does: its /etc and /var survive); reboot is off, then on a
second later.`,
			Args: cobra.ExactArgs(2), ValidArgs: []string{"off", "on", "reboot"},
			RunE: onLab(func(ctx context.Context, l *lab.Lab, out io.Writer, args []string) error {
				node, action := args[0], args[1]
				power := map[string]func(context.Context, string) error{"off": l.PowerOff, "on": l.PowerOn, "reboot": l.Reboot}[action]
				if power == nil {
					return fmt.Errorf("power %s %q: say off, on or reboot", node, action)
				}
				if err := power(ctx, node); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: power %s done.\n", node, action)
				return nil
			}),
		},
		nodeCommand("kill", "SIGKILL every process of a node, and nothing else", func(ctx context.Context, l *lab.Lab, n string) error { return l.Kill(ctx, n) }, "is killed; `hactl lab restart` boots it"),
		nodeCommand("freeze", "SIGSTOP every process of a node: a hung machine", func(ctx context.Context, l *lab.Lab, n string) error { return l.Freeze(ctx, n) }, "is frozen"),
		nodeCommand("thaw", "SIGCONT every process of a frozen node", func(_ context.Context, l *lab.Lab, n string) error { return l.Thaw(n) }, "is thawed"),
		nodeCommand("restart", "Power-cycle a node: /etc and /var survive, /run and /tmp do not", func(ctx context.Context, l *lab.Lab, n string) error { return l.Restart(ctx, n) }, "is up again"),
	}
}

// parsePartition splits "a,b / c" into groups of node names.
func parsePartition(s string) [][]string {
	var groups [][]string
	for _, part := range strings.Split(s, "/") {
		groups = append(groups, strings.FieldsFunc(part, func(r rune) bool { return r == ',' || r == ' ' }))
	}
	return groups
}
