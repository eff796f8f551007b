// Package status is the agent's report of itself, written to
// /run/hactl/status.json and read by hactl plan, status and drift. Like the
// spec, it depends on the standard library only.
package status

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Status is what the agent reports.
type Status struct {
	AgentVersion string    `json:"agent_version"`
	PID          int       `json:"pid"`
	Started      time.Time `json:"started"`
	Updated      time.Time `json:"updated"`
	// SpecHash is the hash of the spec the agent runs; empty before the
	// first valid spec.
	SpecHash string `json:"spec_hash,omitempty"`
	// SpecFileHash is the hash of the spec file on disk now; it differs
	// from SpecHash when the file was changed or removed by hand.
	SpecFileHash string `json:"spec_file_hash,omitempty"`
	// SpecError says why the spec on disk is not the one running.
	SpecError string `json:"spec_error,omitempty"`
	// Healthy is true when the agent runs the spec on disk and every role
	// of it that this agent has runs without error.
	Healthy bool `json:"healthy"`
	// Roles are the roles the spec asks of this node, in start order.
	Roles []Role `json:"roles,omitempty"`
	// Drift lists what the agent sees on the host that differs from its
	// spec (filled in by the roles).
	Drift []string `json:"drift,omitempty"`
	// Each role reports its own typed section below, while it runs.

	// Heartbeat is the heartbeat role's view, on members.
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	// LVS is the lvs role's view: the virtual services of this node.
	LVS *LVS `json:"lvs,omitempty"`
	// Syncs are the sync role's modules this node pushes, on sources.
	Syncs []Sync `json:"syncs,omitempty"`
	// Proxies are the proxy role's proxies.
	Proxies []Proxy `json:"proxies,omitempty"`
	// Monitor is the monitor role's view, on monitored nodes.
	Monitor *Monitor `json:"monitor,omitempty"`
}

// LVS is the lvs role's section of the status.
type LVS struct {
	Services []VirtualService `json:"services"`
}

// VirtualService is a virtual service as the lvs role runs it.
type VirtualService struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	Port     int    `json:"port"`
	// FWMark is the firewall mark of a firewall-mark service (its Port
	// is 0).
	FWMark    uint32 `json:"fwmark,omitempty"`
	Scheduler string `json:"scheduler"`
	// Datapath is "ipvs" or "nftables"; DatapathReason says why (for
	// datapath = "auto").
	Datapath       string `json:"datapath"`
	DatapathReason string `json:"datapath_reason,omitempty"`
	// Live is true while this node holds the VIP and forwards the service.
	Live bool `json:"live"`
	// Sorry is true while the sorry server takes the connections.
	Sorry       bool         `json:"sorry,omitempty"`
	RealServers []RealServer `json:"real_servers"`
}

// RealServer is a real server's health and counters.
type RealServer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	// Health is "up", "down" or "unknown"; Reason says why.
	Health string `json:"health"`
	Reason string `json:"reason,omitempty"`
	// Weight is the configured weight, Effective the one in the kernel
	// (0 when quiescent and down; -1 when removed).
	Weight    int `json:"weight"`
	Effective int `json:"effective_weight"`
	// ActiveConns, Conns and Bytes are the datapath's counters (-1: not
	// kept); Transitions counts the health changes.
	ActiveConns int64  `json:"active_conns"`
	Conns       int64  `json:"conns"`
	Bytes       int64  `json:"bytes"`
	Transitions uint64 `json:"transitions"`
	// CheckLatencyMS is how long its last health check took, passed or
	// not; absent without health checks or before the first.
	CheckLatencyMS float64 `json:"check_latency_ms,omitempty"`
}

// RoleState is where a role of the agent stands.
type RoleState string

// The states of a role.
const (
	// RoleRunning: the role runs its section of the spec.
	RoleRunning RoleState = "running"
	// RoleFailed: the role stopped by itself or could not start; the
	// agent starts it again after a backoff.
	RoleFailed RoleState = "failed"
	// RoleNotRun: the spec has a section for a role this version of the
	// agent does not have: the blocks are accepted and nothing runs them.
	RoleNotRun RoleState = "not_run"
)

// Role is one role of the agent on this node.
type Role struct {
	Name  string    `json:"name"`
	State RoleState `json:"state"`
	// Error says why the role failed or is not run.
	Error string `json:"error,omitempty"`
	// Since is when the role entered its state.
	Since time.Time `json:"since"`
}

// Heartbeat is membership and groups as one member sees them.
type Heartbeat struct {
	Quorate     bool              `json:"quorate"`
	Standby     bool              `json:"standby"`
	Maintenance bool              `json:"maintenance"`
	Members     []Member          `json:"members"`
	Groups      []Group           `json:"groups"`
	Dropped     map[string]uint64 `json:"dropped_packets,omitempty"` // by reason
	Accepted    uint64            `json:"accepted_packets"`
	// SendDrops counts, per link, the heartbeats this member's link
	// refused to send (a dead link whose buffer is full); a link that
	// refused none is absent.
	SendDrops map[string]uint64 `json:"send_drops,omitempty"`
	// DroppedByLink counts, per link and reason, the datagrams this
	// member received and dropped (Dropped sums them over the links): a
	// flood of forged packets shows on the link it arrives on.
	// "queue_full" counts authentic heartbeats dropped because the agent
	// was behind, "unverified" datagrams dropped unread because the link
	// had spent its budget of authentications (a flood).
	DroppedByLink map[string]map[string]uint64 `json:"dropped_by_link,omitempty"`
	// TrimmedStates counts the heartbeats whose state did not fit a
	// packet even without the manual moves and echoes that may wait for
	// the next one, and went out cut short; hactl validate refuses the
	// configurations where this can happen.
	TrimmedStates uint64 `json:"trimmed_states,omitempty"`
	// SplitBrains counts the times this member found a group it ran also
	// run elsewhere (after a partition healed) and released it.
	SplitBrains uint64  `json:"split_brains"`
	Events      []Event `json:"events,omitempty"` // the latest, oldest first
}

