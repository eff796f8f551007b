//go:build embedagents

package main

import _ "embed"

// Release builds (goreleaser.yaml) build the agents into cmd/hactl/agents
// first and then hactl with the embedagents tag, so that one hactl binary
// can install the agent on amd64 and arm64 hosts.

//go:embed agents/hactl-agent-linux-amd64
var agentAMD64 []byte

//go:embed agents/hactl-agent-linux-arm64
var agentARM64 []byte

func init() {
	embeddedAgents = map[string][]byte{"amd64": agentAMD64, "arm64": agentARM64}
}
