package main

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hactl/hactl/bench/internal/benchenv"
)

// floorC is the floor written in C (cfloor/floor.c): the same tick with no Go
// runtime, so that what the machine itself asks for a tick is told apart
// from what Go adds.
//
//go:embed cfloor/floor.c
var floorC []byte

// floorCCPU builds floor.c with the system's C compiler (installing gcc
// where there is none), runs it for window and returns its CPU time in
// seconds per minute, read as the Go floor's is.
func floorCCPU(window time.Duration) (float64, error) {
	if err := benchenv.Install("gcc"); err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "hactl-floor-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	src, bin := filepath.Join(dir, "floor.c"), filepath.Join(dir, "floor")
	if err := os.WriteFile(src, floorC, 0o600); err != nil {
		return 0, err
	}
	if out, err := exec.Command("gcc", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the C floor: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	s, err := cpuPerMinute(cmd.Process.Pid, window)
	if err != nil {
		return 0, err
	}
	fmt.Printf("floor in C, the same tick with no Go runtime: %.3f s per minute (%.2f %% of a core)\n", s, s/60*100)
	return s, nil
}
