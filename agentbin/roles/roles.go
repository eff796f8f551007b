// Package roles is the list of the agent's roles, as providers/all is the
// list of block kinds: adding a role is writing its package (see package
// role) and adding it here, and setting Runs on its section in
// spec.Sections (the CLI reads that to warn about blocks no role runs).
package roles

import (
	"github.com/hactl/hactl/agentbin/heartbeat"
	"github.com/hactl/hactl/agentbin/lvs"
	// The lvs role's datapaths register themselves.
	_ "github.com/hactl/hactl/agentbin/lvs/ipvs"
	_ "github.com/hactl/hactl/agentbin/lvs/nft"
	"github.com/hactl/hactl/agentbin/monitor"
	"github.com/hactl/hactl/agentbin/proxy"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/sync"
)

// All are the roles this agent runs, in spec.Sections order.
var All = []role.Kind{
	heartbeat.Kind{},
	lvs.Kind{},
	proxy.Kind{},
	sync.Kind{},
	monitor.Kind{},
}
