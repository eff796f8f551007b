package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/topology"
	_ "github.com/hactl/hactl/providers/all" // every block kind of the language
)

// configFlags are the flags of every command that loads the configuration.
type configFlags struct {
	path     string
	vars     []string
	varFiles []string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.path, "file", "f", "cluster.hcl", "configuration: a .hcl file or a directory of them")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable: --var name=value (repeatable)")
	cmd.Flags().StringArrayVar(&f.varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")
}

// load loads the configuration and prints its diagnostics to w. It returns
// an error (already reported) when the configuration has errors.
func (f *configFlags) load(w io.Writer) (*config.Result, hcl.Diagnostics, error) {
	res, diags := config.Load(f.path, config.Options{Vars: f.vars, VarFiles: f.varFiles})
	if len(diags) > 0 {
		if err := config.WriteDiagnostics(w, res.Files, diags, termWidth(w), useColor(w)); err != nil {
			return res, diags, err
		}
	}
	if diags.HasErrors() {
		return res, diags, withExitCode(exitError, nil)
	}
	return res, diags, nil
}

type validateFlags struct {
	configFlags
	json bool
}

func init() {
	subcommands = append(subcommands, func() *cobra.Command {
		var flags validateFlags
		cmd := &cobra.Command{
			Use:   "validate [-f PATH]",
			Short: "Check the configuration: syntax, types, references and cluster rules",
			Long: `validate loads the configuration, checks every value's type and every
reference, and applies the rules of a sound cluster (a cluster key the agents
accept, VIPs inside the nodes' networks and none of their own addresses,
deadtime above twice the heartbeat interval, a common network for each
group's heartbeats, fencing for two-node clusters…). It contacts no host.

Exit status: 0 when valid (warnings allowed), 1 when there are errors.`,
			Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) == 1 {
					flags.path = args[0]
				}
				return runValidate(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags)
			},
		}
		flags.register(cmd)
		cmd.Flags().BoolVar(&flags.json, "json", false, "print the diagnostics as JSON (format_version 1)")
		return cmd
	})
}

func runValidate(stdout, stderr io.Writer, flags validateFlags) error {
	if flags.json {
		res, diags := config.Load(flags.path, config.Options{Vars: flags.vars, VarFiles: flags.varFiles})
		if err := config.WriteJSONDiagnostics(stdout, res.Files, diags); err != nil {
			return err
		}
		if diags.HasErrors() {
			return withExitCode(exitError, nil)
		}
		return nil
	}
	res, diags, err := flags.load(stderr)
	if err != nil {
		var ec *exitCodeError
		if errors.As(err, &ec) {
			diags = config.Dedupe(diags)
			errs := len(diags.Errs())
			fmt.Fprintf(stderr, "%d error%s, %d warning%s.\n", errs, plural(errs), len(diags)-errs, plural(len(diags)-errs))
		}
		return err
	}
	fmt.Fprintf(stdout, "Success! %s%s\n", summary(res.Topology), warningNote(len(config.Dedupe(diags))))
	return nil
}

// summary describes a topology in one line.
func summary(t *topology.Topology) string {
	resources := 0
	for _, g := range t.Groups {
		resources += len(g.Resources)
	}
	s := fmt.Sprintf("Cluster %q: %s, %s, %s (%s)", t.Cluster.Name,
		count(len(t.Nodes), "node"), count(len(t.Networks), "network"),
		count(len(t.Groups), "group"), count(resources, "resource"))
	for _, c := range []struct {
		n    int
		noun string
	}{
		{len(t.VirtualServices), "virtual service"}, {len(t.Proxies), "proxy"},
		{len(t.SyncModules), "sync module"},
	} {
		if c.n > 0 {
			s += ", " + count(c.n, c.noun)
		}
	}
	if t.Monitor != nil {
		s += ", monitoring"
		if n := len(t.Monitor.Devices); n > 0 {
			s += " (" + count(n, "SNMP device") + ")"
		}
	}
	return s + "."
}

func warningNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" %s above.", count(n, "warning"))
}

func count(n int, noun string) string {
	if n != 1 {
		switch {
		case noun == "proxy":
			noun = "proxies"
		default:
			noun += "s"
		}
	}
	return fmt.Sprintf("%d %s", n, noun)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// useColor says whether w is a terminal that wants colour.
func useColor(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("NO_COLOR") == "" && term.IsTerminal(int(f.Fd()))
}

func termWidth(w io.Writer) uint {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 20 {
			return uint(width)
		}
	}
	return 100
}
