// Package datapath is the interface between the lvs role and the kernel
// machinery that forwards a virtual service's connections: IPVS (package
// agentbin/lvs/ipvs) or nftables (package agentbin/lvs/nft). The role
// decides what must be live — which services, which real servers with
// which weights, the sorry server when none is up — and a datapath makes
// the kernel match it, changing only what differs.
//
// Datapaths register themselves from an init function (Register), so that
// the role can pick one by name without importing every implementation's
// dependencies; agentbin/roles imports them for their side effect.
package datapath

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Service is one virtual service as the kernel must forward it. The role
// gives a datapath only the services whose VIP is held on this node.
type Service struct {
	// Name is the virtual_service block's label; unique on a node. A
	// datapath names its kernel objects after it (so that updating one
	// service leaves the others untouched).
	Name string
	// Protocol is "tcp", "udp" or "sctp".
	Protocol string
	// Address and Port are the virtual IP and port clients connect to.
	// A firewall-mark service (FWMark set) has no port: Address is its
	// VIP, which tells the address family, and the mark alone says which
	// packets are the service's.
	Address netip.Addr
	Port    uint16
	// FWMark, when not zero, makes this a firewall-mark service
	// (ipvsadm -f): it takes the packets that carry the mark, whatever
	// their address and port, so that several ports (http and https)
	// share one service and its persistence.
	FWMark uint32
	// Mark says which packets the datapath marks with FWMark itself, in
	// an nftables table of hactl's (as operators do with iptables -t
	// mangle). Nil: the packets are marked otherwise.
	Mark *Mark
	// Scheduler is an ipvsadm scheduler name: rr wrr lc wlc lblc lblcr dh
	// sh sed nq mh. A datapath refuses one it cannot do (Capable).
	Scheduler string
	// Forwarding is "nat", "dr" or "tunnel".
	Forwarding string
	// Persistence, when not zero, sends a client back to the real server
	// it last used for this long after its last connection (ipvsadm -p);
	// PersistMask groups clients (ipvsadm -M): a prefix length, 32 (or
	// 128) when each address counts alone.
	Persistence time.Duration
	PersistMask int
	// Backends are the real servers, in the spec's order, each with the
	// weight it must have now: a real server that is down is absent, or
	// present with Weight 0 when the service is quiescent (existing
	// connections continue, no new ones). When no real server is up and
	// a sorry server is set, Backends is that server alone, named
	// SorryName. An empty list means: accept nothing new.
	Backends []Backend
}

// Mark selects the packets a firewall-mark service takes: those to one
// of Addresses, of the service's protocol, to one of Ports.
type Mark struct {
	Addresses []netip.Addr
	Ports     []uint16
}

// SorryName is the Backend.Name of the sorry server.
const SorryName = "sorry_server"

// Backend is a real server as the kernel forwards to it.
type Backend struct {
	Name    string
	Address netip.Addr
	Port    uint16
	Weight  int
}

// NFTablesSchedulers are the schedulers the nftables datapath has; it
// forwards by NAT only. The CLI's plan and validate check services against
// them without importing the datapath itself (Linux only).
var NFTablesSchedulers = []string{"rr", "wrr", "sh", "dh"}

// Key is the service's identity in the kernel: protocol, address, port;
// or its firewall mark.
func (s Service) Key() string {
	if s.FWMark != 0 {
		return fmt.Sprintf("fwmark %d", s.FWMark)
	}
	return fmt.Sprintf("%s %s", s.Protocol, netip.AddrPortFrom(s.Address, s.Port))
}

