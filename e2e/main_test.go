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
	"testing"
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
	build := exec.Command("go", "build", "-o", hactlBin, "../cmd/hactl")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hactl:", err)
		return 1
	}
	return m.Run()
}
