// Package all registers every block kind of the language, in the order the
// language reference lists them. Importing it is what makes a kind exist.
package all

import (
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/cluster"
	"github.com/hactl/hactl/providers/group"
	"github.com/hactl/hactl/providers/heartbeat"
	"github.com/hactl/hactl/providers/lvs"
	"github.com/hactl/hactl/providers/monitor"
	"github.com/hactl/hactl/providers/network"
	"github.com/hactl/hactl/providers/node"
	"github.com/hactl/hactl/providers/notify"
	"github.com/hactl/hactl/providers/proxy"
	"github.com/hactl/hactl/providers/quorum"
	"github.com/hactl/hactl/providers/sync"
)

func init() {
	providers.Register(
		cluster.Provider{},
		network.Provider{},
		node.Provider{},
		heartbeat.Provider{},
		quorum.Provider{},
		group.Provider{},
		lvs.Provider{},
		proxy.Provider{},
		sync.Provider{},
		monitor.Provider{},
		notify.Provider{},
	)
}
