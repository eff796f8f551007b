// Command hactl-agent is the small static program hactl installs on every
// node. It reads the node's spec, converges the host to it, keeps it there
// and reports its status. It must stay small and static (CGO_ENABLED=0): it
// imports neither HCL nor lipgloss nor cobra, only the standard library and
// the kernel-facing libraries its roles need.
//
// The agent's roles (heartbeat, lvs, proxy, sync, monitor) and its spec
// handling arrive with issues #4 and #5; today the binary only reports its
// version, so that release builds and installs can be exercised.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// version is set by the release build (-ldflags -X main.version=...).
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintf(stdout, "hactl-agent %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	fmt.Fprintln(stderr, "usage: hactl-agent version")
	return 2
}
