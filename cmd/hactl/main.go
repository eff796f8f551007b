// Command hactl plans and applies a Linux high-availability cluster described
// in HCL. This package holds only the cobra commands: flags, output and exit
// codes; the work is done in plan, providers, remote and e2e/lab.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes, returned up the stack; only main calls os.Exit.
const (
	exitOK          = 0
	exitError       = 1
	exitChanges     = 2 // plan --detailed-exitcode, drift: there is something to do
	exitUnformatted = 3 // fmt --check: a file is not canonically formatted
)

// exitCodeError makes a command end with a given exit code. A nil err means
// the command already said what there is to say.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

func withExitCode(code int, err error) error { return &exitCodeError{code: code, err: err} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		if ec.err != nil {
			fmt.Fprintln(stderr, "Error:", ec.err)
		}
		return ec.code
	}
	fmt.Fprintln(stderr, "Error:", err)
	return exitError
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hactl",
		Short: "Plan and apply Linux high-availability clusters from one HCL file",
		Long: `hactl turns one HCL file describing a high-availability cluster — nodes,
heartbeat links, virtual IPs, resource groups, load-balanced services, proxies,
file sync and monitoring — into running machines, over SSH.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands holds each command's constructor; every command file appends
// its own in an init function, so commands do not edit each other's files.
var subcommands []func() *cobra.Command
