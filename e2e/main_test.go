// Package e2e holds hactl's end-to-end tests: they build the real binaries
// once, start a lab of network namespaces (package e2e/lab) from an
// example, and drive hactl from the lab's ctl namespace exactly as an
// operator would, over real SSH to real sshd.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hactl/hactl/plan/apply"
)

// hactlBin is the hactl binary built for this run.
var hactlBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hactl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	hactlBin = filepath.Join(dir, "hactl")
	// The agent goes beside hactl, where hactl looks for it (as
	// scripts/build lays out bin/).
	agent := filepath.Join(dir, apply.AgentFileName(runtime.GOARCH))
	for _, args := range [][]string{{"-o", hactlBin, "../cmd/hactl"}, {"-o", agent, "../agentbin"}} {
		build := exec.Command("go", append([]string{"build"}, args...)...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", args[len(args)-1], err)
			return 1
		}
	}
	return m.Run()
}
