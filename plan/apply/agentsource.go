package apply

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/hactl/hactl/agentbin/spec"
)

// AgentFileEnv names the environment variable that gives the agent binary
// to install, like --agent-binary.
const AgentFileEnv = "HACTL_AGENT_BINARY"

// AgentSource finds the agent binary for a host architecture. In order:
//
//  1. the file the operator named (--agent-binary or HACTL_AGENT_BINARY),
//     for every host;
//  2. the agents built into a release hactl (goreleaser.yaml, tag
//     embedagents);
//  3. hactl-agent-linux-ARCH beside the hactl executable, where
//     scripts/build puts it in a checkout (bin/hactl and
//     bin/hactl-agent-linux-amd64).
//
// hactl never builds the agent itself. It used to run `go build ./agentbin`
// at plan time when run from a checkout: that needs a Go toolchain and the
// agent's modules on the machine that plans — which the lab's ctl namespace,
// with no network, did not have — and it spent the time of a build on every
// plan. Building the agent next to hactl, once, where the network is, moves
// that cost to the build; an agent file beside the executable (rather than
// one embedded by a second build of hactl) keeps the checkout's build to two
// plain `go build`s of the host's architecture, and serves the same way a
// `go install`ed hactl with an agent built beside it.
type AgentSource struct {
	// Path is an agent binary given by the operator; it is used for every
	// host, and refused for a host of another architecture.
	Path string
	// Embedded maps GOARCH to the agent built into a release hactl.
	Embedded map[string][]byte
	// Dir is where agents named hactl-agent-linux-ARCH are looked for:
	// the folder of the hactl executable.
	Dir string
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

// ErrNoAgent is returned (wrapped) when no agent can be found for a host's
// architecture.
var ErrNoAgent = errors.New("this hactl carries no agent")

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

// AgentFileName is the name of the agent for arch beside hactl.
func AgentFileName(arch string) string { return "hactl-agent-linux-" + arch }

// elfMachines are the ELF machine types of the architectures GoArch knows.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// For returns the agent for a host whose `uname -m` is machine.
func (s *AgentSource) For(machine string) (*Agent, error) {
	arch, err := GoArch(machine)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.cache[arch]; a != nil {
		return a, nil
	}
	bin, embedded, err := s.find(arch)
	if err != nil {
		return nil, err
	}
	sum := spec.HashBytes(bin)
	version := "build " + sum[:12]
	if embedded && s.Version != "" {
		version = s.Version
	}
	a := &Agent{Binary: bin, SHA256: sum, Version: version}
	if s.cache == nil {
		s.cache = map[string]*Agent{}
	}
	s.cache[arch] = a
	return a, nil
}

// find returns the agent binary for arch, and whether it is an embedded one.
func (s *AgentSource) find(arch string) ([]byte, bool, error) {
	if s.Path != "" {
		bin, err := os.ReadFile(s.Path)
		if err != nil {
			return nil, false, fmt.Errorf("reading the agent given by --agent-binary or %s: %w", AgentFileEnv, err)
		}
		return bin, false, checkArch(s.Path, bin, arch)
	}
	if bin := s.Embedded[arch]; bin != nil {
		return bin, true, nil
	}
	if s.Dir != "" {
		file := filepath.Join(s.Dir, AgentFileName(arch))
		bin, err := os.ReadFile(file)
		switch {
		case err == nil:
			return bin, false, checkArch(file, bin, arch)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, false, fmt.Errorf("reading the agent beside hactl: %w", err)
		}
	}
	beside := AgentFileName(arch)
	if s.Dir != "" {
		beside = filepath.Join(s.Dir, beside)
	}
	return nil, false, fmt.Errorf("%w for %s hosts; give --agent-binary FILE or set %s=FILE, "+
		"or put the agent at %s (in a hactl checkout, scripts/build %s builds it there; by hand: "+
		"CGO_ENABLED=0 GOOS=linux GOARCH=%s go build -o %s ./agentbin); see docs/install.md",
		ErrNoAgent, arch, AgentFileEnv, beside, arch, arch, AgentFileName(arch))
}

// checkArch refuses a file that is not a Linux executable for arch, so that
// a wrong file fails at plan rather than as a dead agent on the host.
func checkArch(file string, bin []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("agent %s is not a Linux executable (%v); build it with GOOS=linux", file, err)
	}
	if f.Machine == elfMachines[arch] {
		return nil
	}
	built := f.Machine.String()
	for name, m := range elfMachines {
		if m == f.Machine {
			built = name
		}
	}
	return fmt.Errorf("agent %s is built for %s, but the host is %s; build one with GOARCH=%s", file, built, arch, arch)
}