// Member is one member of the cluster.
type Member struct {
	Name    string `json:"name"`
	Self    bool   `json:"self,omitempty"`
	Alive   bool   `json:"alive"`
	Standby bool   `json:"standby,omitempty"`
	// CannotServe lists the groups the member may run but cannot serve
	// now: a VIP's interface has no carrier or none of the group's ping
	// targets answers, or either has been fit again for less than the
	// hold time.
	CannotServe []string `json:"cannot_serve,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Link is the health of the path to a member on one link.
type Link struct {
	Name    string  `json:"name"`
	Up      bool    `json:"up"`
	LossPct float64 `json:"loss_pct"`
	RTTMS   float64 `json:"rtt_ms"`
}

// Group is a resource group.
type Group struct {
	Name string `json:"name"`
	// RunningOn lists the members that say they run it (one, normally).
	RunningOn []string `json:"running_on"`
	// State is the group's state on this node.
	State   string `json:"state"`
	Waiting string `json:"waiting,omitempty"`
	// MovedTo is the target of the operator's move of the group while it
	// holds (hactl failover); MoveUntil is when it expires, if it does.
	MovedTo   string     `json:"moved_to,omitempty"`
	MoveUntil time.Time  `json:"move_until,omitzero"`
	Error     string     `json:"error,omitempty"`
	Resources []Resource `json:"resources,omitempty"`
}

// Resource is a resource of a group on this node.
type Resource struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Running   bool   `json:"running"`
	Restarts  int    `json:"restarts"`
	LastError string `json:"last_error,omitempty"`
	// LastRestart is when the monitor last found it stopped and restarted
	// it in place.
	LastRestart time.Time `json:"last_restart,omitzero"`
}

// Event is something that happened.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   EventKind `json:"kind"`
	Node   string    `json:"node,omitempty"`
	Group  string    `json:"group,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Mode is the status file's: root's alone. The status carries resource
// agents' output (an OCF agent's error may quote its parameters, a
// password among them) and the names and states of everything the node
// runs; every reader (hactl status, plan and apply, over SSH) runs as root,
// with become where the SSH user is not, so no group or other user needs
// it. A status written world-readable by an older agent is narrowed at the
// next write.
const Mode os.FileMode = 0o600

// Write stores the status atomically (temp file and rename) at path, with
// Mode.
func Write(path string, s *Status) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return WriteFileAtomic(path, append(data, '\n'), Mode)
}

// Read loads a status file.
func Read(path string) (*Status, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return &s, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, fsynced and renamed over path, so readers see the old content
// or the new, never a mix.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Chmod(mode)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("writing %s: %w", path, werr)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Sync is one sync module as its source sees it.
type Sync struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Mode is how changes are found: "change" (watching the tree),
	// "interval", or "full runs" when watching failed (Watch says why).
	Mode string `json:"mode"`
	// Watches is the number of directories watched.
	Watches int `json:"watches"`
	// Watch says why the tree is not watched (no more inotify watches, an
	// event queue overflow): every run is then a full comparison.
	Watch string `json:"watch,omitempty"`
	// Group is the group whose node is the source; on the others, Mode
	// is "standby" and nothing is pushed.
	Group   string       `json:"group,omitempty"`
	Targets []SyncTarget `json:"targets"`
}

// SyncTarget is one target of a sync module.
type SyncTarget struct {
	Node string `json:"node"`
	Path string `json:"path"`
	// State is "in_sync", "pending", "failing" or "blocked" (a run would
	// delete more than the guard allows, until the operator confirms).
	State string `json:"state"`
	// Pending is the number of changed paths not yet on the target; -1
	// when a full comparison is pending.
	Pending int `json:"pending"`
	// LagMS is the age of the oldest change not yet on the target.
	LagMS      int64     `json:"lag_ms"`
	Runs       uint64    `json:"runs"`
	Failures   uint64    `json:"failures"`
	BytesSent  int64     `json:"bytes_sent"`
	BytesSaved int64     `json:"bytes_saved"`
	LastRun    time.Time `json:"last_run,omitzero"`
	LastFull   time.Time `json:"last_full,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	Blocked    string    `json:"blocked,omitempty"`
	// Kept says where the first run after this node became the source
	// (a group's failover) put the files it replaced or deleted on the
	// target: changes the former source may not have sent.
	Kept string `json:"kept,omitempty"`
	// Differs lists what a read-only comparison (rsync --dry-run) last
	// found different on the target while nothing was pending, at most
	// a few paths and a count; empty when identical.
	Differs []string `json:"differs,omitempty"`
}
