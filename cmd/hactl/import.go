package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/importer"
	"github.com/hactl/hactl/importer/all"
	"github.com/hactl/hactl/plan/config"
)

type importFlags struct {
	output            string
	nodes             []string
	acceptDifferences bool
	json              bool
	name              string
}

func init() {
	subcommands = append(subcommands, func() *cobra.Command {
		var flags importFlags
		cmd := &cobra.Command{
			Use:   "import KIND FILE... [KIND FILE...]...",
			Short: "Translate Heartbeat, keepalived, ldirectord, Pound, ipvsadm, rsync or MRTG configuration into a cluster.hcl",
			Long: `import reads the configuration of the tools hactl replaces and writes one
cluster.hcl (canonical, as hactl fmt leaves it) that validates, each block
preceded by a comment naming the file and line it came from.

KIND is one of: ` + strings.Join(all.KindNames(), ", ") + `. The files of a kind
are told apart by their content: import heartbeat ha.cf haresources authkeys
and import heartbeat ha.cf cib.xml both work; the ipvsadm kind also takes the
mon.cf that watches the real servers. Several kinds make one cluster (the
guide's chapter 4: ha.cf + cib.xml + an ipvsadm script + mon):

  hactl import heartbeat ha.cf authkeys cib.xml ipvsadm lvs.sh mon.cf -o cluster.hcl

Every directive is translated or reported (file, line, why, what hactl does
instead). A directive whose behaviour hactl cannot reproduce is an error
unless --accept-differences is given. Node addresses the input lacks come
from --node NAME=ADDRESS[/PREFIX][@DEVICE][,ADDRESS...], else from variables
the output declares. Secrets (the cluster key derived from authkeys or a
VRRP password, SNMP communities and SNMPv3 passwords) are written beside the output with mode
0600, never into it; an existing secret file is never overwritten.

Exit status: 0 when written (warnings allowed), 1 on errors (nothing written).`,
			Args: cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runImport(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, flags)
			},
		}
		cmd.Flags().StringVarP(&flags.output, "output", "o", "", "write the configuration to this file (secrets beside it); default: standard output, secrets in the current directory")
		cmd.Flags().StringArrayVar(&flags.nodes, "node", nil, "a node's address the input lacks: NAME=ADDRESS[/PREFIX][@DEVICE][,...] (repeatable)")
		cmd.Flags().BoolVar(&flags.acceptDifferences, "accept-differences", false, "import directives whose behaviour hactl cannot reproduce, with a warning each")
		cmd.Flags().BoolVar(&flags.json, "json", false, "print the diagnostics as JSON (format_version 1) on standard output; needs -o")
		cmd.Flags().StringVar(&flags.name, "name", "", "the cluster's name (default: the first group's)")
		return cmd
	})
}

func runImport(stdout, stderr io.Writer, args []string, flags importFlags) error {
	if flags.json && flags.output == "" {
		return withExitCode(exitError, errors.New("import: --json prints the diagnostics on standard output, so the configuration needs -o FILE"))
	}
	inputs, err := all.ParseArgs(args)
	if err != nil {
		return withExitCode(exitError, fmt.Errorf("import: %w", err))
	}
	m, err := all.Import(inputs, importer.Options{Nodes: flags.nodes, AcceptDifferences: flags.acceptDifferences, ClusterName: flags.name})
	if err != nil {
		return withExitCode(exitError, fmt.Errorf("import: %w", err))
	}
	diags := m.Diags
	if flags.json {
		if err := config.WriteJSONDiagnostics(stdout, m.Files, diags); err != nil {
			return err
		}
	} else if len(diags) > 0 {
		if err := config.WriteDiagnostics(stderr, m.Files, diags, termWidth(stderr), useColor(stderr)); err != nil {
			return err
		}
	}
	if diags.HasErrors() {
		errs := len(diags.Errs())
		return withExitCode(exitError, fmt.Errorf("import: %d error%s; nothing written", errs, plural(errs)))
	}
	dir := "."
	if flags.output != "" {
		dir = filepath.Dir(flags.output)
	}
	if err := writeSecrets(stderr, dir, m.Secrets); err != nil {
		return withExitCode(exitError, err)
	}
	if flags.output == "" {
		_, err := stdout.Write(m.HCL())
		return err
	}
	if err := os.WriteFile(flags.output, m.HCL(), 0o644); err != nil {
		return withExitCode(exitError, fmt.Errorf("import: %w", err))
	}
	fmt.Fprintf(stderr, "Wrote %s; check it with hactl validate -f %s.\n", flags.output, flags.output)
	return nil
}

// writeSecrets writes each secret with mode 0600, saying so on w. An
// existing cluster key is kept (any valid key will do, and it may be a
// running cluster's); any other existing file with a different content
// stops the import.
func writeSecrets(w io.Writer, dir string, secrets map[string][]byte) error {
	for _, name := range slices.Sorted(maps.Keys(secrets)) {
		p := filepath.Join(dir, name)
		old, err := os.ReadFile(p)
		switch {
		case err == nil && bytes.Equal(old, secrets[name]):
			continue
		case err == nil && name == importer.ClusterKeyFile:
			fmt.Fprintf(w, "Kept the existing %s.\n", p)
			continue
		case err == nil:
			return fmt.Errorf("import: %s exists with another content; move it away or import with -o into another directory", p)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("import: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if err := os.WriteFile(p, secrets[name], 0o600); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		fmt.Fprintf(w, "Wrote %s (mode 0600).\n", p)
	}
	return nil
}
