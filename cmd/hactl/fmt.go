package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/hactl/hactl/plan/config"
)

type fmtFlags struct {
	files []string
	check bool
	diff  bool
}

func init() {
	subcommands = append(subcommands, func() *cobra.Command {
		var flags fmtFlags
		cmd := &cobra.Command{
			Use:   "fmt [-f PATH]... [PATH...]",
			Short: "Rewrite configuration files in the canonical format",
			Long: `fmt rewrites .hcl files (the given files, or every .hcl file of the given
directories; default: the current directory) in the canonical layout: aligned
equals signs, two-space indentation. Files with syntax errors are left alone.
-f PATH names a file or directory as the other commands' -f does.

With --check nothing is written, and the exit status is 3 when a file needs
formatting (for CI). --diff prints the changes as a unified diff and writes
nothing either.`,
			RunE: func(cmd *cobra.Command, args []string) error {
				args = slices.Concat(flags.files, args)
				if len(args) == 0 {
					args = []string{"."}
				}
				return runFmt(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, flags)
			},
		}
		cmd.Flags().StringArrayVarP(&flags.files, "file", "f", nil, "a .hcl file or a directory of them to format (repeatable), as the other commands' -f")
		cmd.Flags().BoolVar(&flags.check, "check", false, "write nothing; exit 3 if any file is not formatted")
		cmd.Flags().BoolVar(&flags.diff, "diff", false, "print the formatting changes as a unified diff; write nothing")
		return cmd
	})
}

func runFmt(stdout, stderr io.Writer, paths []string, flags fmtFlags) error {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return withExitCode(exitError, fmt.Errorf("fmt: %w", err))
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.hcl"))
		if err != nil {
			return withExitCode(exitError, fmt.Errorf("fmt: listing %s: %w", p, err))
		}
		files = append(files, matches...)
	}
	unformatted, failed := 0, false
	for _, path := range files {
		changed, err := fmtFile(stdout, stderr, path, flags)
		if err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			failed = true
			continue
		}
		if changed {
			unformatted++
			if !flags.diff { // the diff's header names the file already
				fmt.Fprintln(stdout, path)
			}
		}
	}
	switch {
	case failed:
		return withExitCode(exitError, nil)
	case flags.check && unformatted > 0:
		return withExitCode(exitUnformatted, nil)
	}
	return nil
}

// fmtFile formats one file, reporting whether it was (or, with --check,
// would be) changed.
func fmtFile(stdout, stderr io.Writer, path string, flags fmtFlags) (bool, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		files := map[string]*hcl.File{path: file}
		if err := config.WriteDiagnostics(stderr, files, diags, termWidth(stderr), useColor(stderr)); err != nil {
			return false, err
		}
		return false, fmt.Errorf("%s has syntax errors; not formatted", path)
	}
	out := hclwrite.Format(src)
	if bytes.Equal(src, out) {
		return false, nil
	}
	if flags.diff {
		diff, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(src)), B: difflib.SplitLines(string(out)),
			FromFile: path + " (original)", ToFile: path + " (formatted)", Context: 3,
		})
		if err != nil {
			return false, fmt.Errorf("diffing %s: %w", path, err)
		}
		fmt.Fprint(stdout, diff)
	}
	if flags.check || flags.diff {
		return true, nil
	}
	return true, writeFileAtomic(path, out)
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory, keeping the file's mode, so that a crash leaves either
// the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
