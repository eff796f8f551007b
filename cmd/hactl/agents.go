package main

import (
	"os"
	"path/filepath"

	"github.com/hactl/hactl/plan/apply"
)

// embeddedAgents holds the agents a release build carries (see
// agents_embed.go); nil in any other build.
var embeddedAgents map[string][]byte

// agentSource says where this run takes the agent from: the operator's
// file, the embedded agents, or the agents beside the hactl executable
// (see apply.AgentSource for why hactl never builds one itself).
func (f *remoteFlags) agentSource() *apply.AgentSource {
	src := &apply.AgentSource{Path: f.agentBinary, Embedded: embeddedAgents, Version: version}
	if exe, err := os.Executable(); err == nil {
		src.Dir = filepath.Dir(exe)
	}
	return src
}