// Datapath programs virtual services into the kernel. Its methods are
// called from one goroutine (the role's), except Stats and Drift, which
// may run concurrently with Sync.
type Datapath interface {
	// Name is the datapath's registered name ("ipvs", "nftables").
	Name() string
	// Sync makes the kernel forward exactly these services and no other
	// of this datapath's. It reads what the kernel holds, not what the
	// last Sync wrote, so that it also restores rules changed by hand.
	// It changes only what differs: a service whose rules already match
	// is not touched (not even rewritten with the same content), a
	// changed service is updated in place without rebuilding the others,
	// and established connections are never dropped by an update
	// (changing a weight, adding or removing a real server). Each
	// service's update is atomic: no packet sees half of it.
	// Changed counts the services added, updated or removed (0 when
	// nothing differed).
	Sync(services []Service) (changed int, err error)
	// Drift lists, as sentences for hactl drift, how the kernel differs
	// from these services (a rule removed or changed by hand), without
	// changing anything. Empty when the kernel matches.
	Drift(services []Service) []string
	// Stats reads the kernel's counters of the services it holds.
	Stats() ([]ServiceStats, error)
	// Close removes every service this datapath put into the kernel,
	// and nothing else. The role does not call it when it stops (the
	// rules outlive an agent restart); the lvs Kind's ReleaseLeftovers
	// does, on a freshly opened datapath, at every spec change on a node
	// that has no virtual service: it must be cheap and change nothing
	// when there is nothing of hactl's. A VIP that moves away is
	// Sync(nil).
	Close() error
}

// ServiceStats are a service's counters, as far as the datapath keeps
// them; -1 where it does not.
type ServiceStats struct {
	Name     string
	Backends []BackendStats
}

// BackendStats are the counters of one real server of a service.
type BackendStats struct {
	Name string
	// ActiveConns are the connections open now (ESTABLISHED).
	ActiveConns int64
	// Conns counts the connections scheduled to it since it was added.
	Conns int64
	// Bytes and Packets count both directions (-1: not kept).
	Bytes   int64
	Packets int64
}

// Kind is a datapath as it registers itself.
type Kind struct {
	// Name is what the HCL's datapath attribute says: "ipvs", "nftables".
	Name string
	// Available says whether this kernel can run the datapath: nil when
	// it can, otherwise why not (for the log and the plan's reason).
	Available func() error
	// Capable says whether the datapath can run the service at all: nil,
	// or what it cannot do and the alternatives ("nftables has no
	// least-connection scheduler lc; use rr, wrr, sh, dh, or datapath =
	// \"ipvs\""). The role refuses such a service instead of approximating.
	Capable func(Service) error
	// Open returns the datapath, ready for Sync.
	Open func(OpenEnv) (Datapath, error)
	// LocalOnly is true when the datapath's rules act only on packets
	// addressed to an address this node holds at that moment (nftables:
	// fib daddr type local). The role then gives it the services of
	// every group this node may run, not only of those running here:
	// a service is live the instant its VIP comes up, without waiting
	// for the group's event, and nowhere else.
	LocalOnly bool
}

// OpenEnv is what the role tells a datapath it opens.
type OpenEnv struct {
	// StateDir is the agent's state directory (role.Env.StateDir): a
	// datapath keeps there what it must remember across agent restarts.
	// Empty: the datapath's default.
	StateDir string
	// SyncInterface is the interface on which the directors replicate
	// their connections (ConnSyncer), from the spec: the one on the
	// network they share with the real servers. Empty: the datapath
	// chooses.
	SyncInterface string
}

var (
	mu    sync.Mutex
	kinds = map[string]Kind{}
)

// Register adds a datapath; a package calls it from its init function.
func Register(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic("datapath: " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

// Lookup returns a registered datapath.
func Lookup(name string) (Kind, bool) {
	mu.Lock()
	defer mu.Unlock()
	k, ok := kinds[name]
	return k, ok
}

// Names lists the registered datapaths, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConnSyncer is a datapath that replicates connection state between the
// directors so that established connections survive a failover (the IPVS
// sync daemon). The role calls SetMaster on every change of the groups it
// follows: master while this node holds a VIP of a service of this
// datapath, backup otherwise — from the start, so that a standby that
// never held the VIP already has the connections of the first failover.
// The interface is OpenEnv.SyncInterface (when the spec names none, the
// datapath chooses).
type ConnSyncer interface {
	SetMaster(master bool) error
}
