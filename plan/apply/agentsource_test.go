package apply

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// elfHeader is the smallest file debug/elf reads: a 64-bit little-endian
// ELF header for machine, with no sections.
func elfHeader(t *testing.T, machine elf.Machine) []byte {
	t.Helper()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAgentSourcePicksTheAgentForTheHost(t *testing.T) {
	amd64, arm64 := elfHeader(t, elf.EM_X86_64), elfHeader(t, elf.EM_AARCH64)
	write := func(t *testing.T, dir, name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	embedded := map[string][]byte{"amd64": append(bytes.Clone(amd64), "embedded"...)}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) AgentSource
		machine string
		want    []byte // the binary chosen
		version string // "" means "build <digest>"
		err     string // a part of the error
	}{
		{
			name: "the operator's file comes first",
			setup: func(t *testing.T, dir string) AgentSource {
				write(t, dir, AgentFileName("amd64"), append(bytes.Clone(amd64), "beside"...))
				return AgentSource{Path: write(t, dir, "mine", amd64), Embedded: embedded, Dir: dir, Version: "v1.2.0"}
			},
			machine: "x86_64", want: amd64,
		},
		{
			name: "the operator's file for another architecture is refused",
			setup: func(t *testing.T, dir string) AgentSource {
				return AgentSource{Path: write(t, dir, "mine", amd64)}
			},
			machine: "aarch64", err: "is built for amd64, but the host is arm64",
		},
		{
			name: "a file that is no executable is refused",
			setup: func(t *testing.T, dir string) AgentSource {
				return AgentSource{Path: write(t, dir, "mine", []byte("#!/bin/sh\n"))}
			},
			machine: "x86_64", err: "is not a Linux executable",
		},
		{
			name: "a missing operator's file is an error, not a fallback",
			setup: func(t *testing.T, dir string) AgentSource {
				return AgentSource{Path: filepath.Join(dir, "absent"), Embedded: embedded}
			},
			machine: "x86_64", err: "reading the agent given by --agent-binary or HACTL_AGENT_BINARY",
		},
		{
			name: "a release's embedded agent carries the release's version",
			setup: func(t *testing.T, dir string) AgentSource {
				write(t, dir, AgentFileName("amd64"), amd64)
				return AgentSource{Embedded: embedded, Dir: dir, Version: "v1.2.0"}
			},
			machine: "x86_64", want: embedded["amd64"], version: "v1.2.0",
		},
		{
			name: "the agent beside hactl, for the host's architecture",
			setup: func(t *testing.T, dir string) AgentSource {
				write(t, dir, AgentFileName("amd64"), amd64)
				write(t, dir, AgentFileName("arm64"), arm64)
				return AgentSource{Embedded: embedded, Dir: dir, Version: "v1.2.0"}
			},
			machine: "aarch64", want: arm64,
		},
		{
			name: "an agent beside hactl under the wrong name is refused",
			setup: func(t *testing.T, dir string) AgentSource {
				write(t, dir, AgentFileName("arm64"), amd64)
				return AgentSource{Dir: dir}
			},
			machine: "arm64", err: "is built for amd64, but the host is arm64",
		},
		{
			name: "no agent anywhere says how to get one",
			setup: func(t *testing.T, dir string) AgentSource {
				return AgentSource{Dir: dir}
			},
			machine: "x86_64", err: "this hactl carries no agent for amd64 hosts; give --agent-binary FILE or set HACTL_AGENT_BINARY=FILE",
		},
		{
			name:    "an architecture no agent is built for",
			setup:   func(t *testing.T, dir string) AgentSource { return AgentSource{Embedded: embedded} },
			machine: "riscv64", err: `no hactl agent for machine type "riscv64"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.setup(t, t.TempDir())
			a, err := src.For(tt.machine)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("For(%q) error = %v, want one containing %q", tt.machine, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("For(%q): %v", tt.machine, err)
			}
			if !bytes.Equal(a.Binary, tt.want) {
				t.Errorf("For(%q) chose %q, want %q", tt.machine, a.Binary, tt.want)
			}
			version := tt.version
			if version == "" {
				version = "build " + a.SHA256[:12]
			}
			if a.Version != version {
				t.Errorf("version = %q, want %q", a.Version, version)
			}
		})
	}
}

func TestNoAgentMessageNamesTheWaysToGetOne(t *testing.T) {
	dir := t.TempDir()
	src := AgentSource{Dir: dir}
	_, err := src.For("aarch64")
	if !errors.Is(err, ErrNoAgent) {
		t.Fatalf("error %v is not ErrNoAgent", err)
	}
	for _, part := range []string{
		"--agent-binary", AgentFileEnv, filepath.Join(dir, "hactl-agent-linux-arm64"),
		"scripts/build arm64", "CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o hactl-agent-linux-arm64 ./agentbin", "docs/install.md",
	} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message %q does not say %q", err, part)
		}
	}
}
