package apply

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/hactl/hactl/agentbin/spec"
)

// AgentSource finds the agent binary for a host architecture: the file the
// operator named (--agent-binary), the binaries embedded in a release build,
// or one built from the checkout hactl runs from.
type AgentSource struct {
	// Path is an agent binary given by the operator; it is used for every
	// architecture.
	Path string
	// Embedded maps GOARCH to the agent built into a release hactl.
	Embedded map[string][]byte
	// SourceDir is the root of a hactl checkout to build the agent from.
	SourceDir string
	// CacheDir holds agents built from source.
	CacheDir string
	// Version names the embedded agents (the release's version); other
	// agents are named by their digest.
	Version string

	mu    sync.Mutex
	cache map[string]*Agent
}

// Agent is one agent binary.
type Agent struct {
	Binary  []byte
	SHA256  string
	Version string
}

// GoArch maps `uname -m` to GOARCH.
func GoArch(machine string) (string, error) {
	switch machine {
	case "x86_64", "amd64":
		return "amd64", nil
	case "aarch64", "arm64":
		return "arm64", nil
	}
	return "", fmt.Errorf("no hactl agent for machine type %q (amd64 and arm64 are built)", machine)
}

// For returns the agent for a host whose `uname -m` is machine.
func (s *AgentSource) For(ctx context.Context, machine string) (*Agent, error) {
	arch, err := GoArch(machine)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.cache[arch]; a != nil {
		return a, nil
	}
	var bin []byte
	switch {
	case s.Path != "":
		bin, err = os.ReadFile(s.Path)
		if err != nil {
			return nil, fmt.Errorf("reading --agent-binary: %w", err)
		}
	case s.Embedded[arch] != nil:
		bin = s.Embedded[arch]
	case s.SourceDir != "":
		bin, err = s.build(ctx, arch)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("this hactl carries no agent for %s and is not run from a checkout; give --agent-binary", arch)
	}
	sum := spec.HashBytes(bin)
	version := s.Version
	if version == "" {
		version = "build " + sum[:12]
	}
	a := &Agent{Binary: bin, SHA256: sum, Version: version}
	if s.cache == nil {
		s.cache = map[string]*Agent{}
	}
	s.cache[arch] = a
	return a, nil
}

// build compiles a static agent for arch from the checkout (the go command
// caches, so an unchanged checkout builds in a moment).
func (s *AgentSource) build(ctx context.Context, arch string) ([]byte, error) {
	dir := s.CacheDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hactl-agents")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("building the agent: %w", err)
	}
	out := filepath.Join(dir, "hactl-agent-linux-"+arch)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./agentbin")
	cmd.Dir = s.SourceDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the agent from %s: %w\n%s", s.SourceDir, err, msg)
	}
	return os.ReadFile(out)
}

// FindCheckout walks up from dir to the root of a hactl checkout, or
// returns "".
func FindCheckout(dir string) string {
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/hactl/hactl\n")) {
			if _, err := os.Stat(filepath.Join(dir, "agentbin", "main.go")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
