// Package benchenv prepares what the benchmarks under bench/ need before
// their lab: the peers they compare hactl with, installed from Debian
// packages when missing, and hactl and its agent built from the working
// tree.
package benchenv

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/hactl/hactl/plan/apply"
)

// Install installs each Debian package whose program is not on PATH.
func Install(programs ...string) error {
	for _, p := range programs {
		if _, err := exec.LookPath(p); err == nil {
			continue
		}
		fmt.Printf("installing %s…\n", p)
		cmd := exec.Command("apt-get", "install", "-y", "-qq", p)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("installing %s: %v\n%s", p, err, out)
		}
	}
	return nil
}

// Build builds hactl into dir, with the agent beside it where hactl looks
// for it, and returns hactl's path. Run from the repository root.
func Build(dir string) (string, error) {
	hactl := filepath.Join(dir, "hactl")
	agent := filepath.Join(dir, apply.AgentFileName(runtime.GOARCH))
	for _, args := range [][]string{{"-o", hactl, "./cmd/hactl"}, {"-o", agent, "./agentbin"}} {
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", args[len(args)-1], err, out)
		}
	}
	return hactl, nil
}

// Prepare makes a working directory holding hactl and its agent built
// from the working tree, a random cluster key (cluster.key) and the
// configuration clusterHCL (cluster.hcl). It returns the directory and
// hactl's path; the caller removes the directory.
func Prepare(clusterHCL string) (dir, hactl string, err error) {
	if dir, err = os.MkdirTemp("", "hactl-bench-"); err != nil {
		return "", "", err
	}
	if hactl, err = Build(dir); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	for name, data := range map[string]string{"cluster.key": base64.StdEncoding.EncodeToString(key), "cluster.hcl": clusterHCL} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			os.RemoveAll(dir)
			return "", "", err
		}
	}
	return dir, hactl, nil
}
